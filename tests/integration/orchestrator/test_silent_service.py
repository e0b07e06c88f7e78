"""A service that stops sending errors where it sent plenty is a finding, not good news.

Found probing the detector: a busy service's hour of silence scored critical "drop" buckets,
explained "no single cause stands out", and paged like an outage of errors. The product must
say it went silent, and whether its metrics stopped too (down, or cut off from us), and tell
on-call to check it is up and still reporting (PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, episode_rows, floor_5min

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _busy_then_silent(service: str, *, silent_from: datetime, hours: int = 6) -> None:
    """``hours`` of 15–25 errors and one request-rate sample per 5-minute bucket, ingested for
    real, up to ``silent_from``; nothing after it."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics

    errors, metrics = [], []
    for b in range(hours * 12):
        start = silent_from - timedelta(minutes=5 * (hours * 12 - b))
        for i in range(15 + b % 11):
            at = start + timedelta(seconds=5 + 12 * i)
            errors.append(
                {
                    "error_type": "TypeError",
                    "message": f"Cannot read properties of undefined (reading 'item{i}')",
                    "severity": "error",
                    "occurred_at": at.isoformat(),
                }
            )
        metrics.append(
            {"metric_name": "request_count", "value": 900.0, "timestamp": start.isoformat()}
        )
    with analysis_requests_suspended():
        for i in range(0, len(errors), 1000):
            ingest_errors(service=service, items=errors[i : i + 1000])
        ingest_metrics(service=service, items=metrics)


def test_a_busy_service_gone_silent_is_said_to_have_stopped_reporting():
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given six busy hours of react, then nothing (errors or metrics) for three buckets
    as_of = floor_5min(timezone.now())
    silent_from = as_of - timedelta(minutes=15)
    _busy_then_silent("react", silent_from=silent_from)

    # when a quick run scores the silent buckets
    summary = PredictionOrchestrator().run_full_analysis("react", "quick", as_of=as_of)

    # then they are one flagged drop, explained as a service that stopped reporting
    rows = episode_rows("react", silent_from)
    assert rows and rows[0].window_start == silent_from
    assert all(r.observed_value == 0 for r in rows)
    cause = summary["root_cause"]
    assert cause["cause_key"] == "service_silent", cause
    assert cause["hypothesis"].startswith(
        "react: it stopped reporting: down, or it cannot reach the error API (no errors and no "
        f"metrics since {silent_from:%H:%M} UTC;"
    )
    assert cause["decision_path"][0].startswith("error volume: no errors for")
    assert all(r.contributing_features["root_cause_key"] == "service_silent" for r in rows)
    check = PreventiveAction.objects.get(anomaly__in=rows, action_type="check_service_up")
    assert check.title == "Check that react is up and its errors reach us"
    assert "ingest key" in check.description
