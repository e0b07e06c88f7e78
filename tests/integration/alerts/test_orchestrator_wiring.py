"""The orchestrator hands its committed results to alerting: a cold-start burst never pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AlertNotification, AnomalyDetection
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_quick_analysis_of_a_learning_service_records_alerts_as_suppressed(
    smtp_server, ml_config, eager_celery, django_capture_on_commit_callbacks
):
    # given a service with two hours of quiet traffic, then a burst of critical errors
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors
    from ml_prediction.services import PredictionOrchestrator

    now = timezone.now()
    quiet = [
        {
            "error_type": "ValidationError",
            "message": "bad input",
            "severity": "warning",
            "occurred_at": (now - timedelta(minutes=m)).isoformat(),
        }
        for m in range(15, 180, 3)
    ]
    burst = [
        {
            "error_type": "OperationalError",
            "message": "could not obtain a connection from the pool",
            "severity": "critical",
            "response_time_ms": 5000.0,
            "occurred_at": (now - timedelta(seconds=30 + 3 * i)).isoformat(),
        }
        for i in range(300)
    ]
    with analysis_requests_suspended():
        ingest_errors(service="vue", items=quiet + burst)

    # when the orchestrator runs a quick analysis (no trained model: cold start)
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        result = PredictionOrchestrator().run_full_analysis("vue", "quick")

    # then the anomalies reached alerting, which recorded them and paged nobody
    assert result["anomalies"]["state"] == "learning"
    flagged = AnomalyDetection.objects.filter(
        service="vue", is_anomaly=True, severity_level="critical"
    )
    assert flagged.exists()
    decisions = AlertNotification.objects.filter(service="vue")
    assert decisions.exists()
    assert {(d.status, d.reason.split(":")[0]) for d in decisions} == {("suppressed", "learning")}
    assert smtp_server.envelopes == []
