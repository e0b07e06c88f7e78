"""Celery tasks: thin wrappers (ids in, one service call out), idempotent and safe to retry.

The guide's four scheduled tasks fan out one task per service, so services run in parallel on
several workers and one slow service never delays the rest. Analysis and training of a service
hold a Redis lock per (service, kind): a second run while one is going returns ``skipped``.
Database hiccups (OperationalError, InterfaceError) are retried with exponential backoff.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Max
from django.utils import timezone

from feeding_hearts.catalog import SERVICES

logger = logging.getLogger(__name__)

DB_ERRORS = (OperationalError, InterfaceError)
RETRY = {
    "autoretry_for": DB_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}
ANALYSIS_SOFT_LIMIT = 300
_MAX_TRAINING_TIME = settings.ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"]


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=ANALYSIS_SOFT_LIMIT,
    time_limit=ANALYSIS_SOFT_LIMIT + 60,
    **RETRY,
)
def run_analysis_for_service(self, service: str, analysis_type: str = "quick") -> dict[str, Any]:
    """Analyse one service (what the debounced ingest signal and the schedules enqueue)."""
    from ml_prediction.services.locks import LockHeld
    from ml_prediction.services.orchestrator import AnalysisInputError, analysis_run_locked

    try:
        return analysis_run_locked(service=service, analysis_type=analysis_type)
    except LockHeld as exc:
        return {
            "service": service,
            "analysis_type": analysis_type,
            "status": "skipped",
            "reason": str(exc),
        }
    except AnalysisInputError as exc:
        logger.error("refusing analysis request: %s", exc)
        return {
            "service": service,
            "analysis_type": analysis_type,
            "status": "rejected",
            "reason": str(exc),
        }


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=_MAX_TRAINING_TIME,
    time_limit=_MAX_TRAINING_TIME + 60,
    **RETRY,
)
def train_service_models(
    self, service: str, model_types: list[str] | None = None
) -> dict[str, Any]:
    """Train every model type of one service under its training lock."""
    from ml_prediction.models import ModelTrainingHistory
    from ml_prediction.notifications import send_training_failure_email
    from ml_prediction.services.locks import LockHeld, service_lock
    from ml_prediction.services.training import training_run_for_service

    if service not in SERVICES:
        return {"service": service, "status": "rejected", "reason": f"unknown service {service!r}"}
    try:
        with service_lock(service=service, kind="training", timeout=_MAX_TRAINING_TIME + 120):
            histories = training_run_for_service(
                service=service, model_types=model_types, task_id=self.request.id or ""
            )
    except LockHeld as exc:
        return {"service": service, "status": "skipped", "reason": str(exc)}
    failed = [h for h in histories if h.status == ModelTrainingHistory.Status.FAILED]
    mailed = send_training_failure_email(service=service, failures=failed)
    return {
        "service": service,
        "status": "completed",
        "failures_mailed": mailed,
        "runs": [
            {
                "training_id": str(h.training_id),
                "model_type": h.model_type,
                "algorithm": h.model_algorithm,
                "status": h.status,
                "promoted": h.promoted,
                "reason": h.failure_reason,
            }
            for h in histories
        ],
    }


@shared_task(acks_late=True, **RETRY)
def train_error_prediction_models(service: str | None = None) -> dict[str, Any]:
    """The guide's nightly training: one training task per service on the training queue."""
    if not settings.ML_PREDICTION_CONFIG["MODEL_RETRAINING_ENABLED"] and service is None:
        return {"status": "skipped", "reason": "ML_MODEL_RETRAINING_ENABLED is false"}
    services = [service] if service else list(SERVICES)
    ids = [train_service_models.delay(s).id for s in services]
    return {"status": "queued", "services": services, "task_ids": ids}


def _fan_out(analysis_type: str) -> dict[str, Any]:
    ids = [run_analysis_for_service.delay(s, analysis_type).id for s in SERVICES]
    return {
        "status": "queued",
        "analysis_type": analysis_type,
        "services": list(SERVICES),
        "task_ids": ids,
    }


