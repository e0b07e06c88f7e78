"""A failed analysis run in the request is the project's JSON 500 (not Django's HTML page), and
the webhook does not call a run that already failed "queued"."""

from __future__ import annotations

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout

from ml_prediction.services.orchestrator import PredictionOrchestrator

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def eager_celery():
    """The embedded mode: no broker, tasks run in-process (failures are not propagated)."""
    from feeding_hearts.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def failing_analysis(monkeypatch):
    def boom(self, service, analysis_type="full", *, as_of=None):
        raise ValueError("Input X contains infinity or a value too large for dtype('float32')")

    monkeypatch.setattr(PredictionOrchestrator, "run_full_analysis", boom)


def _assert_analysis_failed(response, service: str) -> None:
    assert response.status_code == 500, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "analysis_failed"
    assert error["message"].startswith(f"The analysis of {service} failed (ValueError: Input X")
    assert "ml_prediction_errors.log" in error["message"]


def test_trigger_analysis_that_fails_in_eager_mode_is_a_json_500(
    ops_client, eager_celery, failing_analysis, caplog
):
    response = ops_client.post(
        "/api/ml/trigger-analysis/", {"service": "java", "analysis_type": "full"}, format="json"
    )

    _assert_analysis_failed(response, "java")
    assert any(r.exc_info and "java" in r.getMessage() for r in caplog.records)


def test_webhook_reports_a_failed_run_instead_of_queued(
    ops_client, eager_celery, failing_analysis, caplog
):
    response = ops_client.post(
        "/api/ml/webhooks/predict-for-error/", {"service": "java"}, format="json"
    )

    _assert_analysis_failed(response, "java")
    assert any(
        "analysis of java" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records
    )


def test_webhook_run_still_going_after_the_wait_is_still_queued(ops_client, monkeypatch):
    from ml_prediction import tasks

    class Running:
        id = "task-1"
        traceback = None

        def get(self, **kwargs):
            raise CeleryTimeout("not yet")

        def failed(self) -> bool:
            return False

    monkeypatch.setattr(tasks.run_analysis_for_service, "apply_async", lambda *a, **k: Running())

    response = ops_client.post(
        "/api/ml/webhooks/predict-for-error/", {"service": "java"}, format="json"
    )

    assert response.status_code == 202
    assert response.json()["queued"] is True
