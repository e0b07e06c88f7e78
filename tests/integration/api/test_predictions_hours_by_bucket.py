"""``?hours=N`` lists the predictions *made* in the last N hours: by the bucket each was made
from, as the dashboard's predictions_24h counts them, not by when an analysis wrote the row (a
backfill writes days-old buckets with created_at = now)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def backfill_and_live(make_prediction):
    now = timezone.now()
    backfilled = make_prediction(
        prediction_bucket=now - timedelta(hours=30), created_at=now - timedelta(minutes=1)
    )
    live = make_prediction(prediction_bucket=now - timedelta(minutes=10), created_at=now)
    return backfilled, live


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["prediction_id"] for row in response.json()["results"]]


def test_hours_places_predictions_by_their_bucket_as_the_dashboard_counts_them(
    readonly_client, backfill_and_live
):
    backfilled, live = backfill_and_live

    day = _ids(readonly_client.get("/api/ml/predictions/?hours=24"))
    default = _ids(readonly_client.get("/api/ml/predictions/"))
    two_days = _ids(readonly_client.get("/api/ml/predictions/?hours=48"))
    summary = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert day == default == [str(live.prediction_id)]
    assert summary["recent_activity"]["predictions_24h"] == len(day)
    assert set(two_days) == {str(live.prediction_id), str(backfilled.prediction_id)}


def test_high_risk_hours_counts_by_bucket_too(readonly_client, make_prediction):
    now = timezone.now()
    # written a minute ago by a re-analysis, made from a bucket 3 hours old
    stale = make_prediction(
        probability=0.9,
        prediction_bucket=now - timedelta(hours=3),
        created_at=now - timedelta(minutes=1),
    )

    within_hour = _ids(readonly_client.get("/api/ml/predictions/high_risk/?hours=1"))
    within_day = _ids(readonly_client.get("/api/ml/predictions/high_risk/?hours=24"))

    assert within_hour == []
    assert within_day == [str(stale.prediction_id)]


def test_each_prediction_shows_the_bucket_it_was_made_from(readonly_client, backfill_and_live):
    _, live = backfill_and_live

    row = readonly_client.get(f"/api/ml/predictions/{live.prediction_id}/").json()

    assert row["prediction_bucket"] == live.prediction_bucket.isoformat().replace("+00:00", "Z")
