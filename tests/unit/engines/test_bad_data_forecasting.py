"""Huge values in a forecast series: a clear InsufficientData or a finite forecast, never inf."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.forecasting import ForecastConfig, fit_forecaster, prepare_series
from ml_prediction.engines.types import InsufficientData

INDEX = pd.date_range("2026-01-05", periods=2880, freq="5min", tz="UTC")  # ten days


def _finite(result) -> bool:
    numbers = [x for p in result.points for x in (p.value, p.lower, p.upper)]
    return all(math.isfinite(x) for x in [*numbers, result.peak_value])


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_values_that_overflow_when_aggregated_are_refused_not_forecast_as_inf(aggregation):
    # given a series of 1e308 (finite, but twelve of them per hour sum to inf)
    series = pd.Series(1e308, index=INDEX)
    config = ForecastConfig(
        horizon_steps=6, candidates=("seasonal_naive",), aggregation=aggregation
    )
    # when fitted, then the series is refused with a clear status
    with pytest.raises(InsufficientData):
        fit_forecaster(series, metric_name="m", config=config)


def test_hourly_steps_that_overflow_are_missing_and_the_rest_is_forecast():
    # given a normal series whose every 5th hour sums to inf (each value is finite)
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 5, len(INDEX))
    values[(np.arange(len(INDEX)) // 12) % 5 == 0] = 1e308
    series = pd.Series(values, index=INDEX)
    config = ForecastConfig(horizon_steps=6, candidates=("seasonal_naive",), aggregation="sum")
    # when prepared and forecast
    grid = prepare_series(series, config=config)
    result = fit_forecaster(series, metric_name="m", config=config).forecast()
    # then the overflowing hours were treated as gaps and the forecast is finite
    assert np.isfinite(grid.to_numpy()).all() and grid.max() < 1e6
    assert _finite(result)


def test_a_forecaster_with_an_infinite_level_raises_instead_of_forecasting_inf():
    # given a fitted forecaster whose model and level went non-finite (an old artifact)
    series = pd.Series(np.linspace(1, 2, len(INDEX)), index=INDEX)
    config = ForecastConfig(horizon_steps=6, candidates=("seasonal_naive",))
    fitted = fit_forecaster(series, metric_name="m", config=config)
    broken = dataclasses.replace(fitted, level=math.inf, correction=math.inf, corrected_after=0)
    # when forecast, then a clear status, not inf points
    with pytest.raises(InsufficientData):
        broken.forecast()
    # and a non-finite interval gives a finite (zero-width) band, not an inf one
    wide = dataclasses.replace(fitted, interval=(-math.inf, math.inf), _cache=None)
    assert _finite(wide.forecast())
