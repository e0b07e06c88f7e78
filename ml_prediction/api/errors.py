"""One error shape for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
