"""Training counts a service's real history: the bucket frame is zero-filled back to the start
of the lookback, and a service younger than COLD_START_DAYS gets no anomaly model (it stays
"learning"), nor a forecaster fitted on the padding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.cache import cache

from ml_prediction.models import MLModel, ModelTrainingHistory
from ml_prediction.services import registry
from ml_prediction.services.training import training_run_for_service
from tests.integration.orchestrator.conftest import BOTH_DBS, FAST_CONFIG, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

# FAST_CONFIG: a 4-day lookback, COLD_START_DAYS 1, MIN_TRAINING_SAMPLES 200.
END = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
ANOMALY = MLModel.ModelType.ANOMALY_DETECTION
FORECAST = MLModel.ModelType.TIME_SERIES_FORECAST


@pytest.fixture(autouse=True)
def fast_ml_config(monkeypatch, tmp_path) -> None:
    for key, value in {**FAST_CONFIG, "ARTIFACT_DIR": str(tmp_path)}.items():
        monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, key, value)
    registry.registry_cache_clear()
    cache.clear()
    yield
    cache.clear()


def _train(service: str, model_type: str) -> ModelTrainingHistory:
    (history,) = training_run_for_service(service=service, model_types=[model_type], as_of=END)
    return history


def test_a_service_younger_than_the_cold_start_gets_no_anomaly_model():
    # given 18 hours of a new service in a 4-day lookback (3 days of it zero-filled)
    load_traffic("django", days=0.75, seed=3, end=END)
    # when
    history = _train("django", ANOMALY)
    # then it stays learning: no model, the reason says why
    assert history.status == ModelTrainingHistory.Status.SKIPPED
    assert "0.8 days of history" in history.failure_reason
    assert "(learning)" in history.failure_reason
    assert not MLModel.objects.filter(service="django", model_type=ANOMALY).exists()


def test_an_anomaly_model_reports_the_days_the_service_reported():
    # given 2 days of a service in a 4-day lookback
    load_traffic("django", days=2, seed=4, end=END)
    # when
    history = _train("django", ANOMALY)
    # then
    assert history.status == ModelTrainingHistory.Status.COMPLETED, history.failure_reason
    model = MLModel.objects.get(model_id=history.model_id)
    assert model.status == MLModel.Status.ACTIVE
    assert model.metrics["history_days"] == pytest.approx(2.0, abs=0.01)
    assert history.training_samples_count == pytest.approx(2 * 288, abs=1)


def test_no_forecaster_is_fitted_on_the_days_before_the_first_report():
    # given 30 hours of a new service: fewer than the 48 hourly steps a 24-step forecast needs,
    # though the zero-filled lookback has 96
    load_traffic("django", days=1.25, seed=5, end=END)
    # when
    history = _train("django", FORECAST)
    # then
    assert history.status == ModelTrainingHistory.Status.SKIPPED
    assert "no forecaster could be fitted for error_count" in history.failure_reason
    assert not MLModel.objects.filter(service="django", model_type=FORECAST).exists()


def test_a_forecaster_is_fitted_once_the_service_has_two_days():
    # given
    load_traffic("django", days=2.5, seed=6, end=END)
    # when
    history = _train("django", FORECAST)
    # then
    assert history.status == ModelTrainingHistory.Status.COMPLETED, history.failure_reason
    assert history.training_samples_count < 4 * 24  # hours since the first report, not 96
