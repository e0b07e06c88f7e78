"""A stored forecast's ``horizon_hours`` is the hours its points cover: 24 hourly points are a
24-hour horizon (ML_FORECAST_HORIZON=24), not 23 (the last point's start minus the first's)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _points(count: int, *, step: timedelta):
    from ml_prediction.engines.types import ForecastPoint

    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [
        ForecastPoint(timestamp=start + i * step, value=10.0, lower=8.0, upper=12.0)
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "step", "hours"),
    [
        (24, timedelta(hours=1), 24),
        (1, timedelta(hours=1), 1),
        (48, timedelta(minutes=30), 24),
    ],
)
def test_hours_covered_counts_every_points_step(count, step, hours):
    from ml_prediction.services.orchestrator import hours_covered

    assert hours_covered(_points(count, step=step)) == hours


def test_the_forecast_by_service_says_the_hours_its_points_cover(
    monkeypatch, readonly_client, settings
):
    from ml_prediction.engines.types import ForecastResult
    from ml_prediction.services import orchestrator

    horizon = settings.ML_PREDICTION_CONFIG["FORECAST_HORIZON"]
    points = _points(horizon, step=timedelta(hours=1))
    result = ForecastResult(
        metric_name="error_count",
        algorithm="seasonal_naive",
        points=points,
        interval_width=0.8,
        trend_direction="stable",
        peak_value=10.0,
        peak_at=points[0].timestamp,
    )
    monkeypatch.setattr(
        orchestrator._Run, "_forecasts", lambda self, frame, *, start, end: ([result], None)
    )

    def nothing_trained(self, kind):
        self.skipped[str(kind)] = "not trained in this test"
        return None

    monkeypatch.setattr(orchestrator._Run, "_active", nothing_trained)

    orchestrator.PredictionOrchestrator().run_full_analysis("django", "full")
    body = readonly_client.get("/api/ml/forecasts/by-service/django/").json()

    (forecast,) = body["results"]
    assert len(forecast["forecast_values"]) == horizon
    assert forecast["horizon_hours"] == horizon
