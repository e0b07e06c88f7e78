"""Contributing factors in words: every model input has a phrase on-call can read, with its
unit, instead of the column name with its underscores swapped ("metric response time ms vs
base = 26.5")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ml_prediction.engines.features import build_features, describe_feature
from ml_prediction.engines.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def features():
    sim = simulate(
        SimulationConfig(days=2, services=("java",), seed=3, start=datetime(2026, 1, 5, tzinfo=UTC))
    )
    return build_features(sim.bucket_frames()["java"])


def test_every_feature_the_models_see_has_words_of_its_own(features):
    # given every column build_features makes (metrics included) and the values of a real bucket
    row = features.iloc[-1]
    assert any(name.startswith("metric_") for name in features.columns)

    for name in features.columns:
        text = describe_feature(name, float(row[name]))
        # then none reads as the fallback "name = value" or keeps a raw column name
        assert "_" not in text, (name, text)
        assert " = " not in text, (name, text)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("metric_response_time_ms", 3028.0, "response time 3,028 ms"),
        ("metric_response_time_ms_vs_base", 26.5, "response time 26.5× its level 1–3 h before"),
        (
            "metric_response_time_ms_delta_1d",
            2891.0,
            "response time 2,891 ms above its mean of the last day",
        ),
        (
            "metric_db_pool_in_use_delta_1d",
            -7.9,
            "db pool in use 7.9 below its mean of the last day",
        ),
        ("metric_cpu_max_1h", 97.0, "cpu peaked at 97 in the last hour"),
        (
            "metric_response_time_ms_slope_1h",
            198.0,
            "response time rising 198 ms per 5 min over the last hour",
        ),
        (
            "timeout_count_15m_vs_base_change_15m",
            4.0,
            "timeouts in 15 min up 4× its level 1–3 h before within 15 min",
        ),
        ("database_count_sum_1h", 42.0, "database errors in the last hour: 42"),
        ("critical_count_sum_15m", 0.0, "critical errors in the last 15 min: 0"),
        ("total_count_lag3", 5.0, "errors in the bucket 15 min before: 5"),
        ("error_type_timeout_ratio", 0.34, "timeouts 34% of errors"),
        ("api_error_ratio", 0.5, "API errors 50% of errors"),
        (
            "total_count_1h_vs_1d",
            5.8,
            "errors of the last hour 5.8× an average hour of the last day",
        ),
        ("response_time_p95", 8832.0, "p95 response time of failed requests 8,832 ms"),
        ("hour_of_day", 3.0, "time of day 03:00 UTC"),
        ("day_of_week", 0.0, "day of week: Monday"),
        ("is_peak_hours", 1.0, "peak hours (weekdays 09–18 UTC)"),
        (
            "timeout_count_rise",
            1.5,
            "timeout errors 1.5 per 5 min above their mean of the last day (last half hour)",
        ),
    ],
)
def test_a_feature_reads_with_its_unit_and_direction(name, value, expected):
    assert describe_feature(name, value) == expected


def test_the_bucket_width_is_the_one_the_model_was_trained_on():
    assert describe_feature("total_count_lag2", 3.0, bucket_minutes=10) == (
        "errors in the bucket 20 min before: 3"
    )
    assert "per 10 min" in describe_feature("error_trend_slope", 0.4, bucket_minutes=10)


def test_an_unknown_name_still_says_what_it_is():
    assert describe_feature("fleet_share", 0.25) == "fleet share = 0.25"
    assert describe_feature("metric_queue_depth", 12.0) == "queue depth 12"
