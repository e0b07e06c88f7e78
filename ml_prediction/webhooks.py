"""The guide's ``predict_for_error`` webhook: an error reported by a service → an analysis now."""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from feeding_hearts.catalog import SERVICES

logger = logging.getLogger(__name__)


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def predict_for_error(request: Request) -> Response:
    """Run a full analysis of the error's service at once (202 + queued when one is running).

    Body: ``{"error_id": "uuid", "error_type": "...", "service": "django", "severity": "high"}``.
    Running an analysis changes state, so it needs the ops permission like the trigger endpoints.
    """
    from ml_prediction.services.locks import LockHeld
    from ml_prediction.services.orchestrator import analysis_run_locked

    if not request.user.has_perm("ml_prediction.ops"):
        return Response(
            {"detail": "You need the ops role to trigger an analysis."},
            status=status.HTTP_403_FORBIDDEN,
        )
    data = request.data if isinstance(request.data, dict) else {}
    service = data.get("service")
    if not isinstance(service, str) or service not in SERVICES:
        return Response(
            {
                "error": "invalid_request",
                "detail": f"service must be one of: {', '.join(SERVICES)}",
                "field": "service",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    analysis_type = data.get("analysis_type", "full")
    if analysis_type not in ("quick", "full", "deep"):
        return Response(
            {
                "error": "invalid_request",
                "detail": "analysis_type must be quick, full or deep",
                "field": "analysis_type",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    try:
        results = analysis_run_locked(service=service, analysis_type=analysis_type)
    except LockHeld:
        from ml_prediction.tasks import run_analysis_for_service

        task = run_analysis_for_service.delay(service, analysis_type)
        return Response(
            {"success": True, "queued": True, "task_id": task.id, "error_id": data.get("error_id")},
            status=status.HTTP_202_ACCEPTED,
        )
    return Response(
        {"success": True, "error_id": data.get("error_id"), "analysis_results": results}
    )
