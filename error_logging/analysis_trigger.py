"""Debounced analysis requests: at most one quick analysis per service per debounce window.

Ingestion never waits for ML. A burst of errors sets one Redis key per service (SET NX with a
TTL through the cache); only the request that set it enqueues
``ml_prediction.tasks.run_analysis_for_service`` after the transaction commits. If Redis or the
broker is down we log and return: the errors are stored already and the beat schedule catches up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

TASK_NAME = "ml_prediction.tasks.run_analysis_for_service"
_suspended: ContextVar[bool] = ContextVar("analysis_requests_suspended", default=False)


def debounce_key(service: str) -> str:
    return f"error_logging:analysis-requested:{service}"


@contextlib.contextmanager
def analysis_requests_suspended() -> Iterator[None]:
    """Bulk loaders (seeding, replay) wrap their work in this: no analysis per batch."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def _enqueue(service: str) -> None:
    kwargs = {"service": service, "analysis_type": "quick"}
    try:
        try:
            from ml_prediction.tasks import run_analysis_for_service
        except ImportError:
            from feeding_hearts.celery import app

            app.send_task(TASK_NAME, kwargs=kwargs)
        else:
            run_analysis_for_service.apply_async(kwargs=kwargs)
    except Exception:
        logger.warning(
            "could not enqueue analysis for %s; beat will catch up", service, exc_info=True
        )


def request_analysis(*, service: str) -> bool:
    """Ask for a quick analysis of ``service``; True when this call enqueued one. Never raises."""
    if _suspended.get():
        return False
    try:
        window = int(settings.ML_PREDICTION_CONFIG.get("ANALYSIS_DEBOUNCE_SECONDS", 60))
        if window > 0 and not cache.add(debounce_key(service), 1, timeout=window):
            return False
        transaction.on_commit(lambda: _enqueue(service), using="default")
        return True
    except Exception:
        logger.warning("analysis request for %s failed; errors are stored", service, exc_info=True)
        return False
