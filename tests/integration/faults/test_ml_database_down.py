"""The ML database unreachable: ingestion keeps working; health says degraded, naming it; an
analysis task retries with backoff and succeeds once the database is back."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.db import OperationalError, connections
from django.utils import timezone

from error_logging.models import ErrorLog
from tests.integration.error_logging.conftest import error_item
from tests.integration.orchestrator.conftest import start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def ml_database_unreachable():
    ml = connections["ml_prediction"]
    saved = dict(ml.settings_dict)
    ml.close()
    ml.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(_closed_port())})
    yield
    ml.close()
    ml.settings_dict.clear()
    ml.settings_dict.update(saved)


def test_ingestion_works_and_health_is_degraded_naming_the_ml_database(
    client, readonly_client, django_key, ml_database_unreachable
):
    # when: errors arrive while the ML database refuses connections
    response = client.post(
        "/api/errors/",
        [error_item(message="one"), error_item(message="two")],
        content_type="application/json",
        HTTP_X_INGEST_KEY=django_key.public_key,
    )
    health = readonly_client.get("/api/ml/health/")  # the report needs a JWT; the status not

    # then: both errors are stored, and the health check says what is down
    assert response.status_code in (200, 201), response.content
    assert ErrorLog.objects.count() == 2
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database_ml"] is False
    assert "database_ml" in body["down"]
    assert body["checks"]["database_default"] is True


def test_an_analysis_retries_with_backoff_while_the_ml_database_is_down_and_succeeds_after(
    postgres_forwarder, tmp_path
):
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.tasks import run_analysis_for_service

    # given the task's retry policy: database errors, exponential backoff, bounded
    assert OperationalError in run_analysis_for_service.autoretry_for
    assert run_analysis_for_service.retry_backoff and run_analysis_for_service.max_retries == 5
    # and vue's errors, and a real worker whose ML database sits behind a port that refuses
    now = timezone.now()
    items = [
        error_item(message=f"e{i}", occurred_at=(now - timedelta(minutes=6 + i)).isoformat())
        for i in range(20)
    ]
    with analysis_requests_suspended():
        ingest_errors(service="vue", items=items)
    ml = connections["ml_prediction"].settings_dict
    behind_forwarder = (
        f"postgres://{ml['USER']}:{ml['PASSWORD']}@127.0.0.1:{postgres_forwarder.port}/{ml['NAME']}"
    )
    queue = f"ml-db-down-{os.getpid()}"  # only this worker takes it
    (tmp_path / "artifacts").mkdir()
    worker = start_worker(
        artifact_dir=tmp_path / "artifacts",
        log_dir=tmp_path,
        name="ml-db-down",
        extra_env={"ML_DATABASE_URL": behind_forwarder},
        queues=queue,
    )
    try:
        # when an analysis runs while the ML database is unreachable, and it then comes back
        task = run_analysis_for_service.apply_async(("vue", "quick"), queue=queue)
        retried = f"[{task.id}] retry: Retry in"
        wait_for(lambda: retried in worker.log(), timeout=60, message="the analysis to retry")
        postgres_forwarder.start()
        summary = task.get(timeout=60)
        done = f"[{task.id}] succeeded in"  # logged just after the result is stored
        wait_for(lambda: done in worker.log(), timeout=30, message="the success to be logged")
    finally:
        worker.stop()

    # then the failed attempt was retried on the database error and a later attempt succeeded
    retry_lines = [line for line in worker.log().splitlines() if retried in line]
    assert all("OperationalError" in line for line in retry_lines), retry_lines
    assert summary["status"] == "completed" and summary["service"] == "vue"
    assert AnomalyDetection.objects.filter(service="vue").count() == 12
    assert worker.log().count(done) == 1
