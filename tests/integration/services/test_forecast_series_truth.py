"""Forecast series tell the truth: latency from the latency metric, nothing never reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from tests.integration.orchestrator.conftest import BOTH_DBS, FAST_CONFIG, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_ml_config(monkeypatch, tmp_path) -> None:
    from ml_prediction.services.registry import registry_cache_clear

    for key, value in {**FAST_CONFIG, "ARTIFACT_DIR": str(tmp_path)}.items():
        monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, key, value)
    registry_cache_clear()


def test_the_latency_quantile_is_the_p95_of_the_samples_of_each_hour():
    from error_logging.services import ingest_metrics
    from ml_prediction.services.features import metric_quantile_series

    rng = np.random.default_rng(3)
    values = rng.lognormal(np.log(120.0), 0.3, size=120)  # one sample a minute for two hours
    ingest_metrics(
        service="django",
        items=[
            {
                "metric_name": "response_time_ms",
                "value": float(v),
                "timestamp": (START + timedelta(minutes=i)).isoformat(),
            }
            for i, v in enumerate(values)
        ],
    )

    series = metric_quantile_series(
        service="django",
        metric_name="response_time_ms",
        start=START,
        end=START + timedelta(hours=3),
        q=0.95,
    )

    assert list(series.index) == list(pd.date_range(START, periods=3, freq="1h", tz="UTC"))
    assert series.iloc[0] == pytest.approx(np.percentile(values[:60], 95))
    assert series.iloc[1] == pytest.approx(np.percentile(values[60:], 95))
    assert np.isnan(series.iloc[2])  # no samples: missing, not 0


def test_series_a_service_never_reported_are_left_out_with_their_reason():
    from ml_prediction.services.training import forecast_series

    index = pd.date_range(START, periods=48 * 12, freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {
            "total_count": np.full(len(index), 3.0),
            "rt_p95": np.full(len(index), 30000.0),  # failed requests: timeouts
            "metric_db_pool_in_use": np.zeros(len(index)),  # a frontend without a pool
        },
        index=index,
    )

    series, skipped = forecast_series(frame, latency=None)

    assert set(series) == {"error_count"}
    assert "reported no response_time_ms" in skipped["response_time_p95"]
    assert "only zeros" in skipped["db_pool_in_use"]


def test_the_latency_forecast_follows_request_latency_not_failed_requests():
    from ml_prediction.services.training import forecast_series, latency_series_for_service

    load_traffic("django", days=2, seed=4)
    from ml_prediction.services.features import bucket_frame_for_service, lookback_window

    start, end = lookback_window(hours=48)
    frame = bucket_frame_for_service(service="django", start=start, end=end)

    latency = latency_series_for_service(service="django", frame=frame)
    series, skipped = forecast_series(frame, latency=latency)

    assert frame["rt_p95"].max() > 2000  # the errors' response times: timeouts
    observed = series["response_time_p95"].dropna()
    assert len(observed) >= 40 and observed.median() < 500  # django's requests: ~120 ms
    assert "db_pool_in_use" in series and "response_time_p95" not in skipped


@pytest.mark.parametrize("hour, minute", [(1, 40), (12, 0)])
def test_training_forecasts_no_frontend_pool_and_says_why(hour, minute):
    """At 01:40 (and 04:40, in a full run) the latency forecast peaked at 2,287 ms: the
    history cleaning had put an incident of two days before into the last day's normal 14:00
    (`clean_history`), and the seasonal naive repeated it."""
    from django.utils import timezone

    from ml_prediction.models import MLModel
    from ml_prediction.services import registry
    from ml_prediction.services.training import training_run_for_service

    now = timezone.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
    if now > timezone.now():
        now -= timedelta(days=1)
    load_traffic("react", days=3, seed=5, end=now)
    said: list[str] = []

    (history,) = training_run_for_service(
        service="react",
        model_types=[MLModel.ModelType.TIME_SERIES_FORECAST],
        progress=said.append,
        as_of=now,
    )

    assert history.status == "completed", history.failure_reason
    bundle = registry.registry_load_active(
        service="react", model_type="time_series_forecast"
    ).artifact
    assert "db_pool_in_use" not in bundle.forecasters
    assert any("db_pool_in_use not forecast" in line and "only zeros" in line for line in said)
    latency = bundle.forecasters["response_time_p95"].forecast()
    assert latency.peak_value < 2000 and not latency.capacity_warning
    assert history.hyperparameters["db_pool_in_use"].startswith("not forecast")
