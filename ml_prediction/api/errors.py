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


def _message(detail: Any) -> str:
    """Every top-level parameter or field that failed, not only the first: a client fixing one
    at a time would need a round trip per mistake. Fields failing for the same reason (unknown
    parameters, which list the accepted ones) share one clause: ``a, b: unknown …``."""
    if not isinstance(detail, dict) or len(detail) < 2 or "detail" in detail:
        # ``{"detail", "code"}`` (simplejwt) is one error, not two fields
        return _first_message(detail)
    clauses: dict[str, list[str]] = {}
    for key, value in detail.items():
        inner = _first_message(value)
        clauses.setdefault(inner, [])
        if key not in ("detail", "non_field_errors"):
            clauses[inner].append(str(key))
    parts = [f"{', '.join(keys)}: {inner}" if keys else inner for inner, keys in clauses.items()]
    return " ".join(part if part.endswith((".", "!", "?")) else f"{part}." for part in parts)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, NotFound):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, InvalidTransition):
        return Conflict(str(exc) or None)
    return exc


# The audit's object types of the objects the API's paths name (``…/{kwarg}/…``), as the
# services record them, so that ``audit/?object_id=<id>`` shows a refusal beside what was done.
OBJECT_TYPES = {
    "action_id": "preventive_action",
    "anomaly_id": "anomaly",
    "insight_id": "insight",
    "prediction_id": "prediction",
}
OBJECT_ID_LENGTH = 64  # AuditEvent.object_id


def _path_prefix(path: str, limit: int = OBJECT_ID_LENGTH) -> str:
    """``path`` cut at the last ``/`` that fits ``limit``: a whole path segment, never half."""
    if len(path) <= limit:
        return path
    cut = path.rfind("/", 0, limit)
    return path[: cut + 1] if cut > 0 else path[:limit]


def denied_object(path: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    """(object_type, object_id) of a refused request: the object its path names (the id from
    the URL), else the request itself, by its path cut at a segment boundary."""
    for name, value in kwargs.items():
        text = str(value)
        if name.endswith("_id") and text and len(text) <= OBJECT_ID_LENGTH:
            return OBJECT_TYPES.get(name, name.removesuffix("_id")), text
    return "request", _path_prefix(path)


def _audit_denied(exc: Exception, context: dict[str, Any]) -> None:
    """A signed-in user refused a state change (403) is a security event: who tried what. A
    read, or a request without credentials (401: anyone on the network), is not recorded."""
    request = context.get("request")
    if request is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    object_type, object_id = denied_object(request.path, context.get("kwargs") or {})
    try:
        audit_record(
            actor=user.get_username(),
            action="api.denied",
            object_type=object_type,
            object_id=object_id,
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
            "message": _message(detail),
            "details": detail,
        }
    }
    return response
