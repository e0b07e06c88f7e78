"""A worker SIGKILLed in the middle of a full analysis: the task goes to another worker and
completes once; the killed run's half-written transaction leaves nothing behind.

The analysis is held in the middle of its write transaction by a real database lock on the
forecast table (as a long-running migration or a DBA's ``LOCK TABLE`` would): by then it has
upserted its anomaly and prediction rows, uncommitted, and waits to write its forecasts. The
worker is killed there. The second worker runs with a short broker visibility timeout
(``CELERY_BROKER_VISIBILITY_TIMEOUT``), so the unacknowledged message (``acks_late``) is
delivered again at once instead of after the production two hours.
"""

from __future__ import annotations

import os
import time

import psycopg2
import pytest
import redis
from django.conf import settings
from django.db import connections
from django.db.models import Count

from tests.integration.orchestrator.conftest import (
    BOTH_DBS,
    load_traffic,
    start_worker,
    wait_for,
)

# Every prediction is stored (not only likely ones) so the prediction rows are many; nothing
# reaches the alert probability, so no alert tasks are queued.
WORKER_ENV = {"ML_PREDICTION_THRESHOLD": "0", "ML_ALERT_PROBABILITY": "1"}
VISIBILITY_SECONDS = 1


def _connection():
    """A connection of our own to the ML test database, outside Django's (it holds a lock)."""
    conf = connections["ml_prediction"].settings_dict
    return psycopg2.connect(
        dbname=conf["NAME"],
        user=conf["USER"],
        password=conf["PASSWORD"],
        host=conf["HOST"],
        port=conf["PORT"],
        options="-c search_path=ai_models,public",
    )


def _backends_waiting_on(cursor, table: str) -> list[int]:
    cursor.execute(
        "SELECT l.pid FROM pg_locks l WHERE NOT l.granted AND l.relation = %s::regclass",
        [f"ai_models.{table}"],
    )
    return [row[0] for row in cursor.fetchall()]


def _tables_written_by(cursor, pid: int) -> set[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE l.pid = %s AND l.granted AND l.mode = 'RowExclusiveLock'",
        [pid],
    )
    return {row[0] for row in cursor.fetchall()}


def _backend_alive(cursor, pid: int) -> bool:
    cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
    return cursor.fetchone() is not None


def _duplicates(model, *key: str) -> int:
    groups = model.objects.values(*key).annotate(n=Count("pk")).filter(n__gt=1)
    return groups.count()


