"""The root cause reads the traffic of the same hour a week before (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_weekly_means_are_the_means_of_the_same_range_in_each_earlier_week():
    from django.utils import timezone

    from error_logging.services import ingest_metrics
    from ml_prediction.services.features import metric_weekly_means_for_service

    end = floor_5min(timezone.now())
    start = end - timedelta(hours=1)
    week = timedelta(days=7)
    samples = [  # (weeks before, minutes into the hour, value)
        (1, 0, 100.0),
        (1, 30, 300.0),
        (1, 60, 9999.0),  # the end is not in the range
        (3, 10, 50.0),
        (5, 10, 7777.0),  # beyond the weeks asked for
    ]
    ingest_metrics(
        service="java",
        items=[
            {
                "metric_name": "request_count",
                "value": value,
                "timestamp": (start - n * week + timedelta(minutes=m)).isoformat(),
            }
            for n, m, value in samples
        ]
        + [{"metric_name": "cpu", "value": 99.0, "timestamp": (start - week).isoformat()}],
    )

    def means(metric: str = "request_count", service: str = "java", weeks: int = 4):
        return metric_weekly_means_for_service(
            service=service, metric_name=metric, start=start, end=end, weeks=weeks
        )

    assert means() == [200.0, None, 50.0, None]
    assert means(weeks=1) == [200.0]
    assert means(weeks=0) == []
    assert means(service="django") == [None] * 4
    assert means(metric="memory") == [None] * 4


@pytest.mark.parametrize(
    "weeks, reference",
    [
        ((10.0,), "the same hour last week"),
        # last week held a surge at this hour: the weeks before outvote it
        ((1000.0, 10.0, 12.0), "the same hour of 3 earlier weeks (median)"),
    ],
)
def test_a_cpu_bound_outage_is_told_against_the_same_hour_of_earlier_weeks(weeks, reference):
    """Against yesterday alone, a Monday's ordinary traffic is a surge over the Sunday's: the
    analysis gives the engine the request rate of the same hour in the weeks before, and a
    surge last week is no normal level for this one."""
    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics
    from ml_prediction.services import PredictionOrchestrator

    now = timezone.now()
    load_traffic("laravel", days=1, seed=12, end=now)
    end = floor_5min(now) + timedelta(minutes=5)
    quiet = [
        {
            "metric_name": "request_count",
            "value": value,
            "timestamp": (end - timedelta(days=7 * n, minutes=60 - m)).isoformat(),
        }
        for n, value in enumerate(weeks, start=1)
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
    assert f"against {reference}" in cause["hypothesis"], cause
