"""Feedback services: daily ModelPerformanceTracking from outcomes and verdicts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from error_logging.models import ErrorLog
from ml_prediction.models import (
    ErrorPrediction,
    MLModel,
    ModelPerformanceTracking,
    PreventiveAction,
)
from ml_prediction.services.errors import InvalidTransition, NotFound
from ml_prediction.services.feedback import (
    anomaly_acknowledge,
    performance_tracking_refresh,
    prediction_feedback_record,
    prediction_mark_occurred,
)

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def model():
    return MLModel.objects.create(
        model_name="django-clf",
        model_type="error_classifier",
        service="django",
        model_algorithm="xgboost",
        status="active",
    )


def _prediction(model, *, probability, due_in_minutes, minute, **extra):
    now = timezone.now()
    return ErrorPrediction.objects.create(
        model=model,
        service="django",
        predicted_error_type="Timeout",
        probability=probability,
        time_horizon_minutes=30,
        prediction_bucket=now - timedelta(minutes=minute),
        predicted_timestamp=now + timedelta(minutes=due_in_minutes),
        created_at=now,
        **extra,
    )


def test_refresh_counts_outcomes_per_model_and_day(model):
    # positives (probability >= 0.6): one occurred, one resolved as not occurred (FP), one FP
    # verdict, one still pending; negatives: one resolved as not occurred (TN), one occurred
    # (FN). An expired horizon alone is no outcome (it was counted as one before);
    # `prediction_outcomes_resolve` records actual_error_occurred=False from the data.
    occurred = _prediction(model, probability=0.9, due_in_minutes=-5, minute=1)
    expired = _prediction(
        model, probability=0.8, due_in_minutes=-5, minute=2, actual_error_occurred=False
    )
    said_fp = _prediction(model, probability=0.7, due_in_minutes=30, minute=3)
    _prediction(model, probability=0.95, due_in_minutes=30, minute=4)
    _prediction(model, probability=0.1, due_in_minutes=-5, minute=5, actual_error_occurred=False)
    missed = _prediction(model, probability=0.2, due_in_minutes=-5, minute=6)
    # an occurrence is a stored error of the service, inside the prediction's horizon
    for found in (occurred, missed):
        when = found.predicted_timestamp - timedelta(minutes=1)
        error = ErrorLog.objects.create(service="django", error_type="Timeout", occurred_at=when)
        prediction_mark_occurred(
            prediction_id=found.prediction_id,
            error_id=error.error_id,
            timestamp=when,
            actor="ops",
        )
    prediction_feedback_record(
        prediction_id=said_fp.prediction_id, verdict="false_positive", comment="", actor="ops"
    )
    PreventiveAction.objects.create(
        prediction=expired,
        service="django",
        action_type="restart",
        title="restart",
        priority="high",
        status="executed",
    )

    written = performance_tracking_refresh(day=timezone.localdate())

    row = ModelPerformanceTracking.objects.get(model=model)
    assert written == 1
    assert row.predictions_made == 6
    assert row.predictions_correct == 2  # 1 TP + 1 TN
    assert row.false_positives == 2
    assert row.errors_prevented == 1
    assert row.precision_today == pytest.approx(1 / 3, abs=1e-3)
    assert row.recall_today == 0.5
    assert row.accuracy_today == 0.4


def test_refresh_is_idempotent(model):
    _prediction(model, probability=0.9, due_in_minutes=-5, minute=1)

    performance_tracking_refresh(day=timezone.localdate())
    performance_tracking_refresh(day=timezone.localdate())

    assert ModelPerformanceTracking.objects.filter(model=model).count() == 1


def test_refresh_of_an_empty_day_writes_nothing(model):
    assert performance_tracking_refresh(day=timezone.localdate() - timedelta(days=400)) == 0


def test_acknowledge_twice_raises_invalid_transition():
    from ml_prediction.models import AnomalyDetection

    now = timezone.now()
    anomaly = AnomalyDetection.objects.create(
        service="vue",
        window_start=now,
        window_end=now,
        anomaly_score=0.9,
        is_anomaly=True,
        severity_level="high",
    )
    anomaly_acknowledge(anomaly_id=anomaly.anomaly_id, actor="ops")

    with pytest.raises(InvalidTransition):
        anomaly_acknowledge(anomaly_id=anomaly.anomaly_id, actor="ops")


def test_unknown_prediction_raises_not_found():
    with pytest.raises(NotFound):
        prediction_feedback_record(
            prediction_id=uuid.uuid4(), verdict="true_positive", comment="", actor="ops"
        )
