"""high_risk/ and forecasts/at_risk/ show what is at risk now (each service's latest analysis),
not every 5-minute bucket's rows; the plain lists keep the history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.services.features import floor_to_bucket

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

BUCKET = timedelta(minutes=5)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["prediction_id"] for row in response.json()["results"]]


@pytest.fixture
def last_bucket():
    """The bucket a full analysis running now predicts from (the last complete one)."""
    return floor_to_bucket(timezone.now(), 5) - BUCKET


def _run(make_prediction, *, bucket, service="django", error_type="ErrorBurst", **overrides):
    """One stored prediction of the analysis that predicted from ``bucket``."""
    values = {
        "service": service,
        "predicted_error_type": error_type,
        "prediction_bucket": bucket,
        "predicted_timestamp": bucket + BUCKET + timedelta(minutes=1440),
        "time_horizon_minutes": 1440,
        "probability": 0.8,
        "created_at": bucket + BUCKET + timedelta(seconds=20),
    }
    values.update(overrides)
    return make_prediction(**values)


def test_the_same_risk_of_successive_buckets_appears_once(
    readonly_client, make_prediction, last_bucket
):
    older = _run(make_prediction, bucket=last_bucket - BUCKET)
    newer = _run(make_prediction, bucket=last_bucket, probability=0.81)

    high_risk = _ids(readonly_client.get("/api/ml/predictions/high_risk/"))
    history = _ids(readonly_client.get("/api/ml/predictions/"))

    assert high_risk == [str(newer.prediction_id)]
    assert set(history) == {str(older.prediction_id), str(newer.prediction_id)}


def test_a_later_analysis_that_stored_another_risk_retires_the_older_set(
    readonly_client, make_prediction, last_bucket
):
    _run(make_prediction, bucket=last_bucket - BUCKET, error_type="ErrorBurst", probability=0.9)
    later = _run(make_prediction, bucket=last_bucket, error_type="Timeout", probability=0.77)
    other_service = _run(
        make_prediction, bucket=last_bucket - 2 * BUCKET, service="java", probability=0.76
    )

    high_risk = _ids(readonly_client.get("/api/ml/predictions/high_risk/"))

    assert high_risk == [str(later.prediction_id), str(other_service.prediction_id)]


def test_a_later_analysis_that_found_no_risk_retires_it(
    readonly_client, make_prediction, make_run, last_bucket
):
    # vue's 13:40 run stored a risk; its 13:45 run stored none (and no forecast: vue has no
    # forecaster yet), only its run record
    _run(make_prediction, bucket=last_bucket - BUCKET, service="vue", probability=0.78)
    make_run(service="vue", as_of=last_bucket + BUCKET)

    response = readonly_client.get("/api/ml/predictions/high_risk/")

    assert _ids(response) == []
    assert len(_ids(readonly_client.get("/api/ml/predictions/?service=vue"))) == 1


@pytest.mark.parametrize(
    "later",
    [
        {"analysis_type": "quick", "predicted": False},  # anomalies only: risk not re-assessed
        {"status": "failed", "predicted": False},
        {"predicted": False},  # no prediction model loaded
    ],
)
def test_a_later_run_that_did_not_predict_keeps_the_risk(
    readonly_client, make_prediction, make_run, last_bucket, later
):
    kept = _run(make_prediction, bucket=last_bucket - BUCKET, service="vue")
    make_run(service="vue", as_of=last_bucket + BUCKET, **later)

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [str(kept.prediction_id)]


def test_a_re_run_of_the_same_bucket_keeps_the_risk(
    readonly_client, make_prediction, make_run, last_bucket
):
    kept = _run(make_prediction, bucket=last_bucket, service="vue")
    # a manual trigger a minute later: the same bucket, so the same as_of
    make_run(service="vue", as_of=last_bucket + BUCKET)

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [str(kept.prediction_id)]


def test_a_run_that_started_late_keeps_its_own_risk(
    readonly_client, make_prediction, make_run, last_bucket
):
    """Found in CI: the demo analyses "as of" the time it started, minutes before the run
    writes; a comparison with the wall clock retired its own predictions."""
    written = timezone.now()
    bucket = last_bucket - 4 * BUCKET
    kept = _run(make_prediction, bucket=bucket, service="java", created_at=written)
    make_run(service="java", as_of=bucket + BUCKET, completed_at=written)

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [str(kept.prediction_id)]


def test_a_backfill_of_older_data_keeps_the_current_risk(
    readonly_client, make_prediction, make_run, last_bucket
):
    kept = _run(make_prediction, bucket=last_bucket, service="java")
    make_run(service="java", as_of=last_bucket - timedelta(days=2))

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [str(kept.prediction_id)]


def test_at_risk_shows_only_the_newest_forecast_of_a_metric(readonly_client, make_forecast):
    now = timezone.now()
    make_forecast(is_at_risk=True, created_at=now - timedelta(hours=1))
    newest = make_forecast(is_at_risk=True, created_at=now)
    make_forecast(service="java", is_at_risk=True, created_at=now - timedelta(hours=1))
    make_forecast(service="java", is_at_risk=False, created_at=now)

    response = readonly_client.get("/api/ml/forecasts/at_risk/")

    assert response.status_code == 200
    assert [r["forecast_id"] for r in response.json()["results"]] == [str(newest.forecast_id)]
