"""The guide's ``debug_full_analysis``: a full analysis with detailed logging, for a shell."""

from __future__ import annotations

import logging
from typing import Any

from ml_prediction.models import MLModel


def debug_full_analysis(service: str = "django", analysis_type: str = "full") -> dict[str, Any]:
    """Run one analysis with DEBUG logging and log what was found."""
    from ml_prediction.services import PredictionOrchestrator

    logger = logging.getLogger("ml_prediction.debug")
    logger.setLevel(logging.DEBUG)
    logger.info("Starting debug analysis for %s", service)
    models = MLModel.objects.filter(service=service, status=MLModel.Status.ACTIVE)
    logger.info("Found %d active models: %s", models.count(), [str(m) for m in models])
    results = PredictionOrchestrator().run_full_analysis(service, analysis_type)
    logger.info("Analysis results: %s", results)
    return results
