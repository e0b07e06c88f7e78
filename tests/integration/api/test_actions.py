"""Preventive actions: list (status, priority, action_type), pending, execute, by_priority."""

from __future__ import annotations

import uuid

import pytest

from ml_prediction.models import AuditEvent, PreventiveAction
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def actions(make_action):
    return {
        "pool": make_action(),
        "restart": make_action(action_type="restart", priority="critical", status="scheduled"),
        "done": make_action(action_type="clear_cache", priority="low", status="executed"),
        "skipped": make_action(action_type="scale_up", priority="medium", status="skipped"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"pool", "restart", "done", "skipped"}),
        ("status=executed", {"done"}),
        ("priority=critical", {"restart"}),
        ("action_type=increase_pool", {"pool"}),
        ("action_type=scale_up", {"skipped"}),
    ],
)
def test_list_filters(readonly_client, actions, query, expected):
    by_id = {str(a.action_id): name for name, a in actions.items()}

    response = readonly_client.get(f"/api/ml/actions/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "action_id")} == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=done", "status"),
        ("priority=urgent", "priority"),
        # the catalogue's action types are a closed set: a typo is a 400, not an empty list
        ("action_type=nothing_like_it", "action_type"),
    ],
)
def test_bad_filter_values_are_400(readonly_client, query, parameter):
    response = readonly_client.get(f"/api/ml/actions/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_pending_and_by_priority(readonly_client, actions):
    by_id = {str(a.action_id): name for name, a in actions.items()}

    pending = readonly_client.get("/api/ml/actions/pending/")
    grouped = readonly_client.get("/api/ml/actions/by_priority/").json()

    assert {by_id[i] for i in ids(pending, "action_id")} == {"pool", "restart"}
    assert [g["priority"] for g in grouped["priorities"]] == ["critical", "high", "medium", "low"]
    counts = {g["priority"]: g["count"] for g in grouped["priorities"]}
    assert counts == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert grouped["priorities"][0]["results"][0]["action_id"] == str(actions["restart"].action_id)


def test_execute_records_the_result_then_409(ops_client, make_action):
    action = make_action()
    url = f"/api/ml/actions/{action.action_id}/execute/"
    result = {"success": True, "duration": 120, "impact_observed": "connections restored"}

    first = ops_client.post(url, {"result": result}, format="json")
    second = ops_client.post(url, {"result": result}, format="json")

    assert first.status_code == 200
    assert first.json()["status"] == "executed"
    assert first.json()["executed_by"] == "ops"
    assert first.json()["execution_result"] == result
    assert second.status_code == 409
    assert "already executed" in second.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="action.execute", outcome="ok").count() == 1


def test_execute_with_a_non_object_result_is_400(ops_client, make_action):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/", {"result": [1, 2]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("result:")
    action.refresh_from_db()
    assert action.status == PreventiveAction.Status.RECOMMENDED


@pytest.mark.parametrize("bad_id", ["x", str(uuid.uuid4())])
def test_execute_unknown_is_404(ops_client, bad_id):
    assert (
        ops_client.post(f"/api/ml/actions/{bad_id}/execute/", {}, format="json").status_code == 404
    )
