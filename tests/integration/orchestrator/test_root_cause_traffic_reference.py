"""The root cause reads the traffic of the same hour a week before (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_metric_mean_is_the_mean_of_the_samples_in_the_range_or_none():
    from django.utils import timezone

    from error_logging.services import ingest_metrics
    from ml_prediction.services.features import metric_mean_for_service

    start = floor_5min(timezone.now() - timedelta(days=7))
    ingest_metrics(
        service="java",
        items=[
            {"metric_name": "request_count", "value": v, "timestamp": (start + d).isoformat()}
            for v, d in ((100.0, timedelta()), (300.0, timedelta(minutes=30)))
        ]
        + [{"metric_name": "cpu", "value": 99.0, "timestamp": start.isoformat()}],
    )

    def mean(minutes: int, metric: str = "request_count", service: str = "java"):
        return metric_mean_for_service(
            service=service,
            metric_name=metric,
            start=start,
            end=start + timedelta(minutes=minutes),
        )

    assert mean(60) == 200.0
    assert mean(30) == 100.0  # the end is not in the range
    assert mean(60, service="django") is None
    assert mean(60, metric="memory") is None


def test_a_cpu_bound_outage_is_told_against_the_same_hour_last_week():
    """Against yesterday alone, a Monday's ordinary traffic is a surge over the Sunday's: the
    analysis gives the engine the request rate of the same hour a week before."""
    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics
    from ml_prediction.services import PredictionOrchestrator

    now = timezone.now()
    load_traffic("laravel", days=1, seed=12, end=now)
    end = floor_5min(now) + timedelta(minutes=5)
    week_ago = end - timedelta(days=7, minutes=60)
    quiet = [
        {
            "metric_name": "request_count",
            "value": 10.0,
            "timestamp": (week_ago + timedelta(minutes=m)).isoformat(),
        }
        for m in range(60)
    ]
    outage_start = now - timedelta(minutes=20)
    timeouts = [
        {
            "error_type": "RequestTimeoutException",
            "message": f"Operation timed out after {30000 + i} milliseconds",
            "severity": "critical",
            "occurred_at": (outage_start + timedelta(seconds=2 * i)).isoformat(),
        }
        for i in range(500)
    ]
    cpu = [
        {
            "metric_name": "cpu",
            "value": 92.0,
            "timestamp": (outage_start + timedelta(seconds=30 * i)).isoformat(),
        }
        for i in range(40)
    ]
    with analysis_requests_suspended():
        ingest_metrics(service="laravel", items=quiet + cpu)
        ingest_errors(service="laravel", items=timeouts)

    summary = PredictionOrchestrator().run_full_analysis("laravel", "quick", as_of=now)

    cause = summary["root_cause"]
    assert cause is not None and cause["cause_key"] == "traffic_surge", summary
    assert "against the same hour last week" in cause["hypothesis"], cause
