"""Forecasting evaluation: the quick run produces an honest markdown section from real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
