"""Celery tasks that deliver alerts: one notification (one channel) per task, retried with backoff.

Thin by design: ids in, one service call; the retry policy lives here. A delivery that still
fails after the last retry is recorded as ``failed`` on its ``AlertNotification`` row. The
tasks run on the ``alerts`` queue (CELERY_TASK_ROUTES), which ``make worker`` consumes.
"""

from __future__ import annotations

import random

from celery import shared_task

from ml_prediction.services.alerts import (
    ChannelError,
    alert_deliver,
    alert_mark_failed,
    alerts_requeue_stalled,
)
from ml_prediction.services.errors import NotFound

ALERT_DELIVERY_MAX_RETRIES = 5
ALERT_RETRY_BASE_SECONDS = 30.0
ALERT_RETRY_MAX_SECONDS = 30 * 60.0


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter: ~30 s, 60 s, 2 min, 4 min, 8 min (capped at 30 min)."""
    base = min(ALERT_RETRY_BASE_SECONDS * (2**retries), ALERT_RETRY_MAX_SECONDS)
    return base * random.uniform(0.8, 1.2)


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=ALERT_DELIVERY_MAX_RETRIES,
    name="ml_prediction.alert_tasks.deliver_alert",
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_alert(self, alert_id: str) -> str:
    """Deliver one notification; retry on channel errors, record the failure when out of retries."""
    try:
        notification = alert_deliver(alert_id=alert_id)
    except NotFound:
        return "missing"
    except ChannelError as exc:
        if self.request.retries >= self.max_retries:
            alert_mark_failed(alert_id=alert_id, error=str(exc))
            return "failed"
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    return str(notification.status)


@shared_task(name="ml_prediction.alert_tasks.requeue_stalled_alerts", acks_late=True)
def requeue_stalled_alerts() -> int:
    """Beat: queue again notifications that never reached a worker."""
    return alerts_requeue_stalled()
