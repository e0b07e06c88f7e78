"""Forecasting evaluation: the quick run produces an honest markdown section from real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.forecasting import ForecastConfig
from ml_prediction.evaluation import forecast as evaluation


def test_quick_run_reports_every_category_with_finite_figures(datasets_dir):
    messages: list[str] = []
    # when
    markdown = evaluation.run(datasets_dir, quick=True, progress=messages.append)
    # then
    assert markdown.startswith("## Forecasting")
    assert "`python manage.py evaluate forecast --quick`" in markdown
    for name in evaluation.QUICK_FILES:
        assert f"| {name.split('/')[0]} | 1 |" in markdown
    assert "| **all NAB** | 3 |" in markdown
    assert "### Error-rate series (simulator)" in markdown
    assert "| django |" in markdown
    assert "nan" not in markdown.lower()
    assert len(messages) == len(evaluation.QUICK_FILES) + 1


def test_evaluate_series_scores_the_held_out_tail_against_seasonal_naive():
    # given a noisy daily cycle whose level steps up two days before the end
    rng = np.random.default_rng(0)
    t = np.arange(24 * 20, dtype=float)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2, len(t))
    values[-48:] += 30
    index = pd.date_range("2026-01-05", periods=len(t), freq="60min", tz="UTC")
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when
    result = evaluation.evaluate_series(
        "x/y.csv", "x", pd.Series(values, index=index), config=config
    )
    # then: the figures are computed on the 24 held-out steps and are finite
    assert result.steps == 24
    assert 0 <= result.covered <= 24
    assert math.isfinite(result.mase) and math.isfinite(result.baseline_mase)
    assert result.smape > 0
    summary = evaluation.summarise([result])
    assert summary["mean_mase"] == result.mase
    assert summary["coverage"] == result.covered / 24


def test_series_with_mostly_gaps_is_reported_not_crashed():
    index = pd.date_range("2026-01-05", periods=24 * 10, freq="60min", tz="UTC")
    values = np.where(np.arange(len(index)) % 4 == 0, 1.0, np.nan)
    result = evaluation.evaluate_series(
        "x/gappy.csv", "x", pd.Series(values, index=index), config=ForecastConfig()
    )
    assert (result.status, result.steps) == ("insufficient_data", 0)
    assert "have no value" in result.error


def test_daily_total_and_outside_incident_figures_are_computed_on_the_right_steps():
    # given a clean daily cycle with an "incident" (10x) in two of the held-out hours
    t = np.arange(24 * 20, dtype=float)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24)
    values[-5:-3] *= 10
    index = pd.date_range("2026-01-05", periods=len(t), freq="60min", tz="UTC")
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when the incident hours are excluded from the calm MAPE only
    result = evaluation.evaluate_series(
        "x/y.csv", "x", pd.Series(values, index=index), config=config, exclude=index[-5:-3]
    )
    # then the hourly MAPE pays for the incident (two hours 90% off of 24: 7.5%), the calm not
    assert result.mape == pytest.approx(7.5, abs=1.0)
    assert result.calm_mape < 1
    # and the day's total is off by roughly the incident's extra errors
    extra = 9 * values[-5:-3].sum() / 10
    assert result.total_ape == pytest.approx(extra / values[-24:].sum() * 100, rel=0.1)


def test_nab_files_can_be_narrowed_by_category_and_count(datasets_dir):
    files = evaluation.nab_files(datasets_dir / "nab", quick=False, categories=["realTraffic"])
    assert files and all(f.parent.name == "realTraffic" for f in files)
    assert len(evaluation.nab_files(datasets_dir / "nab", quick=False, limit=2)) == 2
