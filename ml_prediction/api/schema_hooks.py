"""OpenAPI post-processing: responses every /api/ml/ operation can give but views don't declare."""

from __future__ import annotations

from typing import Any


def add_common_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Paginated lists can answer 404 (a page past the end); every operation can be throttled."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/ml/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            names = {p.get("name") for p in operation.get("parameters", [])}
            if "page" in names:
                responses.setdefault("404", {"description": "The page is past the last page."})
            responses.setdefault("429", {"description": "Throttled; see Retry-After."})
    return result


def uuid_path_ids(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Every ``…_id`` in an /api/ml/ path is a UUID (anything else is a 404). Saying so keeps a
    client, or a fuzzer, from taking ``at_risk`` or ``unacknowledged`` for an id: those are the
    list actions beside the detail routes."""
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
