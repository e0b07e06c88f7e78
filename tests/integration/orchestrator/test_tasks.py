"""Celery tasks against a real worker process: signal → task → rows, locks, kills, tampering."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone

from tests.integration.orchestrator.conftest import (
    BOTH_DBS,
    load_traffic,
    start_worker,
    wait_for,
)

worker_db = pytest.mark.django_db(databases=BOTH_DBS, transaction=True)


@pytest.mark.parametrize(
    ("name", "task", "schedule"),
    [
        (
            "train-models",
            "ml_prediction.tasks.train_error_prediction_models",
            crontab(hour=2, minute=0),
        ),
        ("batch-predictions", "ml_prediction.tasks.predict_errors_batch", crontab(minute=0)),
        (
            "anomaly-detection",
            "ml_prediction.tasks.detect_anomalies_background",
            crontab(minute="*/15"),
        ),
        ("insights-generation", "ml_prediction.tasks.generate_ai_insights", crontab(minute="*/30")),
        (
            "cleanup-old-predictions",
            "ml_prediction.tasks.cleanup_old_predictions",
            crontab(hour=3, minute=30),
        ),
        (
            "sweep-unanalysed-services",
            "ml_prediction.tasks.sweep_unanalysed_services",
            crontab(minute="*/5"),
        ),
        (
            "refresh-performance-tracking",
            "ml_prediction.tasks.refresh_performance_tracking",
            crontab(minute=20),  # hourly: outcomes of 30-minute predictions resolve within the hour
        ),
    ],
)
def test_beat_schedule_has_the_guides_crontabs_and_registered_tasks(name, task, schedule):
    import ml_prediction.tasks  # noqa: F401  (registers the tasks, as CELERY_IMPORTS does)
    from feeding_hearts.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE[name]

    assert entry["task"] == task
    assert entry["schedule"] == schedule
    assert "ml_prediction.tasks" in settings.CELERY_IMPORTS
    assert task in app.tasks


def test_training_tasks_go_to_the_training_queue_with_the_time_limit():
    from ml_prediction.tasks import run_analysis_for_service, train_service_models

    limit = settings.ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"]
    assert settings.CELERY_TASK_ROUTES["ml_prediction.tasks.train_service_models"] == {
        "queue": "training"
    }
    assert train_service_models.soft_time_limit == limit
    assert train_service_models.time_limit > limit
    assert train_service_models.acks_late and run_analysis_for_service.acks_late
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "analysis"


@worker_db
def test_ingested_errors_reach_the_orchestrator_through_the_worker(
    celery_worker_process, redis_clean
):
    from error_logging.services import ingest_errors
    from ml_prediction.models import AnomalyDetection

    sim = load_traffic("laravel", days=0.3, seed=5)
    batch = [
        dict(e, error_id=None, occurred_at=timezone.now().isoformat()) for e in sim.errors[:20]
    ]
    for item in batch:
        item.pop("error_id")

    ingest_errors(service="laravel", items=batch)  # signal → debounced request → task

    rows = wait_for(
        lambda: list(AnomalyDetection.objects.filter(service="laravel")),
        timeout=60,
        message="anomaly rows written by the worker",
    )
    assert len(rows) == 12  # the last hour of closed buckets, scored
    assert {r.detection_state for r in rows} == {"learning"}  # no model trained yet
    assert "run_analysis_for_service" in celery_worker_process.log()


@worker_db
def test_a_held_lock_makes_a_second_analysis_skip(celery_worker_process, redis_clean):
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services.locks import service_lock
    from ml_prediction.tasks import run_analysis_for_service

    load_traffic("java", days=0.2, seed=2)

    with service_lock(service="java", kind="analysis", timeout=60):
        busy = run_analysis_for_service.delay("java", "quick").get(timeout=60)
    free = run_analysis_for_service.delay("java", "quick").get(timeout=60)

    assert busy["status"] == "skipped" and "already running" in busy["reason"]
    assert free["status"] == "completed"
    assert AnomalyDetection.objects.filter(service="java").count() == 12


@pytest.mark.django_db(databases=BOTH_DBS)
def test_a_lock_whose_owner_died_is_taken_over(redis_clean):
    import redis

    from ml_prediction.services.locks import LockHeld, service_lock

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set("fh-lock:training:react", f"{socket.gethostname()}:999999:dead", ex=600)
    client.set("fh-lock:training:vue", f"{socket.gethostname()}:{os.getpid()}:alive", ex=600)

    with service_lock(service="react", kind="training", timeout=60):
        taken = client.get("fh-lock:training:react").decode()
    with pytest.raises(LockHeld):
        with service_lock(service="vue", kind="training", timeout=60):
            pass

    assert not taken.endswith(":dead")


@worker_db
def test_a_training_killed_midway_is_marked_failed_and_the_old_model_keeps_serving(
    redis_clean, artifact_dir, tmp_path
):
    import json

    from ml_prediction.models import MLModel, ModelTrainingHistory
    from ml_prediction.services.locks import service_lock
    from ml_prediction.services.training import training_run_for_service
    from ml_prediction.tasks import train_service_models

    load_traffic("flutter", days=1.5, seed=4)
    training_run_for_service(service="flutter", model_types=["anomaly_detection"])
    old = MLModel.objects.get(service="flutter", model_type="anomaly_detection", status="active")
    # A worker whose anomaly fit is slow enough to be killed in the middle of it.
    slow = {"AnomalyConfig": {"n_estimators": 20000}}
    worker = start_worker(
        artifact_dir=artifact_dir,
        log_dir=tmp_path,
        name="orch-doomed",
        extra_env={"ML_ENGINE_OVERRIDES": json.dumps(slow)},
        queues=f"doomed-{os.getpid()}",  # only this worker may take the task
    )
    try:
        train_service_models.apply_async(
            ("flutter", ["anomaly_detection"]), queue=f"doomed-{os.getpid()}"
        )
        running = wait_for(
            lambda: ModelTrainingHistory.objects.filter(
                service="flutter", status="running"
            ).first(),
            timeout=60,
            message="the training run to start",
        )
    finally:
        worker.kill()

    with service_lock(service="flutter", kind="training", timeout=60):  # dead owner: taken over
        training_run_for_service(service="flutter", model_types=["root_cause"])  # reaps first

    running.refresh_from_db()
    assert running.status == "failed"
    assert "died during training" in running.failure_reason
    assert list(MLModel.objects.filter(service="flutter", model_type="anomaly_detection")) == [old]
    assert MLModel.objects.get(model_id=old.model_id).status == "active"


@worker_db
def test_a_tampered_artifact_is_refused_and_the_service_falls_back_to_learning(
    celery_worker_process, redis_clean, artifact_dir
):
    from ml_prediction.models import MLModel
    from ml_prediction.services.registry import ArtifactIntegrityError, registry_load_active
    from ml_prediction.services.training import training_run_for_service
    from ml_prediction.tasks import run_analysis_for_service

    load_traffic("angular", days=1.5, seed=6)
    training_run_for_service(service="angular", model_types=["anomaly_detection"])
    model = MLModel.objects.get(service="angular", model_type="anomaly_detection", status="active")
    trusted = run_analysis_for_service.delay("angular", "quick").get(timeout=60)
    artifact = next(
        p for p in (artifact_dir / model.artifact_path).iterdir() if p.name != "manifest.json"
    )
    with artifact.open("ab") as handle:
        handle.write(b"\x00")

    refused = run_analysis_for_service.delay("angular", "quick").get(timeout=60)

    assert trusted["learning"] is False
    assert refused["learning"] is True
    assert "sha256 mismatch" in refused["skipped"]["anomaly_detection"]
    with pytest.raises(ArtifactIntegrityError):
        registry_load_active(service="angular", model_type="anomaly_detection")


@worker_db
def test_feedback_changes_the_tracked_accuracy(celery_worker_process, redis_clean):
    from ml_prediction.models import ErrorPrediction, MLModel, ModelPerformanceTracking
    from ml_prediction.services.feedback import prediction_feedback_record
    from ml_prediction.tasks import refresh_performance_tracking

    now = timezone.now()
    model = MLModel.objects.create(
        model_name="django-clf",
        model_type="error_classifier",
        service="django",
        model_algorithm="xgboost",
        status="active",
    )
    predictions = [
        ErrorPrediction.objects.create(
            model=model,
            service="django",
            predicted_error_type=f"Type{i}",
            probability=0.9,
            time_horizon_minutes=30,
            prediction_bucket=now - timedelta(minutes=5),
            predicted_timestamp=now + timedelta(minutes=30),
            created_at=now,
        )
        for i in range(4)
    ]
    day = now.date().isoformat()
    refresh_performance_tracking.delay(day).get(timeout=60)
    before = ModelPerformanceTracking.objects.get(model=model).predictions_correct

    for p in predictions[:3]:
        prediction_feedback_record(
            prediction_id=p.prediction_id, verdict="true_positive", comment="", actor="ops"
        )
    prediction_feedback_record(
        prediction_id=predictions[3].prediction_id,
        verdict="false_positive",
        comment="noise",
        actor="ops",
    )
    refresh_performance_tracking.delay(day).get(timeout=60)

    after = ModelPerformanceTracking.objects.get(model=model)
    assert before == 0
    assert after.predictions_made == 4 and after.predictions_correct == 3
    assert after.accuracy_today == pytest.approx(0.75)


@worker_db
def test_cleanup_deletes_only_results_older_than_the_setting(celery_worker_process, redis_clean):
    from ml_prediction.models import AnomalyDetection, ErrorPrediction, TimeSeriesForecast
    from ml_prediction.tasks import cleanup_old_predictions

    keep_days = settings.ML_PREDICTION_CONFIG["CLEANUP_OLD_PREDICTIONS_DAYS"]
    now = timezone.now()
    for age, label in ((keep_days + 1, "old"), (keep_days - 1, "recent")):
        at = now - timedelta(days=age)
        ErrorPrediction.objects.create(
            service="vue",
            predicted_error_type=label,
            probability=0.8,
            time_horizon_minutes=30,
            prediction_bucket=at,
            predicted_timestamp=at,
            created_at=at,
        )
        AnomalyDetection.objects.create(
            service="vue",
            window_start=at,
            window_end=at + timedelta(minutes=5),
            anomaly_score=0.9,
            severity_level="high",
            detected_at=at,
        )
        TimeSeriesForecast.objects.create(
            service="vue",
            forecast_start=at,
            forecast_end=at + timedelta(hours=1),
            created_at=at,
        )

    deleted = cleanup_old_predictions.delay().get(timeout=60)

    assert deleted == {"predictions": 1, "anomalies": 1, "forecasts": 1, "analysis_runs": 0}
    assert list(ErrorPrediction.objects.values_list("predicted_error_type", flat=True)) == [
        "recent"
    ]
    assert AnomalyDetection.objects.count() == 1 and TimeSeriesForecast.objects.count() == 1


@worker_db
# it orders timestamps this process and the worker wrote a tenth of a second apart; under
# --clock the travelled worker's clock is within ~0.2 s of this one (measured), not exact
@pytest.mark.real_clock
def test_the_sweep_queues_services_with_unanalysed_rollups(celery_worker_process, redis_clean):
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.tasks import sweep_unanalysed_services

    load_traffic("react", days=0.1, seed=8)

    swept = sweep_unanalysed_services.delay().get(timeout=60)

    assert swept["services"] == ["react"]
    wait_for(
        lambda: AnomalyDetection.objects.filter(service="react").exists(), message="sweep analysis"
    )
    assert sweep_unanalysed_services.delay().get(timeout=60)["services"] == []
