"""The guide's ``DjangoMLIntegration``, built to hold at scale.

``on_error_logged`` asks for a *debounced* analysis (at most one per service per debounce window,
run by a worker) instead of analysing inside the request that saved the error.
``execute_preventive_actions`` runs only automatable actions, and only when automation is enabled.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


class DjangoMLIntegration:
    """Integrate ML prediction with error logging (any service, not only ``django``)."""

    @classmethod
    def on_error_logged(cls, error_log: Any) -> bool:
        """Called when an error is logged; returns whether an analysis was requested."""
        try:
            from error_logging.analysis_trigger import request_analysis

            return bool(request_analysis(service=error_log.service))
        except Exception:  # never fail the request that stored the error
            logger.exception(
                "could not request an analysis for %s", getattr(error_log, "service", "?")
            )
            return False

    @staticmethod
    def execute_preventive_actions(
        results: dict[str, Any], *, executed_by: str = "django_automation"
    ) -> list[str]:
        """Execute the automatable recommended actions of an analysis; ids of those executed."""
        if not settings.ML_PREDICTION_CONFIG["AUTOMATION_ENABLED"]:
            return []
        from ml_prediction.models import PreventiveAction
        from ml_prediction.services.actions import action_execute, action_is_automated
        from ml_prediction.services.errors import InvalidTransition

        ids = (results or {}).get("actions", {}).get("ids", [])
        executed = []
        for action in PreventiveAction.objects.filter(
            action_id__in=ids, status=PreventiveAction.Status.RECOMMENDED, can_be_automated=True
        ):
            if not action_is_automated(action):
                continue  # no webhook configured for this action type: a person must do it
            try:
                action_execute(action_id=action.action_id, executed_by=executed_by)
                executed.append(str(action.action_id))
            except InvalidTransition:
                continue  # someone executed or skipped it meanwhile
            except Exception:
                logger.exception("automated action %s failed", action.action_id)
        return executed
