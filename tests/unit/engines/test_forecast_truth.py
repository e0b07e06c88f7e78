"""Forecast texts in plain numbers, and forecasts that follow what has happened since training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.forecasting import (
    ForecastConfig,
    _capacity_warning,
    fit_forecaster,
    format_number,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (22214.8, "22,215"),
        (17360.0, "17,360"),
        (2000.0, "2,000"),
        (150.0, "150"),
        (89.5, "89.5"),
        (12.0, "12"),
        (0.4213, "0.42"),
        (0.0, "0.00"),
    ],
)
def test_numbers_are_written_for_people(value, text):
    assert format_number(value) == text


def test_the_capacity_warning_names_the_crossing_and_the_peak_in_plain_numbers():
    stamps = pd.date_range("2026-11-27 12:00", periods=10, freq="1h", tz="UTC")
    values = np.array([1500, 2400, 5000, 9000, 14000, 18000, 21000, 17360, 22214.8, 8000.0])

    warning = _capacity_warning("response_time_p95", stamps, values, values * 1.2, 2000.0)

    assert warning == (
        "response_time_p95 is forecast to go above the capacity limit of 2,000 at "
        "2026-11-27 13:00 UTC (2,400) and to peak at 22,215 around 2026-11-27 20:00 UTC"
    )
    assert "e+" not in warning


def test_the_softer_warning_names_the_upper_bound_and_the_peak():
    stamps = pd.date_range("2026-11-27 12:00", periods=3, freq="1h", tz="UTC")
    values = np.array([1000.0, 1800.0, 1500.0])

    warning = _capacity_warning("m", stamps, values, values + 400.0, 2000.0)

    assert warning == (
        "m may reach the capacity limit of 2,000: the upper bound of the forecast is 2,200 at "
        "2026-11-27 13:00 UTC; the forecast is to peak at 1,800 around 2026-11-27 13:00 UTC"
    )


def _counts(days: int, seed: int = 3) -> pd.Series:
    """Hourly error counts with a daily cycle (night ~11/h, day ~55/h), Poisson noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    rate = 33 + 22 * np.sin(2 * np.pi * (t - 6) / 24)
    index = pd.date_range("2026-03-02", periods=len(t), freq="1h", tz="UTC")
    return pd.Series(rng.poisson(rate).astype(float), index=index, name="error_count")


def _fitted(series: pd.Series):
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"), backtest_folds=2)
    return fit_forecaster(series, metric_name="error_count", config=config)


def _values(forecaster, h: int) -> np.ndarray:
    return np.array([p.value for p in forecaster.forecast(horizon_steps=h).points])


def test_a_surge_since_training_lifts_the_next_hours_and_fades():
    history = _counts(15)
    train, after = history.iloc[:-24], history.iloc[-24:]
    forecaster = _fitted(train)
    plain = _values(forecaster, 24)
    surge = after.iloc[:3] * 4  # three hours at four times the usual errors

    conditioned = forecaster.conditioned_on(surge)
    lifted = _values(conditioned, 24)

    assert conditioned is not forecaster and forecaster.correction == 0.0  # pure: a copy
    np.testing.assert_allclose(_values(forecaster, 24), plain)
    np.testing.assert_allclose(lifted[:3], plain[:3])  # the observed hours are not rewritten
    ratio = lifted[3:] / plain[3:]
    assert ratio[0] > 2.5  # the next hour follows the surge (on the log scale: by a factor)
    assert ratio[-1] < ratio[0] and ratio[-1] < 1.2  # a day later it has faded
    points = conditioned.forecast(horizon_steps=24).points
    assert all(p.lower <= p.value <= p.upper for p in points)


def test_ordinary_hours_since_training_leave_the_forecast_alone():
    history = _counts(15)
    train, after = history.iloc[:-24], history.iloc[-24:]
    forecaster = _fitted(train)

    conditioned = forecaster.conditioned_on(after.iloc[:6])

    assert conditioned.correction == 0.0
    np.testing.assert_allclose(_values(conditioned, 24), _values(forecaster, 24))


@pytest.mark.parametrize(
    "observed",
    [
        pd.Series([], dtype=float),
        pd.Series([500.0, 500.0, 500.0], index=pd.date_range("2020-01-01", periods=3, freq="1h")),
        pd.Series([np.nan, np.nan, np.nan]),
    ],
    ids=["empty", "before training", "not timestamps"],
)
def test_nothing_usable_observed_changes_nothing(observed):
    forecaster = _fitted(_counts(15).iloc[:-24])

    conditioned = forecaster.conditioned_on(observed)

    assert conditioned.correction == 0.0
    np.testing.assert_allclose(_values(conditioned, 24), _values(forecaster, 24))
