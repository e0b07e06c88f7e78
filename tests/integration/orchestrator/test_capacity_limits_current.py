"""ML_CAPACITY_LIMITS takes effect at the next analysis, not at the next retrain (UA2 B5).

The limit was read from the ForecastConfig pickled with the forecaster at training time, so a
stored forecast kept ``capacity_limit: 500`` and ``is_at_risk: false`` after the limit was set to
30 while the forecast was at 57/h.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _stored_error_forecast():
    from ml_prediction.models import TimeSeriesForecast

    return TimeSeriesForecast.objects.get(service="java", metric_name="error_count")


def test_a_changed_capacity_limit_applies_at_the_next_analysis(monkeypatch):
    from ml_prediction.models import MLModel
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.training import training_run_for_service

    # given a forecaster trained while the error_count limit was far above the traffic
    load_traffic("java", days=3, seed=5)
    limits = dict(settings.ML_PREDICTION_CONFIG.get("CAPACITY_LIMITS") or {})
    monkeypatch.setitem(
        settings.ML_PREDICTION_CONFIG, "CAPACITY_LIMITS", {**limits, "error_count": 1_000_000}
    )
    training_run_for_service(service="java", model_types=[MLModel.ModelType.TIME_SERIES_FORECAST])
    PredictionOrchestrator().run_full_analysis("java", "full")
    before = _stored_error_forecast()
    assert before.capacity_limit == 1_000_000 and not before.is_at_risk
    peak = before.predicted_peak_value
    assert peak and peak > 2

    # when the limit is lowered below the forecast, without retraining
    monkeypatch.setitem(
        settings.ML_PREDICTION_CONFIG, "CAPACITY_LIMITS", {**limits, "error_count": 1.0}
    )
    PredictionOrchestrator().run_full_analysis("java", "full")

    # then the next analysis judges the forecast against the new limit
    after = _stored_error_forecast()
    assert after.capacity_limit == 1.0
    assert after.is_at_risk
    assert "capacity limit of 1" in after.capacity_warning
    assert "capacity limit of 1,000,000" not in after.capacity_warning

    # and raising it again clears the risk
    monkeypatch.setitem(
        settings.ML_PREDICTION_CONFIG, "CAPACITY_LIMITS", {**limits, "error_count": 1_000_000}
    )
    PredictionOrchestrator().run_full_analysis("java", "full")
    cleared = _stored_error_forecast()
    assert cleared.capacity_limit == 1_000_000
    assert not cleared.is_at_risk and cleared.capacity_warning == ""
