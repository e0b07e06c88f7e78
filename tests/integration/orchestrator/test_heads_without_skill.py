"""An analysis stores a prediction whose head has no held-out skill as history: confidence low
whatever its probability, no preventive action (an "Investigate" at priority critical came from
a 24-hour head at 0.43 ROC-AUC), no recommended actions on its row, no page."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

METRICS = {"incident@30.roc_auc": 0.86, "incident@1440.roc_auc": 0.43}


@pytest.fixture
def analysis(monkeypatch):
    """A full analysis of django whose error classifier predicts ``results`` (and nothing else
    is trained), with a current root cause to act on."""
    from ml_prediction.engines.types import ErrorPredictionResult, RootCauseResult
    from ml_prediction.models import MLModel
    from ml_prediction.services import orchestrator

    record = MLModel.objects.create(
        model_name="django-error-classifier-v1",
        model_type=MLModel.ModelType.ERROR_CLASSIFIER,
        service="django",
        model_algorithm="xgboost",
        status=MLModel.Status.ACTIVE,
        metrics=METRICS,
    )
    now = timezone.now()
    bucket = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)

    def prediction(horizon: int, target: str = "incident") -> ErrorPredictionResult:
        return ErrorPredictionResult(
            timestamp=bucket - timedelta(minutes=5),
            target=target,
            predicted_error_type="ErrorBurst" if target == "incident" else "TimeoutError",
            probability=0.82,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=horizon,
            predicted_timestamp=bucket + timedelta(minutes=horizon),
        )

    def run(*heads: tuple[int, str]) -> dict:
        results = [prediction(h, t) for h, t in heads]
        artifact = SimpleNamespace(predict=lambda frame, config: results)

        def active(self, kind):
            if kind == MLModel.ModelType.ERROR_CLASSIFIER:
                return SimpleNamespace(artifact=artifact, record=record)
            self.skipped[str(kind)] = "not trained in this test"
            return None

        monkeypatch.setattr(orchestrator._Run, "_active", active)
        monkeypatch.setattr(
            orchestrator._Run,
            "_root_cause",
            lambda self, frame, *, error_types, releases=None, at=None, since=None: RootCauseResult(
                cause_key="unknown", hypothesis="No known pattern fits.", confidence=0.4
            ),
        )
        return orchestrator.PredictionOrchestrator().run_full_analysis("django", "full")

    return run


@pytest.mark.parametrize(
    "head",
    [(1440, "incident"), (120, "timeout")],  # held-out ROC-AUC 0.43; none measured
    ids=["worse-than-chance", "unmeasured"],
)
def test_a_head_without_skill_is_stored_with_low_confidence_and_acts_on_nothing(analysis, head):
    from ml_prediction.models import ErrorPrediction, PreventiveAction

    summary = analysis(head)

    stored = ErrorPrediction.objects.get(service="django")
    assert summary["predictions"]["stored"] == 1
    assert stored.probability == 0.82
    assert stored.confidence_level == "low"
    assert stored.recommended_actions == []
    assert summary["actions"]["created"] == 0
    assert not PreventiveAction.objects.exists()


def test_a_worse_than_chance_head_does_not_page(analysis):
    summary = analysis((1440, "incident"))

    assert summary["alerts"]["prediction_ids"] == []


def test_a_head_with_skill_keeps_its_confidence_and_its_actions(analysis):
    from ml_prediction.models import ErrorPrediction, PreventiveAction

    summary = analysis((30, "incident"), (1440, "incident"))

    rows = {p.time_horizon_minutes: p for p in ErrorPrediction.objects.filter(service="django")}
    assert rows[30].confidence_level == "high" and rows[30].recommended_actions
    assert rows[1440].confidence_level == "low" and rows[1440].recommended_actions == []
    actions = list(PreventiveAction.objects.filter(service="django"))
    assert actions and summary["actions"]["created"] == len(actions)
    assert {a.prediction_id for a in actions} == {rows[30].prediction_id}
    assert summary["alerts"]["prediction_ids"] == [str(rows[30].prediction_id)]


def test_the_guides_error_predictor_grades_confidence_the_same_way(monkeypatch):
    from ml_prediction.engines.types import ErrorPredictionResult
    from ml_prediction.models import MLModel
    from ml_prediction.services import orchestrator, registry

    now = timezone.now()
    results = [
        ErrorPredictionResult(
            timestamp=now,
            target="incident",
            predicted_error_type="ErrorBurst",
            probability=0.82,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=horizon,
            predicted_timestamp=now + timedelta(minutes=horizon),
        )
        for horizon in (30, 1440)
    ]
    loaded = SimpleNamespace(
        artifact=SimpleNamespace(predict=lambda frame, config: results),
        record=MLModel(metrics=METRICS),
    )
    monkeypatch.setattr(registry, "registry_load_active", lambda **_: loaded)

    found = orchestrator.ErrorPredictor().predict_errors("django")

    assert {p["time_horizon_minutes"]: p["confidence_level"] for p in found} == {
        30: "high",
        1440: "low",
    }
