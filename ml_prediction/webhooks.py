"""The guide's ``predict_for_error`` webhook: an error reported by a service → an analysis now."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ml_prediction.api.errors import AnalysisFailed
from ml_prediction.api.serializers import PredictForErrorInputSerializer
from ml_prediction.services.audit import audit_record

logger = logging.getLogger(__name__)
# The wait holds a sync web worker (gunicorn runs two by default) that ingestion needs too, so it
# is short: a quick analysis of a small service answers within it, anything longer is a 202 to
# poll. ``ML_PREDICTION_CONFIG["WEBHOOK_WAIT_SECONDS"]`` overrides it, never above the maximum.
WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 2.0
ANALYSIS_RUNS_PATH = "/api/ml/analysis-runs/"


def _wait_seconds() -> float:
    """The configured wait, clamped to 0..MAX_WAIT_SECONDS (a bad value: the default)."""
    configured = settings.ML_PREDICTION_CONFIG.get("WEBHOOK_WAIT_SECONDS", WAIT_SECONDS)
    try:
        return min(max(float(configured), 0.0), MAX_WAIT_SECONDS)
    except (TypeError, ValueError):
        return min(WAIT_SECONDS, MAX_WAIT_SECONDS)


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def predict_for_error(request: Request) -> Response:
    """Run a full analysis of the error's service now; 200 with its summary when it finishes
    within the short wait (``_wait_seconds``, at most 2 s), else 202 with the task id and where
    its run will be listed (``poll_url``: the analysis-runs of the service, newest first); the
    project's JSON 500 when the run failed within the wait.

    Body: ``{"error_id": "uuid", "error_type": "...", "service": "django", "severity": "high"}``
    (and optionally ``analysis_type``); any other field is a 400, like every input of the API.
    Running an analysis changes state, so it needs the ops permission like the trigger endpoints
    and is recorded in the audit trail as they are.
    """
    if not request.user.has_perm("ml_prediction.ops"):
        raise PermissionDenied("You need the ops role to trigger an analysis.")
    body = PredictForErrorInputSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    service = body.validated_data["service"]
    analysis_type = body.validated_data["analysis_type"]
    error_id = body.validated_data.get("error_id")
    error_text = str(error_id) if error_id else None
    # The analysis runs on a worker (engines may load TensorFlow or Prophet, which the web
    # process never imports); we wait a short, bounded time for its summary, as the guide
    # answers with it, and otherwise say where to find the run.
    from ml_prediction.api.views import ServiceUnavailable
    from ml_prediction.tasks import run_analysis_for_service

    try:
        task = run_analysis_for_service.apply_async((service, analysis_type))
    except Exception as exc:
        logger.warning("predict_for_error: could not enqueue analysis of %s: %s", service, exc)
        raise ServiceUnavailable() from exc
    audit_record(
        actor=request.user.get_username(),
        action="analysis.predict_for_error",
        object_type="service",
        object_id=service,
        service=service,
        details={
            "analysis_type": analysis_type,
            "task_id": task.id,
            "error_id": error_text,
            "error_type": body.validated_data.get("error_type", ""),
            "severity": body.validated_data.get("severity", ""),
        },
    )
    wait = _wait_seconds()
    try:
        # propagate=False: a failed run comes back as its exception, to be told apart from one
        # still running (a failure reported as "queued" would promise a result that never comes)
        results = task.get(timeout=wait, disable_sync_subtasks=False, propagate=False)
    except Exception:  # timeout or broker trouble: the task still runs; report it as queued
        logger.info("predict_for_error: analysis of %s not finished in %ss", service, wait)
        results = None
    if task.failed():
        reason = f"{type(results).__name__}: {results}"[:300]
        logger.error(
            "predict_for_error: analysis of %s (task %s) failed: %s\n%s",
            service,
            task.id,
            reason,
            task.traceback or "",
        )
        raise AnalysisFailed(service, reason)
    if not results or results.get("status") != "completed":
        return Response(
            {
                "success": True,
                "queued": True,
                "task_id": task.id,
                "error_id": error_text,
                "service": service,
                "analysis_type": analysis_type,
                "poll_url": f"{ANALYSIS_RUNS_PATH}?service={service}&analysis_type={analysis_type}",
            },
            status=status.HTTP_202_ACCEPTED,
        )
    from ml_prediction.api.views import _jsonable

    return Response(
        {"success": True, "error_id": error_text, "analysis_results": _jsonable(results)}
    )