@shared_task(acks_late=True, **RETRY)
def execute_automated_actions(action_ids: list[str]) -> dict[str, Any]:
    """After an analysis (automation on): run its new automatable actions' webhooks."""
    from ml_prediction.services.actions import actions_execute_automated

    executed = actions_execute_automated(action_ids=action_ids, executed_by="automation")
    return {"status": "completed", "executed": executed}


@shared_task(acks_late=True, **RETRY)
def predict_errors_batch() -> dict[str, Any]:
    """Hourly: a full analysis (predictions, forecasts, actions, insights) of every service."""
    return _fan_out("full")


@shared_task(acks_late=True, **RETRY)
def detect_anomalies_background() -> dict[str, Any]:
    """Every 15 minutes: a quick (anomalies only) analysis of every service."""
    return _fan_out("quick")


@shared_task(acks_late=True, soft_time_limit=ANALYSIS_SOFT_LIMIT, **RETRY)
def generate_ai_insights(service: str | None = None) -> dict[str, Any]:
    """Every 30 minutes: insights from stored rollups, forecasts and tracked accuracy."""
    from ml_prediction.services.insights import insights_generate

    results = {}
    for name in [service] if service else SERVICES:
        try:
            results[name] = insights_generate(service=name)
        except DB_ERRORS:
            raise
        except Exception as exc:
            logger.exception("insights of %s failed", name)
            results[name] = {"service": name, "error": str(exc)}
    return {"status": "completed", "services": results}


@shared_task(acks_late=True, **RETRY)
def cleanup_old_predictions(days: int | None = None) -> dict[str, int]:
    """Delete predictions, anomalies, forecasts and analysis runs older than
    CLEANUP_OLD_PREDICTIONS_DAYS."""
    from ml_prediction.services.orchestrator import results_cleanup

    keep = days or settings.ML_PREDICTION_CONFIG["CLEANUP_OLD_PREDICTIONS_DAYS"]
    return results_cleanup(older_than=timezone.now() - timedelta(days=keep))


@shared_task(acks_late=True, soft_time_limit=ANALYSIS_SOFT_LIMIT, **RETRY)
def refresh_performance_tracking(day: str | None = None) -> dict[str, Any]:
    """Hourly (beat at :20): resolve the outcomes of predictions whose horizon ended (from the stored data),
    then the ModelPerformanceTracking rows (yesterday's and today's so far by default, or
    ``day``'s, and every day whose predictions just got an outcome). Idempotent: resolved
    predictions are not touched again and the rows are upserts."""
    from ml_prediction.services.feedback import performance_tracking_update

    days = (
        [date.fromisoformat(day)]
        if day
        else [timezone.now().date() - timedelta(days=1), timezone.now().date()]
    )
    return {"status": "completed", **performance_tracking_update(days=days)}


@shared_task(acks_late=True, **RETRY)
def sweep_unanalysed_services() -> dict[str, Any]:
    """Queue a quick analysis for every service with rollups newer than its last analysis.

    The debounced ingest signal is best effort (Redis down, a lost message); this sweep on the
    beat schedule makes sure new data is always analysed within one sweep interval.
    """
    from error_logging.models import ErrorRollup
    from ml_prediction.models import AnomalyDetection

    since = timezone.now() - timedelta(hours=2)
    changed = dict(
        ErrorRollup.objects.filter(bucket__gte=since)
        .order_by()
        .values_list("service")
        .annotate(last=Max("updated_at"))
        .values_list("service", "last")
    )
    analysed = dict(
        AnomalyDetection.objects.filter(service__in=list(changed), detected_at__gte=since)
        .order_by()
        .values_list("service")
        .annotate(last=Max("detected_at"))
        .values_list("service", "last")
    )
    queued = [
        s
        for s, last in changed.items()
        if s in SERVICES and (s not in analysed or analysed[s] < last)
    ]
    for service in queued:
        run_analysis_for_service.delay(service, "quick")
    return {"status": "queued" if queued else "nothing_to_do", "services": sorted(queued)}