@pytest.mark.django_db(databases=BOTH_DBS, transaction=True)
def test_an_analysis_killed_midway_is_redelivered_and_completes_once(
    redis_clean, artifact_dir, tmp_path
):
    from celery.result import AsyncResult

    from ml_prediction.models import AnomalyDetection, ErrorPrediction, TimeSeriesForecast
    from ml_prediction.services.training import training_run_for_service
    from ml_prediction.tasks import run_analysis_for_service

    # given a service with trained anomaly, classifier and forecast models
    load_traffic("angular", days=4, seed=11, errors_per_minute=2.0, incidents_per_week=10)
    histories = training_run_for_service(
        service="angular",
        model_types=["anomaly_detection", "error_classifier", "time_series_forecast"],
    )
    assert {h.model_type for h in histories if h.status == "completed"} == {
        "anomaly_detection",
        "error_classifier",
        "time_series_forecast",
    }
    queue = f"analysis-kill-{os.getpid()}"  # only our two workers take it
    doomed = start_worker(
        artifact_dir=artifact_dir,
        log_dir=tmp_path,
        name="analysis-doomed",
        extra_env=WORKER_ENV,
        queues=queue,
    )
    lock, monitor = _connection(), _connection()
    monitor.autocommit = True  # pg_stat_activity is read once per transaction otherwise
    try:
        with lock.cursor() as locking, monitor.cursor() as watching:
            # when the worker's analysis is stuck writing its forecasts, and is killed there
            locking.execute("LOCK TABLE time_series_forecasts IN SHARE MODE")
            task = run_analysis_for_service.apply_async(("angular", "full"), queue=queue)
            sent_at = time.monotonic()
            waiting = wait_for(
                lambda: _backends_waiting_on(watching, "time_series_forecasts"),
                timeout=60,
                message="the analysis to reach its forecast upsert",
            )
            # (it has written its anomaly and prediction rows in the open transaction)
            written = set().union(*(_tables_written_by(watching, pid) for pid in waiting))
            doomed.kill()
            lock.commit()  # the orphaned session gets the lock, finds its client gone, rolls back
            wait_for(
                lambda: not any(_backend_alive(watching, pid) for pid in waiting),
                timeout=30,
                message="the killed worker's database session to end",
            )
    finally:
        doomed.kill()
        lock.close()
        monitor.close()

    # then the killed run left nothing (its transaction was never committed)
    assert {"anomaly_detections", "error_predictions"} <= written
    assert AnomalyDetection.objects.filter(service="angular").count() == 0
    assert ErrorPrediction.objects.filter(service="angular").count() == 0
    assert "run_analysis_for_service" in doomed.log() and task.id in doomed.log()

    # when a second worker starts, after the visibility timeout of the unacknowledged message
    time.sleep(max(0.0, sent_at + VISIBILITY_SECONDS + 0.5 - time.monotonic()))
    rescuer = start_worker(
        artifact_dir=artifact_dir,
        log_dir=tmp_path,
        name="analysis-rescuer",
        extra_env={**WORKER_ENV, "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS)},
        queues=queue,
    )
    done = f"[{task.id}] succeeded in"
    try:
        summary = AsyncResult(task.id).get(timeout=60)
        # the pool process logs its success just after storing the result; stopping the worker
        # before that would cut the line
        wait_for(lambda: done in rescuer.log(), timeout=30, message="the success to be logged")
    finally:
        rescuer.stop()

    # then the same task completed once, on the second worker, and every bucket has one row
    assert summary["status"] == "completed", summary
    assert summary["analysis_type"] == "full"
    assert rescuer.log().count(done) == 1, rescuer.log()[-3000:]
    assert done not in doomed.log()
    anomalies = AnomalyDetection.objects.filter(service="angular")
    predictions = ErrorPrediction.objects.filter(service="angular")
    forecasts = TimeSeriesForecast.objects.filter(service="angular")
    assert anomalies.count() == summary["anomalies"]["scored"] == 12
    assert predictions.count() == summary["predictions"]["stored"] > 0
    assert forecasts.count() == summary["forecasts"]["stored"] > 0
    assert _duplicates(AnomalyDetection, "service", "metric_name", "window_start") == 0
    assert (
        _duplicates(
            ErrorPrediction,
            "service",
            "prediction_bucket",
            "predicted_error_type",
            "time_horizon_minutes",
        )
        == 0
    )
    assert _duplicates(TimeSeriesForecast, "service", "metric_name", "forecast_start") == 0
    assert {str(i) for i in predictions.values_list("pk", flat=True)} == set(
        summary["predictions"]["ids"]
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert broker.llen(queue) == 0  # nothing left to run it a third time


@pytest.mark.django_db(databases=BOTH_DBS, transaction=True)
def test_a_pool_process_killed_midway_requeues_the_analysis_on_the_same_worker(
    redis_clean, artifact_dir, tmp_path
):
    """Only the pool processes die (the OOM killer's usual victim), the worker's main process
    lives: ``task_reject_on_worker_lost`` puts the message back at once (no visibility timeout
    involved: this worker keeps the production two hours) and a fresh pool process runs it."""
    from celery.result import AsyncResult

    from ml_prediction.models import AnomalyDetection, TimeSeriesForecast
    from ml_prediction.services.locks import process_alive
    from ml_prediction.services.training import training_run_for_service
    from ml_prediction.tasks import run_analysis_for_service

    load_traffic("vue", days=4, seed=12, errors_per_minute=2.0, incidents_per_week=10)
    training_run_for_service(
        service="vue", model_types=["anomaly_detection", "time_series_forecast"]
    )
    queue = f"analysis-pool-kill-{os.getpid()}"
    worker = start_worker(
        artifact_dir=artifact_dir,
        log_dir=tmp_path,
        name="analysis-pool",
        extra_env=WORKER_ENV,
        queues=queue,
    )
    lock, monitor = _connection(), _connection()
    monitor.autocommit = True
    done = None
    try:
        with lock.cursor() as locking, monitor.cursor() as watching:
            locking.execute("LOCK TABLE time_series_forecasts IN SHARE MODE")
            task = run_analysis_for_service.apply_async(("vue", "full"), queue=queue)
            done = f"[{task.id}] succeeded in"
            waiting = wait_for(
                lambda: _backends_waiting_on(watching, "time_series_forecasts"),
                timeout=60,
                message="the analysis to reach its forecast upsert",
            )
            pool = worker._descendants()
            assert pool, "the worker has no pool processes"
            for pid in pool:
                os.kill(pid, 9)
            wait_for(lambda: not any(process_alive(pid) for pid in pool), timeout=30)
            lock.commit()
            wait_for(
                lambda: not any(_backend_alive(watching, pid) for pid in waiting),
                timeout=30,
                message="the killed pool process's database session to end",
            )
        assert worker.process.poll() is None  # the main process survived
        summary = AsyncResult(task.id).get(timeout=90)
        wait_for(lambda: done in worker.log(), timeout=30, message="the success to be logged")
    finally:
        worker.stop()
        lock.close()
        monitor.close()

    log = worker.log()
    assert "WorkerLostError" in log or "signal 9" in log, log[-3000:]
    assert log.count(done) == 1, log[-3000:]
    assert summary["status"] == "completed", summary
    assert AnomalyDetection.objects.filter(service="vue").count() == summary["anomalies"]["scored"]
    assert (
        TimeSeriesForecast.objects.filter(service="vue").count() == summary["forecasts"]["stored"]
    )
    assert _duplicates(AnomalyDetection, "service", "metric_name", "window_start") == 0
    assert _duplicates(TimeSeriesForecast, "service", "metric_name", "forecast_start") == 0
