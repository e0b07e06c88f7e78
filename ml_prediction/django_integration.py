"""The guide's ``DjangoMLIntegration``, built to hold at scale.

``on_error_logged`` asks for a *debounced* analysis (at most one per service per debounce window,
run by a worker) instead of analysing inside the request that saved the error.
``execute_preventive_actions`` runs only automatable actions, and only when automation is enabled
(analyses run them on their own then: ``services.actions.actions_execute_automated``).
"""

from __future__ import annotations

import logging
from typing import Any

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
        """Execute the automatable recommended actions of an analysis; ids of those executed.

        Analyses already do this on their own when automation is on (``actions_execute_automated``
        after each current run); calling it again on the same results executes nothing twice.
        """
        from ml_prediction.services.actions import actions_execute_automated

        ids = (results or {}).get("actions", {}).get("ids", [])
        return actions_execute_automated(action_ids=ids, executed_by=executed_by)
