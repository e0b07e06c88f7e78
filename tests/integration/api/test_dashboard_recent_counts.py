"""The dashboard summary places rows in time by what they are about (a prediction's bucket, an
anomaly's window), not by when an analysis wrote them: a backfill is not "last 24 h"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_backfilled_history_is_not_counted_as_recent(
    readonly_client, make_anomaly, make_prediction
):
    now = timezone.now()
    # a backfill that ran a minute ago, about windows 32 hours and 10 days old
    for hours in (32, 240):
        start = now - timedelta(hours=hours)
        make_anomaly(
            service="django",
            window_start=start,
            window_end=start + timedelta(minutes=5),
            detected_at=now - timedelta(minutes=1),
            is_anomaly=True,
            severity_level="critical",
        )
        make_prediction(prediction_bucket=start, created_at=now - timedelta(minutes=1))
    # and one live anomaly and prediction of the last hour
    live = now - timedelta(minutes=10)
    make_anomaly(
        service="django",
        window_start=live,
        window_end=live + timedelta(minutes=5),
        detected_at=now,
        is_anomaly=True,
        severity_level="critical",
    )
    make_prediction(prediction_bucket=live, created_at=now)

    body = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert body["recent_activity"]["anomalies_24h"] == 1
    assert body["recent_activity"]["predictions_24h"] == 1
    assert body["anomalies"]["total"] == 2  # the 10-day-old window is outside the 7 days
    assert body["anomalies"]["critical"] == 2
    assert body["predictions"]["total"] == 2
