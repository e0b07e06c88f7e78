"""Cold start counts real history: the product's bucket frames span the whole lookback with
missing buckets zero-filled, and a service younger than the lookback is still "learning"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.anomaly import AnomalyConfig, fit_anomaly_model
from ml_prediction.engines.features import first_reported_bucket
from ml_prediction.engines.types import InsufficientData

CONFIG = AnomalyConfig()
PER_DAY = 288
START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday
LOOKBACK_DAYS = 30


def _lookback(total_count: np.ndarray, **columns: np.ndarray) -> pd.DataFrame:
    """A frame as ``bucket_frame_for_service`` builds it: 5-minute buckets over the lookback."""
    index = pd.date_range(START, periods=len(total_count), freq="5min")
    return pd.DataFrame(
        {"total_count": total_count, "error_count": np.round(total_count * 0.3), **columns},
        index=index,
    )


def _traffic(days: int, seed: int) -> np.ndarray:
    """Poisson error counts with a daily cycle (busy 09–18 UTC)."""
    hour = np.tile(np.repeat(np.arange(24), 12), days)
    rate = np.where((hour >= 9) & (hour < 18), 60.0, 20.0)
    return np.random.default_rng(seed).poisson(rate).astype(float)


def _padded(real_days: int, *, seed: int = 3) -> np.ndarray:
    return np.r_[np.zeros((LOOKBACK_DAYS - real_days) * PER_DAY), _traffic(real_days, seed)]


def test_one_real_day_after_29_zero_filled_days_is_still_learning():
    # given the reviewer's reproduction: 29 zero-filled days, then the service's first day
    rng = np.random.default_rng(5)
    counts = np.r_[np.zeros(29 * PER_DAY), rng.poisson(20, PER_DAY)].astype(float)
    history = pd.DataFrame(
        {"total_count": counts, "error_count": counts},
        index=pd.date_range("2026-01-05", periods=30 * PER_DAY, freq="5min", tz="UTC"),
    )
    # when / then
    with pytest.raises(InsufficientData, match=r"1\.0 days of history.*7 needed \(learning\)"):
        fit_anomaly_model(history, config=CONFIG)


def test_seven_real_days_after_padding_are_fitted_with_their_honest_history():
    # given 22 zero-filled days, then 8 days of traffic
    history = _lookback(_padded(8))
    # when
    model = fit_anomaly_model(history, config=CONFIG)
    # then the report counts the service's days and buckets, not the lookback's
    assert model.report.metrics["history_days"] == pytest.approx(8.0)
    assert model.report.train_samples == 8 * PER_DAY


def test_a_young_service_is_learnt_from_its_own_days_not_from_the_padding():
    # given 8 real days after 22 zero-filled ones, and a next day whose 15:00 hour is silent
    counts = np.r_[_padded(8), _traffic(1, seed=11)]
    counts[-9 * 12 : -8 * 12] = 0.0
    frame = _lookback(counts)
    history, next_day = frame.iloc[:-PER_DAY], frame.iloc[-PER_DAY:]
    # when
    scores = fit_anomaly_model(history, config=CONFIG).score(next_day, config=CONFIG)
    # then the silent busy hour is an anomaly: weeks of padding had taught the model that
    # zero errors is ordinary
    silent = [s for s in scores if s.timestamp.hour == 15]
    assert len(silent) == 12
    assert sum(s.is_anomaly for s in silent) >= 10


@pytest.mark.parametrize(
    ("quiet_at", "fits"),
    [
        (3, True),  # 3 real days, a quiet day, 3 real days: 7 days since the first report
        (None, False),  # the same 6 real days without the quiet day: 6 days, learning
    ],
    ids=["quiet-day-in-the-middle-counts", "six-days-are-learning"],
)
def test_a_quiet_day_after_the_first_report_is_history_not_padding(quiet_at, fits):
    # given leading padding, then real days with (or without) a whole quiet day between them
    days = [_traffic(1, seed=20 + d) for d in range(6)]
    if quiet_at is not None:
        days.insert(quiet_at, np.zeros(PER_DAY))
    real = np.concatenate(days)
    history = _lookback(np.r_[np.zeros(LOOKBACK_DAYS * PER_DAY - len(real)), real])
    # when / then
    if fits:
        model = fit_anomaly_model(history, config=CONFIG)
        assert model.report.metrics["history_days"] == pytest.approx(7.0)
        assert model.report.train_samples == 7 * PER_DAY
    else:
        with pytest.raises(InsufficientData, match="learning"):
            fit_anomaly_model(history, config=CONFIG)


@pytest.mark.parametrize(
    "reports",
    [
        {"metric_request_rate": 40.0},
        {"metric_db_pool_in_use": 0.0},  # a sample of 0 is a report
    ],
    ids=["request-metric", "zero-valued-metric"],
)
def test_weeks_of_reports_without_errors_are_real_history(reports):
    # given 10 zero-filled days, 19 days on which the service reported but had no errors,
    # and one day with errors
    n = LOOKBACK_DAYS * PER_DAY
    counts = np.r_[np.zeros(n - PER_DAY), _traffic(1, seed=4)]
    reported_from = 10 * PER_DAY
    columns = {}
    for name, value in reports.items():
        column = np.full(n, np.nan if name.startswith("metric_") else 0.0)
        column[reported_from:] = value
        columns[name] = column
    history = _lookback(counts, **columns)
    # when
    model = fit_anomaly_model(history, config=CONFIG)
    # then
    assert model.report.metrics["history_days"] == pytest.approx(20.0)


def test_first_reported_bucket_skips_only_zero_counts_and_missing_values():
    index = pd.date_range(START, periods=6, freq="5min")
    frame = pd.DataFrame(
        {
            "total_count": [0.0, 0.0, 0.0, 0.0, 2.0, 0.0],
            "rt_p95": [np.nan, np.nan, np.nan, np.nan, 120.0, np.nan],
            "metric_cpu": [np.nan, np.nan, np.nan, 0.0, 0.3, np.nan],
        },
        index=index,
    )
    assert first_reported_bucket(frame) == index[3]
    assert first_reported_bucket(frame.drop(columns="metric_cpu")) == index[4]
    assert first_reported_bucket(frame.iloc[:3]) is None
    assert first_reported_bucket(frame.iloc[:0]) is None


def test_a_lookback_with_nothing_reported_has_no_errors_to_learn_from():
    history = _lookback(np.zeros(LOOKBACK_DAYS * PER_DAY))
    with pytest.raises(InsufficientData, match="no errors"):
        fit_anomaly_model(history, config=CONFIG)


def test_the_error_predictor_counts_buckets_from_the_first_report_too():
    """Two real days zero-filled to 30 passed the predictor's 1000-bucket minimum on padding."""
    from ml_prediction.engines.predictor import PredictorConfig, fit_error_predictor

    history = _lookback(_padded(2))

    with pytest.raises(InsufficientData, match=r"576 buckets of history"):
        fit_error_predictor(history, config=PredictorConfig())
