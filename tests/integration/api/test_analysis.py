"""POST /api/ml/trigger-analysis/ and /trigger-all-services-analysis/: queued on the broker."""

from __future__ import annotations

import pytest

from feeding_hearts.catalog import SERVICES
from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _queued_task_names(broker) -> list[str]:
    import json

    names = []
    for key in broker.keys("*"):
        if broker.type(key) == b"list":
            for raw in broker.lrange(key, 0, -1):
                names.append(json.loads(raw)["headers"]["task"])
    return names


@pytest.mark.parametrize("analysis_type", ["full", "quick", "deep"])
def test_trigger_analysis_queues_a_task_and_returns_202(ops_client, broker, analysis_type):
    response = ops_client.post(
        "/api/ml/trigger-analysis/",
        {"service": "django", "analysis_type": analysis_type},
        format="json",
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["service"] == "django"
    assert body["analysis_type"] == analysis_type
    assert body["task_id"]
    assert _queued_task_names(broker) == ["ml_prediction.tasks.run_analysis_for_service"]
    event = AuditEvent.objects.get(action="analysis.trigger")
    assert event.actor == "ops"
    assert event.details["task_id"] == body["task_id"]


def test_analysis_type_defaults_to_full(ops_client, broker):
    response = ops_client.post("/api/ml/trigger-analysis/", {"service": "vue"}, format="json")

    assert response.status_code == 202
    assert response.json()["analysis_type"] == "full"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({}, "service"),
        ({"service": "cobol"}, "service"),
        ({"service": "django", "analysis_type": "psychic"}, "analysis_type"),
    ],
)
def test_trigger_analysis_bad_body_is_400_and_queues_nothing(ops_client, broker, body, parameter):
    response = ops_client.post("/api/ml/trigger-analysis/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")
    assert _queued_task_names(broker) == []
    assert not AuditEvent.objects.exists()


def test_trigger_all_services_queues_one_task_per_service(ops_client, broker):
    response = ops_client.post(
        "/api/ml/trigger-all-services-analysis/", {"analysis_type": "quick"}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert [t["service"] for t in body["tasks"]] == list(SERVICES)
    assert len(_queued_task_names(broker)) == len(SERVICES)
    assert AuditEvent.objects.filter(action="analysis.trigger_all").count() == 1


def test_trigger_all_bad_type_is_400(ops_client, broker):
    response = ops_client.post(
        "/api/ml/trigger-all-services-analysis/", {"analysis_type": "x"}, format="json"
    )

    assert response.status_code == 400


@pytest.fixture
def eager_celery():
    """The embedded mode: no broker, tasks run in-process."""
    from feeding_hearts.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_trigger_analysis_in_eager_mode_returns_the_result(ops_client, eager_celery):
    response = ops_client.post(
        "/api/ml/trigger-analysis/", {"service": "react", "analysis_type": "quick"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["service"] == "react"
    assert isinstance(body["result"], dict)
    assert AuditEvent.objects.filter(action="analysis.trigger", object_id="react").exists()
