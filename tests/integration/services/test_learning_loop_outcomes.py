"""Outcomes resolved from the stored data, daily tracking over resolved predictions only, and
a drift that compares like with like (real PostgreSQL, the registry's verified artifacts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from error_logging.services import ingest_errors
from ml_prediction.engines.predictor import ErrorPredictorModel
from ml_prediction.engines.types import TrainingReport
from ml_prediction.models import ErrorPrediction, MLModel, ModelPerformanceTracking
from ml_prediction.services import registry
from ml_prediction.services.feedback import (
    performance_tracking_refresh,
    prediction_feedback_record,
    prediction_mark_occurred,
)
from ml_prediction.tasks import refresh_performance_tracking

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

THRESHOLDS = {"timeout": 20.0, "database": 20.0, "critical": 3.0}


@pytest.fixture(autouse=True)
def _setup(monkeypatch, tmp_path):
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "ARTIFACT_DIR", str(tmp_path))
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "FEATURE_CACHE_TTL", 0)
    registry.registry_cache_clear()


@pytest.fixture
def model() -> MLModel:
    artifact = ErrorPredictorModel(
        algorithm="xgboost",
        feature_names=[],
        models=[],
        thresholds=dict(THRESHOLDS),
        bucket_minutes=5,
        report=TrainingReport("xgboost", 1, 1, {"precision": 0.9}),
    )
    record = registry.registry_store(
        service="django",
        model_type="error_classifier",
        artifact=artifact,
        report=artifact.report,
        framework="xgboost",
    )
    return registry.model_activate(model_id=record.model_id)


def _bucket(moment):
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


NOW = _bucket(timezone.now())


def _prediction(model, *, category, minutes_ago, horizon=30, probability=0.8, **extra):
    bucket = NOW - timedelta(minutes=minutes_ago)
    return ErrorPrediction.objects.create(
        model=model,
        service="django",
        predicted_error_type=extra.pop("error_type", f"{category.title()}Error"),
        predicted_category=category,
        probability=probability,
        time_horizon_minutes=horizon,
        prediction_bucket=bucket,
        predicted_timestamp=bucket + timedelta(minutes=5 + horizon),
        created_at=bucket,
        **extra,
    )


def _errors(at, n, error_type="TimeoutError"):
    ingest_errors(
        service="django",
        items=[
            {"error_type": error_type, "message": "timed out", "occurred_at": at.isoformat()}
            for _ in range(n)
        ],
    )


def test_an_ended_prediction_is_resolved_from_the_data_with_the_models_burst_thresholds(model):
    from ml_prediction.services.feedback import prediction_outcomes_resolve

    came_true = _prediction(model, category="timeout", minutes_ago=120)
    _errors(came_true.prediction_bucket + timedelta(minutes=16), 500)  # the acceptance case
    quiet = _prediction(model, category="database", minutes_ago=120)
    too_few = _prediction(model, category="timeout", minutes_ago=240)
    _errors(too_few.prediction_bucket + timedelta(minutes=10), 5)  # below the threshold of 20
    incident = _prediction(model, category="incident", minutes_ago=120)
    running = _prediction(model, category="timeout", minutes_ago=10)  # horizon not over

    result = prediction_outcomes_resolve(now=NOW)

    for p in (came_true, quiet, too_few, incident, running):
        p.refresh_from_db()
    assert came_true.actual_error_occurred is True
    assert came_true.actual_occurred_at == came_true.prediction_bucket + timedelta(minutes=15)
    assert quiet.actual_error_occurred is False and quiet.actual_occurred_at is None
    assert too_few.actual_error_occurred is False
    assert incident.actual_error_occurred is True  # a timeout burst is an incident
    assert running.actual_error_occurred is None
    assert (result.resolved, result.occurred, result.not_occurred) == (4, 2, 2)


def test_a_burst_outside_the_horizon_does_not_count(model):
    from ml_prediction.services.feedback import prediction_outcomes_resolve

    p = _prediction(model, category="timeout", minutes_ago=240)
    _errors(p.prediction_bucket, 100)  # in the bucket predicted from, not after it
    _errors(p.predicted_timestamp + timedelta(minutes=1), 100)  # after the horizon

    prediction_outcomes_resolve(now=NOW)

    p.refresh_from_db()
    assert p.actual_error_occurred is False


def test_a_persons_mark_and_verdict_are_not_overwritten(model):
    from ml_prediction.services.feedback import prediction_outcomes_resolve

    marked = _prediction(model, category="database", minutes_ago=120)
    when = marked.predicted_timestamp - timedelta(minutes=2)
    prediction_mark_occurred(
        prediction_id=marked.prediction_id, error_id=None, timestamp=when, actor="ops"
    )
    said_fp = _prediction(model, category="timeout", minutes_ago=240)
    _errors(said_fp.prediction_bucket + timedelta(minutes=10), 50)
    prediction_feedback_record(
        prediction_id=said_fp.prediction_id, verdict="false_positive", comment="", actor="ops"
    )

    prediction_outcomes_resolve(now=NOW)
    performance_tracking_refresh(day=timezone.localdate(said_fp.created_at))

    marked.refresh_from_db()
    said_fp.refresh_from_db()
    assert marked.actual_error_occurred is True and marked.actual_occurred_at == when
    assert said_fp.actual_error_occurred is True  # the data: it burst within the horizon
    assert said_fp.feedback.get().verdict == "false_positive"  # the verdict is kept as given
    # and the data wins over the verdict in the tracking: a true positive
    rows = ModelPerformanceTracking.objects.filter(model=model)
    assert sum(r.false_positives for r in rows) == 0


def test_a_tampered_artifact_is_not_used_and_its_predictions_stay_unresolved(model):
    from pathlib import Path

    from ml_prediction.services.feedback import prediction_outcomes_resolve

    p = _prediction(model, category="timeout", minutes_ago=120)
    root = Path(settings.ML_PREDICTION_CONFIG["ARTIFACT_DIR"]) / model.artifact_path
    (root / "predictor.json").write_text("{}")

    result = prediction_outcomes_resolve(now=NOW)

    p.refresh_from_db()
    assert p.actual_error_occurred is None
    assert result.skipped == {"model artifact unavailable": 1}


def test_an_expired_prediction_without_outcome_is_not_a_false_positive(model):
    _prediction(model, category="timeout", minutes_ago=120)  # horizon over, nothing recorded

    performance_tracking_refresh(day=timezone.localdate(NOW - timedelta(minutes=120)))

    row = ModelPerformanceTracking.objects.get(model=model)
    assert row.predictions_made == 1
    assert row.false_positives == 0
    assert row.precision_today is None and row.accuracy_today is None


def test_recall_is_null_without_stored_negatives(model):
    p = _prediction(model, category="timeout", minutes_ago=120, actual_error_occurred=True)

    performance_tracking_refresh(day=timezone.localdate(p.created_at))

    row = ModelPerformanceTracking.objects.get(model=model)
    assert row.precision_today == 1.0
    assert row.recall_today is None  # only likely predictions are stored: no miss is visible


def test_the_daily_task_resolves_then_tracks_every_day_it_touched(model):
    # a 24 h prediction made two days ago ended after yesterday's run: its day is refreshed
    old = _prediction(model, category="timeout", minutes_ago=2 * 1440, horizon=1440)
    _errors(old.prediction_bucket + timedelta(hours=3), 60)
    fresh = _prediction(model, category="database", minutes_ago=120)

    result = refresh_performance_tracking.apply().get()

    assert result["outcomes"]["resolved"] == 2
    old_day = timezone.localdate(old.created_at).isoformat()
    assert result["rows"][old_day] == 1
    row = ModelPerformanceTracking.objects.get(
        model=model, tracking_date=timezone.localdate(old.created_at)
    )
    assert row.precision_today == 1.0 and row.false_positives == 0
    fresh_row = ModelPerformanceTracking.objects.get(
        model=model, tracking_date=timezone.localdate(fresh.created_at)
    )
    assert fresh_row.false_positives >= 1


def test_no_drift_when_the_tracked_precision_matches_the_held_out_precision(model):
    from ml_prediction.services.insights import _drift

    # held-out: accuracy 0.99 (quiet buckets), precision 0.6 at the threshold; tracked: 18 of
    # 30 stored predictions came true, the same 0.6. Compared with the accuracy (as before)
    # this read as a critical drift of 39 points.
    MLModel.objects.filter(model_id=model.model_id).update(accuracy=0.99, precision=0.6)
    for i in range(30):
        _prediction(
            model,
            category="timeout",
            minutes_ago=60 + 5 * i,
            actual_error_occurred=i >= 12,
        )
    for day in {timezone.localdate(NOW - timedelta(minutes=m)) for m in (60, 210)}:
        performance_tracking_refresh(day=day)

    assert _drift("django", NOW) == []


def test_the_outcome_says_who_recorded_it_and_only_a_persons_mark_is_training_feedback(model):
    from ml_prediction.services.feedback import prediction_outcomes_resolve
    from ml_prediction.services.training import feedback_frame_for_service

    resolved_true = _prediction(model, category="timeout", minutes_ago=120)
    _errors(resolved_true.prediction_bucket + timedelta(minutes=16), 500)
    resolved_false = _prediction(model, category="database", minutes_ago=240)
    marked = _prediction(model, category="database", minutes_ago=125)
    prediction_mark_occurred(
        prediction_id=marked.prediction_id,
        error_id=None,
        timestamp=marked.predicted_timestamp - timedelta(minutes=2),
        actor="ops",
    )

    prediction_outcomes_resolve(now=NOW)

    for p in (resolved_true, resolved_false, marked):
        p.refresh_from_db()
    assert resolved_true.actual_outcome_source == "data"
    assert resolved_false.actual_outcome_source == "data"
    assert marked.actual_outcome_source == "person"
    # a resolved "did not occur" that a person then marks as occurred is the person's
    prediction_mark_occurred(
        prediction_id=resolved_false.prediction_id,
        error_id=None,
        timestamp=resolved_false.predicted_timestamp - timedelta(minutes=2),
        actor="ops",
    )
    resolved_false.refresh_from_db()
    assert resolved_false.actual_error_occurred is True
    assert resolved_false.actual_outcome_source == "person"
    # the retraining's feedback: the people's marks, not the data's own labels again
    frame = feedback_frame_for_service(service="django", since=NOW - timedelta(days=1))
    assert sorted(frame["timestamp"]) == sorted(
        [marked.prediction_bucket, resolved_false.prediction_bucket]
    )
    assert frame["occurred"].tolist() == [True, True]


def test_outcomes_recorded_before_the_source_existed_are_attributed_from_the_audit_trail(model):
    """Migration 0007: a mark_occurred left an audit event; every other outcome was resolved."""
    import importlib

    from django.apps import apps as global_apps
    from django.db import connections

    from ml_prediction.services.audit import audit_record

    migration = importlib.import_module("ml_prediction.migrations.0007_prediction_outcome_source")
    marked = _prediction(model, category="database", minutes_ago=120, actual_error_occurred=True)
    audit_record(
        actor="ops",
        action="prediction.mark_occurred",
        object_type="prediction",
        object_id=marked.prediction_id,
    )
    resolved = _prediction(model, category="timeout", minutes_ago=240, actual_error_occurred=False)
    open_one = _prediction(model, category="timeout", minutes_ago=60)

    class _Editor:
        connection = connections["ml_prediction"]

    migration.attribute_existing_outcomes(global_apps, _Editor())

    for p in (marked, resolved, open_one):
        p.refresh_from_db()
    assert marked.actual_outcome_source == "person"
    assert resolved.actual_outcome_source == "data"
    assert open_one.actual_outcome_source == ""
