"""A prediction names the error type being thrown now in its category, not the most frequent
one at training time ("OperationalError" was paged while only DatabaseConnectionTimeout came in)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_a_category_prediction_names_the_type_thrown_in_the_last_hour(monkeypatch):
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.normalize import derive_category
    from error_logging.services import ingest_errors
    from ml_prediction.engines.types import ErrorPredictionResult
    from ml_prediction.services import orchestrator

    now = timezone.now()
    thrown = "DatabaseConnectionTimeout"
    category = derive_category(thrown, "could not obtain a connection from the pool")
    with analysis_requests_suspended():
        ingest_errors(
            service="django",
            items=[
                {
                    "error_type": thrown,
                    "message": "could not obtain a connection from the pool",
                    "severity": "critical",
                    "occurred_at": (now - timedelta(minutes=5 + i)).isoformat(),
                }
                for i in range(20)
            ],
        )

    def result(target: str, name: str) -> ErrorPredictionResult:
        return ErrorPredictionResult(
            timestamp=now,
            target=target,
            predicted_error_type=name,
            probability=0.8,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=30,
            predicted_timestamp=now + timedelta(minutes=30),
        )

    trained_names = [result(category, "OperationalError"), result("incident", "ErrorBurst")]
    artifact = SimpleNamespace(predict=lambda frame, config: trained_names)
    monkeypatch.setattr(
        orchestrator._Run,
        "_active",
        lambda self, kind: SimpleNamespace(artifact=artifact, record=None),
    )
    run = orchestrator._Run(service="django", analysis_type="full", as_of=now)

    results, _ = run._predictions(pd.DataFrame())

    names = {r.target: r.predicted_error_type for r in results}
    assert names == {category: thrown, "incident": "ErrorBurst"}


def test_a_head_no_better_than_chance_on_its_held_out_days_never_pages(settings):
    from ml_prediction.engines.types import ErrorPredictionResult
    from ml_prediction.models import MLModel
    from ml_prediction.services.orchestrator import pages_worthy

    now = timezone.now()
    model = MLModel(
        metrics={
            "incident@30.roc_auc": 0.86,
            "incident@1440.roc_auc": 0.51,  # chance
            "database@30.roc_auc": 0.71,
        }
    )

    def result(target: str, horizon: int, probability: float = 0.82) -> ErrorPredictionResult:
        return ErrorPredictionResult(
            timestamp=now,
            target=target,
            predicted_error_type=target,
            probability=probability,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=horizon,
            predicted_timestamp=now + timedelta(minutes=horizon),
        )

    candidates = [
        result("incident", 30),
        result("incident", 1440),
        result("database", 30, probability=0.5),  # below ALERT_PROBABILITY
        result("critical", 120),  # skill never measured (no bursts then): none shown
    ]

    paged = pages_worthy(candidates, model, settings.ML_PREDICTION_CONFIG)

    assert [(p.target, p.time_horizon_minutes) for p in paged] == [("incident", 30)]


def test_the_trust_rule_reads_the_calibration_rows_skill_when_the_model_has_it(settings):
    """Choosing heads by their held-out ROC-AUC and then reporting it flatters it: the gate
    reads the head's skill on its calibration rows; the held-out figure is only reported."""
    from ml_prediction.engines.types import ErrorPredictionResult
    from ml_prediction.models import MLModel
    from ml_prediction.services.orchestrator import pages_worthy

    now = timezone.now()
    model = MLModel(
        metrics={
            "incident@30.roc_auc": 0.86,
            "incident@30.cal_roc_auc": 0.55,  # no skill before the test slice
            "timeout@30.roc_auc": 0.58,
            "timeout@30.cal_roc_auc": 0.74,
        }
    )
    candidates = [
        ErrorPredictionResult(
            timestamp=now,
            target=target,
            predicted_error_type=target,
            probability=0.9,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=30,
            predicted_timestamp=now + timedelta(minutes=30),
        )
        for target in ("incident", "timeout")
    ]

    paged = pages_worthy(candidates, model, settings.ML_PREDICTION_CONFIG)

    assert [p.target for p in paged] == ["timeout"]


def test_a_prediction_no_likelier_than_its_heads_usual_rate_does_not_page(settings):
    """Found on call: "ErrorBurst on django: 100% within 24 hours" paged a quiet service every
    cooldown: its 24-hour head had skill, but 85% of its training days had a burst."""
    from ml_prediction.engines.types import ErrorPredictionResult
    from ml_prediction.models import MLModel
    from ml_prediction.services.orchestrator import pages_worthy

    now = timezone.now()
    model = MLModel(
        metrics={
            "incident@1440.cal_roc_auc": 0.997,
            "incident@1440.base_rate": 0.85,
            "incident@30.cal_roc_auc": 0.9,
            "incident@30.base_rate": 0.04,
            "timeout@30.cal_roc_auc": 0.8,  # trained before base rates were kept: judged as before
        }
    )
    candidates = [
        ErrorPredictionResult(
            timestamp=now,
            target=target,
            predicted_error_type=target,
            probability=0.99,
            predicted_severity="high",
            confidence_level="high",
            time_horizon_minutes=horizon,
            predicted_timestamp=now + timedelta(minutes=horizon),
        )
        for target, horizon in (("incident", 1440), ("incident", 30), ("timeout", 30))
    ]

    paged = pages_worthy(candidates, model, settings.ML_PREDICTION_CONFIG)

    assert [(p.target, p.time_horizon_minutes) for p in paged] == [
        ("incident", 30),
        ("timeout", 30),
    ]
    # and the usual state moves nobody to act either (no actions, no recommendations)
    from ml_prediction.services.orchestrator import _actionable

    config = settings.ML_PREDICTION_CONFIG
    assert [_actionable(p, model, config) for p in candidates] == [False, True, True]
    # a stricter lift (ML_ALERT_MIN_LIFT=30) leaves the 30-minute head out too (0.99 < 30 × 0.04)
    strict = {**settings.ML_PREDICTION_CONFIG, "ALERT_MIN_LIFT": 30.0}
    assert [p.target for p in pages_worthy(candidates, model, strict)] == ["timeout"]
