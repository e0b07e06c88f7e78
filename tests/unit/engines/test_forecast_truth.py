"""Forecast texts in plain numbers, and forecasts that follow what has happened since training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.forecasting import _capacity_warning, format_number


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
