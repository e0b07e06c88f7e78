"""Signal receivers of error_logging.

``post_save`` of a single ErrorLog (ORM saves, the guide's integration point) and the batch signal
``errors_ingested`` (one per ingested batch) both end in a debounced analysis request; the
single-row path also adds the row to its minute rollup, which the bulk path does in its own
transaction.
"""

from __future__ import annotations

import logging

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from error_logging.analysis_trigger import request_analysis
from error_logging.models import ErrorLog, IngestKey
from error_logging.rollups import rollup_deltas, rollup_upsert

logger = logging.getLogger(__name__)

# Sent once per stored batch, after commit: kwargs service, error_ids, source.
errors_ingested = Signal()


@receiver(post_save, sender=ErrorLog, dispatch_uid="error_logging.on_error_logged")
def on_error_logged(sender, instance: ErrorLog, created: bool, **kwargs) -> None:
    """Trigger ML analysis when an error is logged (debounced; never fails the save)."""
    if not created or kwargs.get("raw"):
        return
    rollup_upsert(
        deltas=rollup_deltas(
            [
                (
                    instance.service,
                    instance.occurred_at,
                    instance.severity,
                    instance.category,
                    instance.error_type,
                    instance.response_time_ms,
                    instance.user_id,
                )
            ]
        )
    )
    try:
        from ml_prediction.django_integration import DjangoMLIntegration
    except ImportError:
        request_analysis(service=instance.service)
        return
    try:
        DjangoMLIntegration.on_error_logged(instance)
    except Exception as exc:
        logger.error("Error in ML integration: %s", exc)


@receiver(errors_ingested, dispatch_uid="error_logging.on_errors_ingested")
def on_errors_ingested(sender, service: str, error_ids: list[str], **kwargs) -> None:
    request_analysis(service=service)


@receiver(post_save, sender=IngestKey, dispatch_uid="error_logging.key_saved")
@receiver(post_delete, sender=IngestKey, dispatch_uid="error_logging.key_deleted")
def on_key_changed(sender: type, **kwargs: object) -> None:
    """A key deactivated, deleted or re-limited stops being served from any process's cache."""
    from error_logging.ingest.common import keys_changed

    keys_changed()
