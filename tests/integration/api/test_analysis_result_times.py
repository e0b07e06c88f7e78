"""Times inside an analysis result are UTC with a ``Z``, like every time of the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from ml_prediction.services.orchestrator import PredictionOrchestrator

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

OFFSET = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}")


@pytest.fixture
def eager_celery():
    """The embedded mode: no broker, the analysis runs in the request."""
    from feeding_hearts.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _summary(service: str) -> dict:
    as_of = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
    return {
        "service": service,
        "status": "completed",
        "as_of": as_of.isoformat(),  # what the orchestrator writes: "…+00:00"
        "window": {"start": as_of, "end": as_of},  # and datetimes, should any come back
        "models": [{"trained_at": "2026-11-27T02:03:11.500000+00:00"}],
        "note": "not a time",
    }


@pytest.fixture
def fixed_analysis(monkeypatch):
    def run(self, service, analysis_type="full", *, as_of=None):
        return _summary(service)

    monkeypatch.setattr(PredictionOrchestrator, "run_full_analysis", run)


def test_trigger_analysis_result_times_end_with_z(ops_client, eager_celery, fixed_analysis):
    response = ops_client.post("/api/ml/trigger-analysis/", {"service": "java"}, format="json")

    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert result["as_of"] == "2026-11-27T18:30:00Z"
    assert result["window"] == {"start": "2026-11-27T18:30:00Z", "end": "2026-11-27T18:30:00Z"}
    assert result["models"] == [{"trained_at": "2026-11-27T02:03:11.500000Z"}]
    assert result["note"] == "not a time"
    assert not OFFSET.search(response.content.decode())


def test_trigger_all_result_times_end_with_z(ops_client, eager_celery, fixed_analysis):
    response = ops_client.post("/api/ml/trigger-all-services-analysis/", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["result"]["services"]["java"]["as_of"] == "2026-11-27T18:30:00Z"
    assert not OFFSET.search(response.content.decode())


def test_trigger_all_that_fails_is_a_json_500(ops_client, eager_celery, monkeypatch):
    def boom(self, analysis_type="full"):
        raise RuntimeError("the ML database went away")

    monkeypatch.setattr(PredictionOrchestrator, "run_all_services", boom)

    response = ops_client.post("/api/ml/trigger-all-services-analysis/", {}, format="json")

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "analysis_failed"
    assert error["message"].startswith(
        "The analysis of all services failed (RuntimeError: the ML database went away)"
    )
