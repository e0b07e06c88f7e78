"""Feature rows from bucket frames: the guide's names, causality, bad data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.features import build_features, normalize_bucket_frame
from ml_prediction.engines.simulator import SimulationConfig, simulate
from ml_prediction.engines.types import InsufficientData

GUIDE_FEATURES = (
    "hour_of_day",
    "day_of_week",
    "is_peak_hours",
    "error_trend_slope",
    "error_trend_intercept",
    "current_error_rate",
    "error_type_timeout_ratio",
    "error_type_connection_ratio",
    "error_type_auth_ratio",
    "severity_critical_ratio",
    "severity_high_ratio",
    "critical_error_count",
    "response_time_mean",
    "response_time_p95",
    "response_time_p99",
    "response_time_max",
    "database_error_ratio",
    "api_error_ratio",
)


@pytest.fixture(scope="module")
def frame():
    sim = simulate(
        SimulationConfig(
            days=3, services=("laravel",), seed=2, start=datetime(2026, 1, 5, tzinfo=UTC)
        )
    )
    return sim.bucket_frames()["laravel"]


def test_guide_features_present_and_finite(frame):
    features = build_features(frame)
    assert len(features) == len(frame)
    for name in GUIDE_FEATURES:
        assert name in features.columns
    assert np.isfinite(features.to_numpy()).all()


def test_features_are_causal(frame):
    # given features on the whole frame and on a prefix
    full = build_features(frame)
    prefix = build_features(frame.iloc[:400])
    # then the prefix rows are identical: no feature looks ahead
    pd.testing.assert_frame_equal(full.iloc[:400], prefix, check_freq=False)


def test_trend_slope_of_a_rising_series():
    index = pd.date_range("2026-01-05", periods=24, freq="5min", tz="UTC")
    frame = pd.DataFrame({"total_count": np.arange(24) * 2.0}, index=index)
    features = build_features(frame)
    assert features["error_trend_slope"].iloc[-1] == pytest.approx(2.0)
    assert features["current_error_rate"].iloc[-1] == pytest.approx(46 / 5)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(),
        pd.DataFrame({"total_count": [1, 2]}, index=["not", "dates"]),
    ],
)
def test_unusable_frames_raise_insufficient_data(frame):
    with pytest.raises(InsufficientData):
        build_features(frame)


def test_nan_irregular_and_missing_columns_become_clean_rows():
    # given irregular timestamps, a NaN count, a duplicate and no metric/rt columns
    index = pd.to_datetime(
        ["2026-01-05 00:00", "2026-01-05 00:07", "2026-01-05 00:07", "2026-01-05 00:31"], utc=True
    )
    frame = pd.DataFrame(
        {"total_count": [3, np.nan, 2, 5], "timeout_count": [1, 1, 0, 5]}, index=index
    )
    # when normalised and featurised
    clean = normalize_bucket_frame(frame, bucket_minutes=5)
    features = build_features(frame, bucket_minutes=5)
    # then buckets are regular, gaps are zeros and nothing is NaN
    assert list(clean["total_count"]) == [3, 2, 0, 0, 0, 0, 5]
    assert np.isfinite(features.to_numpy()).all()
    assert features["error_type_timeout_ratio"].iloc[-1] == pytest.approx(1.0)


def test_gaps_carry_metrics_forward_and_row_order_does_not_matter():
    # given a frame with a missing bucket, a metric that starts unknown and has a hole, and
    # its rows shuffled (a NaT row too)
    index = pd.DatetimeIndex(
        ["2026-01-05 00:00", "2026-01-05 00:05", "2026-01-05 00:15", "2026-01-05 00:20", None],
        tz="UTC",
    )
    frame = pd.DataFrame(
        {
            "total_count": [1.0, 2.0, -4.0, 3.0, 9.0],
            "metric_db_pool_in_use": [np.nan, 40.0, np.nan, 70.0, 99.0],
        },
        index=index,
    )
    shuffled = frame.iloc[[3, 4, 0, 2, 1]]
    # when normalised
    clean = normalize_bucket_frame(shuffled, bucket_minutes=5)
    # then every bucket has a row in time order, on a regular grid with its frequency set,
    # counts are zero in the gap and never negative, the metric is carried forward (not
    # invented before its first sample), and the NaT row is dropped
    assert list(clean.index.strftime("%H:%M")) == ["00:00", "00:05", "00:10", "00:15", "00:20"]
    assert clean.index.freq == pd.Timedelta(minutes=5)
    assert list(clean["total_count"]) == [1.0, 2.0, 0.0, 0.0, 3.0]
    pool = clean["metric_db_pool_in_use"].tolist()
    assert np.isnan(pool[0]) and pool[1:] == [40.0, 40.0, 40.0, 70.0]
    pd.testing.assert_frame_equal(clean, normalize_bucket_frame(frame, bucket_minutes=5))


def _metric_frame(values: np.ndarray) -> pd.DataFrame:
    index = pd.date_range("2026-01-05", periods=len(values), freq="5min", tz="UTC")
    return pd.DataFrame(
        {"total_count": np.ones(len(values)), "metric_response_time_ms": values}, index=index
    )


def test_baseline_ratio_measures_a_ramp_against_the_recent_normal():
    # given four quiet hours at 100 ms, then a 30-minute ramp up to 200 ms
    values = np.concatenate([np.full(48, 100.0), np.linspace(110.0, 200.0, 6)])
    features = build_features(_metric_frame(values))
    ratio = features["metric_response_time_ms_vs_base"]
    # then the quiet part sits at 1 and the end of the ramp at 2 (its baseline is the quiet part)
    assert ratio.iloc[12:48].to_numpy() == pytest.approx(1.0)
    assert ratio.iloc[-1] == pytest.approx(2.0)
    # and the departure still grows: positive 15-minute change, the 15-minute minimum lags it
    assert features["metric_response_time_ms_vs_base_change_15m"].iloc[-1] > 0.5
    assert features["metric_response_time_ms_vs_base_min_15m"].iloc[-1] < ratio.iloc[-1]


def test_baseline_leaves_out_the_last_hour():
    # given a level that tripled 50 minutes ago and stayed there
    values = np.concatenate([np.full(48, 100.0), np.full(10, 300.0)])
    features = build_features(_metric_frame(values))
    # then the ratio still says 3: the rise is not yet part of its own baseline
    assert features["metric_response_time_ms_vs_base"].iloc[-1] == pytest.approx(3.0)
    # and it holds, so the departure is steady (no change over 15 minutes)
    assert features["metric_response_time_ms_vs_base_change_15m"].iloc[-1] == pytest.approx(0.0)


def test_baseline_features_of_the_error_stream_exist_without_metrics(frame):
    errors_only = frame[[c for c in frame.columns if not c.startswith("metric_")]]
    features = build_features(errors_only)
    for name in ("response_time_p95", "timeout_count_15m"):
        for suffix in ("", "_change_15m", "_accel_15m", "_min_15m"):
            assert f"{name}_vs_base{suffix}" in features.columns
    assert np.isfinite(features.to_numpy()).all()
    # a short window (less than the baseline needs) reads as "no departure", not as NaN
    short = build_features(errors_only.iloc[:6])
    assert (short["timeout_count_15m_vs_base"] == 1.0).all()
