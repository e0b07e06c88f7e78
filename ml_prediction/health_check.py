"""The guide's ML health check, plus the reachability of both databases, Redis and a worker.

Anyone may call it (load balancers and uptime probes): without a valid JWT the answer is the
status and the time only; with one it is the whole report (counts, up/down states, failing
services), which maps the system's weak spots and so is for signed-in users like every other
/api/ml/ answer. Neither ever holds hosts, URLs or credentials.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ml_prediction.api.authentication import CachedUserJWTAuthentication

logger = logging.getLogger(__name__)

WORKER_PING_TIMEOUT = 1.0
# A ping waits its whole timeout (it cannot know how many workers will answer), so its count is
# shared through the cache: fresh for WORKERS_FRESH_SECONDS, taken again by one request at a
# time (the lock), while the others answer with the last count meanwhile.
WORKERS_CACHE_KEY = "ml-health:celery-workers"
WORKERS_LOCK_KEY = "ml-health:celery-workers:refreshing"
WORKERS_FRESH_SECONDS = 20
WORKERS_KEEP_SECONDS = 300  # how long a stale count may still answer while one is being taken
WORKERS_LOCK_SECONDS = 10  # longer than a ping; frees the lock of a request that died pinging


def _database_up(alias: str) -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("health: database %s unreachable", alias, exc_info=True)
        return False


def _redis_up() -> bool | None:
    """True/False when Redis is configured; None in the embedded mode (no Redis needed)."""
    if not settings.REDIS_URL:
        return None
    try:
        import redis

        return bool(
            redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
            ).ping()
        )
    except Exception:
        logger.warning("health: redis unreachable", exc_info=True)
        return False


def _ping_workers() -> int:
    """How many Celery workers answer a ping now (takes WORKER_PING_TIMEOUT)."""
    try:
        from feeding_hearts.celery import app

        return len(app.control.ping(timeout=WORKER_PING_TIMEOUT) or [])
    except Exception:
        logger.warning("health: celery ping failed", exc_info=True)
        return 0


def _workers() -> int | None:
    """How many Celery workers answered the latest ping, at most WORKERS_FRESH_SECONDS old.

    None when tasks run eagerly (no workers needed), or in the moment the very first count is
    being taken by another request (unknown, not down). With the cache down every request
    pings, as before the cache.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    try:
        cached = cache.get(WORKERS_CACHE_KEY)
        if isinstance(cached, dict) and time.time() - cached["at"] < WORKERS_FRESH_SECONDS:
            return int(cached["count"])
        if not cache.add(WORKERS_LOCK_KEY, 1, timeout=WORKERS_LOCK_SECONDS):
            return int(cached["count"]) if isinstance(cached, dict) else None
    except Exception:
        logger.warning("health: cache unavailable; pinging the workers", exc_info=True)
        return _ping_workers()
    count = _ping_workers()
    try:
        cache.set(
            WORKERS_CACHE_KEY, {"count": count, "at": time.time()}, timeout=WORKERS_KEEP_SECONDS
        )
        cache.delete(WORKERS_LOCK_KEY)
    except Exception:  # the lock expires on its own
        logger.warning("health: cache unavailable; worker count not kept", exc_info=True)
    return count


def health_report() -> dict[str, Any]:
    """The health document (also used by the dashboard).

    The guide's fields and score, with two corrections: "recent activity" is whether an
    analysis ran in the last hour (``services_analysed_1h``), not whether a prediction was
    stored — predictions are stored only at or above PREDICTION_THRESHOLD, so a quiet, healthy
    system has none — and ``recent_anomalies_1h`` counts anomalies (``is_anomaly``) whose window
    started in the last hour, not every bucket the last analysis re-scored.
    """
    from ml_prediction.models import AnomalyDetection, ErrorPrediction, MLModel
    from ml_prediction.services.selectors import analyses_since, health_deductions, health_score

    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    checks: dict[str, Any] = {
        "database_default": _database_up("default"),
        "database_ml": _database_up("ml_prediction"),
        "redis": _redis_up(),
    }
    workers = _workers()
    checks["celery_workers"] = workers
    down = [
        name for name, ok in checks.items() if ok is False or (name == "celery_workers" and ok == 0)
    ]
    active_models = recent_predictions = recent_anomalies = services_analysed = 0
    failing: list[str] = []
    if checks["database_ml"]:
        active_models = MLModel.objects.filter(status=MLModel.Status.ACTIVE).count()
        recent_predictions = ErrorPrediction.objects.filter(created_at__gte=hour_ago).count()
        recent_anomalies = AnomalyDetection.objects.filter(
            is_anomaly=True, window_start__gte=hour_ago
        ).count()
        services_analysed, failing = analyses_since(since=hour_ago)
    # The guide's score, then infrastructure: anything down caps the status at "degraded".
    deductions = health_deductions(
        active_models=active_models, analysed_1h=services_analysed > 0, failing=failing
    )
    score = health_score(deductions)
    if not checks["database_default"]:
        # Errors cannot be stored: critical.
        deductions = [{"points": 75, "reason": "the default database is down: errors are lost"}]
        score = 25
    elif not checks["database_ml"]:
        # Ingestion still works and nothing is lost; the ML counts are unknown, not zero.
        deductions = [{"points": 50, "reason": "the ML database is down: no analyses run"}]
        score = 50
    status = "healthy" if score >= 80 else "degraded" if score >= 50 else "critical"
    if down and status == "healthy":
        status = "degraded"
    return {
        "status": status,
        "health_score": score,
        "health_deductions": deductions,
        "active_models": active_models,
        "recent_predictions_1h": recent_predictions,
        "recent_anomalies_1h": recent_anomalies,
        "services_analysed_1h": services_analysed,
        "services_failing": failing,
        "timestamp": now.isoformat().replace("+00:00", "Z"),  # the API's UTC form
        "checks": checks,
        "down": down,
    }


class OptionalJWTAuthentication(CachedUserJWTAuthentication):
    """A valid JWT identifies the caller; a missing, expired or foreign one (a monitor's stale
    token, an ingest key) leaves it anonymous instead of answering 401: probes get their status."""

    def authenticate(self, request: Request) -> Any:
        try:
            return super().authenticate(request)
        except AuthenticationFailed:  # simplejwt's InvalidToken is one too
            return None


@api_view(["GET"])
@authentication_classes([OptionalJWTAuthentication])
@permission_classes([AllowAny])
def health_check(request: Request) -> Response:
    """GET /api/ml/health/ — 200 when healthy or degraded, 503 when critical.

    Anonymous callers get ``{status, timestamp}``; signed-in ones (JWT) the whole report.
    """
    report = health_report()
    code = 503 if report["status"] == "critical" else 200
    if not request.user.is_authenticated:
        return Response({"status": report["status"], "timestamp": report["timestamp"]}, code)
    return Response(report, status=code)
