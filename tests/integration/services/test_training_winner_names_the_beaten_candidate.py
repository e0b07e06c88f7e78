"""With no active model, a run's winner was decided against the run's other candidate: its
``compared_with`` names that candidate (basis "same training run"), as its promotion reason
("beat random_forest of this run …") and the loser's ``compared_with`` already did; it said
null."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache

from ml_prediction.engines.types import TrainingReport
from ml_prediction.models import MLModel, ModelTrainingHistory
from ml_prediction.services import registry, training
from tests.integration.services.fakes import FakeArtifact

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

XGB = {"roc_auc": 0.917, "roc_auc_macro": 0.80, "f1": 0.5, "brier": 0.01}
RF = {"roc_auc": 0.908, "roc_auc_macro": 0.79, "f1": 0.45, "brier": 0.012}


@pytest.fixture(autouse=True)
def _setup(monkeypatch, tmp_path):
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "ARTIFACT_DIR", str(tmp_path))
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "MIN_TRAINING_SAMPLES", 0)
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "PREDICTION_FLEET_TRAINING", False)
    registry.registry_cache_clear()
    cache.clear()
    yield
    cache.clear()


def _run(monkeypatch, by_algorithm: dict[str, dict]) -> dict[str, ModelTrainingHistory]:
    def fake_fit(model_type, *, algorithm, **_):
        report = TrainingReport(algorithm, 100, 20, dict(by_algorithm[algorithm]))
        return FakeArtifact({"a": algorithm}), report, "xgboost"

    monkeypatch.setattr(training, "_fit", fake_fit)
    histories = training.training_run_for_service(
        service="django", model_types=["error_classifier"]
    )
    return {h.model_algorithm: h for h in histories}


def _named(history: ModelTrainingHistory) -> dict:
    model = MLModel.objects.get(model_id=history.model_id)
    return {
        "model_id": str(model.model_id),
        "algorithm": model.model_algorithm,
        "version": model.version,
        "basis": "same training run",
    }


@pytest.mark.parametrize(
    ("xgb", "rf", "winner", "loser"),
    [
        (XGB, RF, "xgboost", "random_forest"),
        ({**XGB, "roc_auc_macro": 0.78}, RF, "random_forest", "xgboost"),
    ],
    ids=["default-wins", "challenger-wins"],
)
def test_without_an_active_model_the_winner_names_the_candidate_it_beat(
    monkeypatch, readonly_client, xgb, rf, winner, loser
):
    runs = _run(monkeypatch, {"xgboost": xgb, "random_forest": rf})

    body = readonly_client.get(f"/api/ml/models/{runs[winner].model_id}/").json()

    training_ = body["training"]
    assert training_["promoted"] is True
    assert training_["promotion_reason"].startswith(f"beat {loser} of this run")
    assert training_["compared_with"] == _named(runs[loser])
    runs[loser].refresh_from_db()
    assert runs[loser].metrics["compared_with"]["model_id"] == str(runs[winner].model_id)


def test_with_an_active_model_the_winner_still_names_the_active_model(monkeypatch):
    first = _run(monkeypatch, {"xgboost": XGB, "random_forest": RF})["xgboost"]

    second = _run(
        monkeypatch,
        {"xgboost": {**XGB, "roc_auc_macro": 0.805}, "random_forest": RF},
    )["xgboost"]

    second.refresh_from_db()
    assert second.metrics["compared_with"]["model_id"] == str(first.model_id)
    assert second.metrics["compared_with"]["basis"] == "active model"


def test_a_winner_stored_without_it_finds_the_candidate_it_beat(monkeypatch):
    runs = _run(monkeypatch, {"xgboost": XGB, "random_forest": RF})
    # as a run before this fix stored it
    winner = ModelTrainingHistory.objects.get(pk=runs["xgboost"].pk)
    winner.metrics = {**winner.metrics, "compared_with": None}
    winner.save(update_fields=["metrics"])

    summary = training.model_training_summary(model=MLModel.objects.get(model_id=winner.model_id))

    assert summary is not None
    assert summary.compared_with == _named(runs["random_forest"])
