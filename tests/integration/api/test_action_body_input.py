"""execute/ refuses an empty result (nothing is recorded as done that nobody did); skip/ takes
its reason as a string only; several failing body fields are all named in the message."""

from __future__ import annotations

import pytest

from ml_prediction.models import AuditEvent, PreventiveAction

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_executing_with_an_empty_result_is_a_400_saying_what_to_send(ops_client, make_action):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/", {"result": {}}, format="json"
    )

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("result: must say what was done, e.g. {")
    assert "Leave result out to let automation run the action." in message
    action.refresh_from_db()
    assert action.status == PreventiveAction.Status.RECOMMENDED
    assert action.executed_at is None
    assert not AuditEvent.objects.filter(action="action.execute", outcome="ok").exists()


def test_a_result_that_says_something_is_still_recorded(ops_client, make_action):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/",
        {"result": {"success": False, "note": "tried, pool is at its maximum"}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "executed"


def test_an_executed_action_is_still_a_409_with_an_empty_result(ops_client, make_action):
    action = make_action(status="executed")

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/", {"result": {}}, format="json"
    )

    assert response.status_code == 409


@pytest.mark.parametrize(("reason", "kind"), [(5, "int"), (True, "bool"), (["x"], "list")])
def test_skip_reason_must_be_a_string(ops_client, make_action, reason, kind):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/skip/", {"reason": reason}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"reason: must be a string, got {kind}."
    action.refresh_from_db()
    assert action.status == PreventiveAction.Status.RECOMMENDED


def test_a_string_reason_is_kept(ops_client, make_action):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/skip/", {"reason": "5"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["execution_result"]["reason"] == "5"


def test_every_failing_body_field_is_named_in_the_message(ops_client, broker):
    response = ops_client.post(
        "/api/ml/trigger-analysis/",
        {"service": "cobol", "analysis_type": "psychic"},
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("service: must be one of: ")
    assert " analysis_type: must be one of: full, quick, deep." in message


@pytest.mark.parametrize(("comment", "kind"), [(5, "int"), (False, "bool")])
def test_a_feedback_comment_must_be_text(ops_client, make_prediction, comment, kind):
    from ml_prediction.models import PredictionFeedback

    prediction = make_prediction()

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/feedback/",
        {"verdict": "true_positive", "comment": comment},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"comment: must be a string, got {kind}."
    assert not PredictionFeedback.objects.exists()
