"""The guide's ``predict_for_error`` webhook: an error reported by a service → an analysis now."""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from feeding_hearts.catalog import SERVICES

logger = logging.getLogger(__name__)
WAIT_SECONDS = 20


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def predict_for_error(request: Request) -> Response:
    """Run a full analysis of the error's service now; 200 with its summary, or 202 when it is
    still running (or the service is being analysed already) after ``WAIT_SECONDS``.

    Body: ``{"error_id": "uuid", "error_type": "...", "service": "django", "severity": "high"}``.
    Running an analysis changes state, so it needs the ops permission like the trigger endpoints.
    """
    if not request.user.has_perm("ml_prediction.ops"):
        raise PermissionDenied("You need the ops role to trigger an analysis.")
    data = request.data if isinstance(request.data, dict) else {}
    service = data.get("service")
    if not isinstance(service, str) or service not in SERVICES:
        raise ValidationError({"service": f"must be one of: {', '.join(SERVICES)}."})
    analysis_type = data.get("analysis_type", "full")
    if analysis_type not in ("quick", "full", "deep"):
        raise ValidationError({"analysis_type": "must be quick, full or deep."})
    # The analysis runs on a worker (engines may load TensorFlow or Prophet, which the web
    # process never imports); we wait a bounded time for its summary, as the guide answers with it.
    from ml_prediction.tasks import run_analysis_for_service

    task = run_analysis_for_service.apply_async((service, analysis_type))
    try:
        results = task.get(timeout=WAIT_SECONDS, disable_sync_subtasks=False)
    except Exception:  # timeout or broker trouble: the task still runs; report it as queued
        logger.warning(
            "predict_for_error: analysis of %s not finished in %ss", service, WAIT_SECONDS
        )
        results = None
    if not results or results.get("status") != "completed":
        return Response(
            {"success": True, "queued": True, "task_id": task.id, "error_id": data.get("error_id")},
            status=status.HTTP_202_ACCEPTED,
        )
    return Response(
        {"success": True, "error_id": data.get("error_id"), "analysis_results": results}
    )
