"""One error shape for every API error: {"error": {"code", "message", "details"}}.

Service exceptions are mapped here so views stay thin: ``NotFound`` → 404,
``InvalidTransition`` → 409.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ml_prediction.services.audit import audit_record
from ml_prediction.services.errors import InvalidTransition, NotFound

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """A state change that makes no sense in the object's current state."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this change."
    default_code = "conflict"


class AnalysisFailed(exceptions.APIException):
    """An analysis run in (or awaited by) the request raised: the client gets the project's JSON
    error shape instead of Django's HTML 500, and the traceback is in the ML error log."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "analysis_failed"

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(
            f"The analysis of {service} failed ({reason}); the traceback is in the server's ML "
            "error log (ml_prediction_errors.log)."
        )


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, NotFound):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, InvalidTransition):
        return Conflict(str(exc) or None)
    return exc


def _audit_denied(exc: Exception, context: dict[str, Any]) -> None:
    """A signed-in user refused a state change (403) is a security event: who tried what. A
    read, or a request without credentials (401: anyone on the network), is not recorded."""
    request = context.get("request")
    if request is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    try:
        audit_record(
            actor=user.get_username(),
            action="api.denied",
            object_type="request",
            object_id=request.path[:64],
            outcome="denied",
            details={"method": request.method, "path": request.path, "reason": str(exc)[:300]},
        )
    except Exception:  # the 403 must go out whatever happens to the audit write
        logger.exception("could not audit a refused request")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _translate(exc)
    if isinstance(exc, exceptions.PermissionDenied):
        _audit_denied(exc, context)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    codes = getattr(exc, "get_codes", None)
    if callable(codes):
        got = codes()
        if isinstance(got, str):
            code = got
    response.data = {
        "error": {
            "code": code,
            "message": _first_message(detail),
            "details": detail,
        }
    }
    return response
