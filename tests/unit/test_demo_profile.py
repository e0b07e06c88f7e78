"""The demo's quick training profile still backtests every forecasting candidate: on 14 days of
history the weekly naive (two weeks before each backtest day) was listed as failed in every demo
forecast the API showed."""

from __future__ import annotations

from datetime import UTC, datetime

from ml_prediction.engines.forecasting import ForecastConfig, fit_forecaster
from ml_prediction.engines.simulator import SimulationConfig, simulate
from ml_prediction.management.commands.demo import DEMO_ENGINE_OVERRIDES


def test_the_demo_profile_gives_the_weekly_naive_its_backtest():
    # given the demo's 30 days of one service and its forecasting profile (cheap candidates only)
    sim = simulate(
        SimulationConfig(
            days=30, services=("django",), seed=1, start=datetime(2026, 1, 5, tzinfo=UTC)
        )
    )
    hourly = sim.bucket_frames()["django"]["total_count"].resample("1h").sum()
    config = ForecastConfig(
        **{
            **DEMO_ENGINE_OVERRIDES["ForecastConfig"],
            "candidates": ("seasonal_naive", "weekly_naive"),
        }
    )

    # when the error-count forecaster is fitted as the demo fits it
    forecaster = fit_forecaster(hourly, metric_name="error_count", config=config)

    # then the weekly naive was backtested, not listed as failed
    assert "weekly_naive_mase" in forecaster.report.metrics
