"""OpenAPI post-processing: what every /api/ml/ operation can answer but views don't declare, the
one error envelope on every error response, and descriptions of the list rows' components."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

ENVELOPE = "ErrorEnvelope"  # ml_prediction.api.serializers.ErrorEnvelopeSerializer
# Paths whose errors are not the envelope: health's 503 is the health document itself.
OWN_ERROR_SHAPES = ("/api/ml/health/",)
TOKEN_PATHS = ("/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/token/verify/")

# The row serializers (``RowSerializer``) have no docstrings of their own; their components are
# what API users read in Swagger UI, so they are described here, for them.
COMPONENT_DESCRIPTIONS = {
    "Action": "A preventive action recommended for a root cause: what to do, how urgent, and "
    "whether and how it was executed or skipped.",
    "AlertNotification": "One alert sent (or not sent) for a prediction, per channel.",
    "AnalysisRun": "One analysis of a service, completed or failed: when, how long, what it "
    "stored, and why it failed.",
    "Anomaly": "One scored time bucket of a service's metric: whether it is an anomaly, how "
    "severe, which detectors found it rare, and its likely root cause.",
    "AuditEvent": "Who did what to which object, and when (including refused state changes).",
    "Feedback": "A user's verdict on a prediction (true or false positive).",
    "Forecast": "A forecast of one metric of a service, with its interval and whether it "
    "crosses its capacity limit.",
    "Insight": "A finding of the analysis (rising trend, recurring pattern, capacity warning, "
    "hotspot, model drift) with its supporting data and recommendations.",
    "MLModel": "A trained model version of a service, with its held-out metrics.",
    "MLModelDetail": "A trained model version with its configuration, metrics, features and "
    "how it was trained and (not) promoted.",
    "Prediction": "A predicted error of a service within a horizon: type, category, severity, "
    "probability, contributing factors and recommended actions, and whether it came true.",
}


def _envelope(result: dict[str, Any]) -> dict[str, Any] | None:
    if ENVELOPE not in result.get("components", {}).get("schemas", {}):
        return None
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ENVELOPE}"}}}


def _operations(result: dict[str, Any], *prefixes: str) -> Iterator[tuple[str, str, Any]]:
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(prefixes):
            continue
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


THROTTLED_HEADERS = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
TOKEN_ERRORS = {
    "400": "A required field is missing or blank (`invalid`).",
    "401": "An invalid, expired or revoked token (`token_not_valid`, `password_changed`), or "
    "its user is gone (`no_active_account`).",
    "429": "Throttled (`throttled`); retry after the seconds in Retry-After.",
}
SIGN_IN_ERRORS = {
    **TOKEN_ERRORS,
    "401": "Wrong username or password, or an inactive user (`no_active_account`).",
    "429": "Too many failed sign-ins for this username or client address (`throttled`); "
    "retry after the seconds in Retry-After, even with the right password.",
}


def add_common_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Paginated lists can answer 404 (a page past the end); every operation can be throttled;
    every one but health needs a JWT (401); the token endpoints refuse bad input, bad
    credentials and too many failed sign-ins. Every error response of /api/ml/ and of the token
    endpoints carries the error envelope.

    Also runs ``describe_components`` (settings list the hooks; this one is already there).
    """
    for path, _method, operation in _operations(result, "/api/ml/"):
        responses = operation["responses"]
        names = {p.get("name") for p in operation.get("parameters", [])}
        if "page" in names:
            responses.setdefault("404", {"description": "The page is past the last page."})
        responses.setdefault(
            "429",
            {
                "description": "Throttled (`throttled`); retry after the seconds in Retry-After.",
                "headers": copy.deepcopy(THROTTLED_HEADERS),
            },
        )
        if path not in OWN_ERROR_SHAPES:
            responses.setdefault("401", {"description": "No or invalid JWT."})
    for path, _method, operation in _operations(result, *TOKEN_PATHS):
        errors = SIGN_IN_ERRORS if path == TOKEN_PATHS[0] else TOKEN_ERRORS
        for code, description in errors.items():
            operation["responses"].setdefault(code, {"description": description})
        operation["responses"]["429"].setdefault("headers", copy.deepcopy(THROTTLED_HEADERS))
    envelope = _envelope(result)
    if envelope is not None:
        for path, _method, operation in _operations(result, "/api/ml/", *TOKEN_PATHS):
            if path in OWN_ERROR_SHAPES:
                continue
            for code, response in operation["responses"].items():
                if str(code)[0] in "45" and "content" not in response:
                    response["content"] = copy.deepcopy(envelope)
    return describe_components(result, generator, request, public)


def describe_components(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """User-facing descriptions of the row components that have none of their own."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, description in COMPONENT_DESCRIPTIONS.items():
        if name in schemas and not schemas[name].get("description"):
            schemas[name]["description"] = description
    return result


def uuid_path_ids(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Every ``…_id`` in an /api/ml/ path is a UUID (anything else is a 404). Saying so keeps a
    client, or a fuzzer, from taking ``at_risk`` or ``unacknowledged`` for an id: those are the
    list actions beside the detail routes.
    """
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/ml/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name", "").endswith("_id"):
                    parameter["schema"] = {"type": "string", "format": "uuid"}
    return result
