"""Debounced analysis requests: at most two quick analyses per service per debounce window.

Ingestion never waits for ML. A burst of errors sets one Redis key per service (SET NX with a
TTL through the cache); only the request that set it enqueues
``ml_prediction.tasks.run_analysis_for_service`` after the transaction commits (the leading
edge: the first error of a quiet spell is looked at at once). Errors that arrive while that key
lives schedule one more analysis a window later (the trailing edge, its own SET NX key): without
it a burst that began a few seconds after a stray error waited for the next beat run. Without a
broker (the embedded quick start runs tasks eagerly) there is no delayed run; the next request
after the window, or beat, catches up. If Redis or the broker is down we log and return: the
errors are stored already and the beat schedule catches up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

TASK_NAME = "ml_prediction.tasks.run_analysis_for_service"
_suspended: ContextVar[bool] = ContextVar("analysis_requests_suspended", default=False)


def forget_local_state() -> None:
    """Tests (and a cache switch) start from Redis alone."""
    _known_pending.clear()
    _known_trailing.clear()


def debounce_key(service: str) -> str:
    return f"error_logging:analysis-requested:{service}"


def trailing_key(service: str) -> str:
    return f"error_logging:analysis-trailing:{service}"


@contextlib.contextmanager
def analysis_requests_suspended() -> Iterator[None]:
    """Bulk loaders (seeding, replay) wrap their work in this: no analysis per batch."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def _enqueue(service: str, countdown: int | None = None) -> None:
    kwargs = {"service": service, "analysis_type": "quick"}
    try:
        try:
            from ml_prediction.tasks import run_analysis_for_service
        except ImportError:
            from feeding_hearts.celery import app

            app.send_task(TASK_NAME, kwargs=kwargs, countdown=countdown)
        else:
            run_analysis_for_service.apply_async(kwargs=kwargs, countdown=countdown)
    except Exception:
        logger.warning(
            "could not enqueue analysis for %s; beat will catch up", service, exc_info=True
        )


# Per process: until when we know the Redis debounce key of a service exists, so a burst of
# batches costs one Redis round trip per second instead of one per batch.
_known_pending: dict[str, float] = {}
# … and until when we know its trailing analysis is scheduled.
_known_trailing: dict[str, float] = {}
_LOCAL_RECHECK_SECONDS = 1.0


def _schedule_trailing(service: str, window: int, now: float) -> None:
    """One delayed analysis per window for the errors that arrived after the leading one."""
    if _known_trailing.get(service, 0.0) > now or settings.CELERY_TASK_ALWAYS_EAGER:
        return
    _known_trailing[service] = now + window
    if cache.add(trailing_key(service), 1, timeout=window):
        transaction.on_commit(lambda: _enqueue(service, countdown=window), using="default")


def request_analysis(*, service: str) -> bool:
    """Ask for a quick analysis of ``service``; True when this call enqueued one. Never raises."""
    if _suspended.get():
        return False
    try:
        window = int(settings.ML_PREDICTION_CONFIG.get("ANALYSIS_DEBOUNCE_SECONDS", 60))
        now = time.monotonic()
        if window > 0 and _known_pending.get(service, 0.0) > now:
            _schedule_trailing(service, window, now)
            return False
        if window > 0 and not cache.add(debounce_key(service), 1, timeout=window):
            # the key exists; its remaining life is unknown, so look again in a second
            _known_pending[service] = now + min(window, _LOCAL_RECHECK_SECONDS)
            _schedule_trailing(service, window, now)
            return False
        if window > 0:
            _known_pending[service] = now + window
        transaction.on_commit(lambda: _enqueue(service), using="default")
        return True
    except Exception:
        logger.warning("analysis request for %s failed; errors are stored", service, exc_info=True)
        return False
