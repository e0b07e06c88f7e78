"""Stored forecasts follow the hours since training (Forecaster.conditioned_on, wired in the
orchestrator): found in use, django's error forecast stayed at its training-time level while
errors came in at several times that rate."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _surge(service: str, *, start, hours: int, per_hour: int) -> None:
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    items = [
        {
            "error_type": "TimeoutError",
            "message": "upstream timed out",
            "severity": "error",
            "occurred_at": (
                start + timedelta(seconds=i * 3600 * hours // (per_hour * hours))
            ).isoformat(),
        }
        for i in range(per_hour * hours)
    ]
    with analysis_requests_suspended():
        for i in range(0, len(items), 1000):
            ingest_errors(service=service, items=items[i : i + 1000])


def test_the_stored_error_forecast_follows_a_surge_since_training():
    from ml_prediction.models import MLModel, TimeSeriesForecast
    from ml_prediction.services import PredictionOrchestrator, registry
    from ml_prediction.services.training import training_run_for_service

    now = timezone.now()
    this_hour = floor_5min(now).replace(minute=0)
    trained_until = this_hour - timedelta(hours=3)
    load_traffic("java", days=4, seed=5, end=trained_until)
    training_run_for_service(service="java", as_of=trained_until)
    forecaster = registry.registry_load_active(
        service="java", model_type=MLModel.ModelType.TIME_SERIES_FORECAST
    ).artifact.forecasters["error_count"]
    blind = {p.timestamp: p for p in forecaster.forecast(horizon_steps=30).points}

    # the three complete hours after training: several times the usual error rate
    usual = max(p.value for p in blind.values())
    _surge("java", start=trained_until, hours=3, per_hour=int(6 * usual) + 60)

    PredictionOrchestrator().run_full_analysis("java", "full")

    stored = TimeSeriesForecast.objects.get(service="java", metric_name="error_count")
    followed = {pd.Timestamp(p["timestamp"]): p["value"] for p in stored.forecast_values}
    next_hour = pd.Timestamp(this_hour) + pd.Timedelta(hours=1)  # stored forecasts start there
    assert followed[next_hour] > 1.5 * blind[next_hour].value
