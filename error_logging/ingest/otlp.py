"""OTLP/HTTP JSON logs: ``POST /v1/logs``.

Log records at severity ERROR and above (severityNumber ≥ 17) or carrying ``exception.*``
attributes become ErrorLog rows; the resource's ``service.name`` picks the service and must be
the key's service. Other records are accepted and dropped, as collectors expect.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from error_logging.ingest.common import (
    IngestHTTPError,
    KeyInfo,
    authenticate,
    check_rate_limit,
    config_value,
    json_response,
    key_from_headers,
    parse_json,
    read_body,
)
from error_logging.normalize import TimestampError, parse_timestamp
from error_logging.services import IngestServiceMismatch, IngestValidationError, ingest_errors

ERROR_SEVERITY_NUMBER = 17  # OTel SeverityNumber ERROR; 21+ is FATAL
_TEXT_SEVERITY = {
    "ERROR": 17,
    "ERROR2": 18,
    "ERROR3": 19,
    "ERROR4": 20,
    "FATAL": 21,
    "CRITICAL": 21,
}


def any_value(value: object) -> object:
    """Plain Python from an OTLP AnyValue."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        values = _field(value, "arrayValue").get("values")
        return [any_value(v) for v in values] if isinstance(values, list) else []
    if "kvlistValue" in value:
        return attributes(_field(value, "kvlistValue").get("values"))
    return None


def _field(container: dict, name: str) -> dict:
    """A nested OTLP message inside an attribute value; anything but an object reads as empty."""
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def _repeated(container: dict, name: str, where: str) -> list:
    """A repeated OTLP field: absent or null is empty, anything but a list is a 400."""
    value = container.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise IngestHTTPError(400, f"{where}.{name} must be a list", extra={"field": name})
    return value


def attributes(raw: object) -> dict:
    if not isinstance(raw, list):
        return {}
    return {
        str(kv["key"]): any_value(kv.get("value"))
        for kv in raw
        if isinstance(kv, dict) and "key" in kv
    }


def _severity(record: dict) -> tuple[int, str]:
    number = record.get("severityNumber") or 0
    if isinstance(number, str):
        number = int(number) if number.isdecimal() else 0
    elif isinstance(number, bool) or not isinstance(number, int | float):
        number = 0
    text = str(record.get("severityText") or "").upper()
    if not number:
        number = _TEXT_SEVERITY.get(text, 0)
    if number >= 21:
        return number, "critical"
    if number >= 17:
        return number, "error"
    if number >= 13:
        return number, "warning"
    if number >= 9:
        return number, "info"
    return number, "debug"


def _time(record: dict, now: datetime) -> float | None:
    """Epoch seconds of the record, checked here so a bad value is named by its OTLP field."""
    for key in ("timeUnixNano", "observedTimeUnixNano"):
        raw = record.get(key)
        if raw not in (None, "", "0", 0):
            try:
                seconds = int(raw) / 1e9
            except (TypeError, ValueError, OverflowError):
                raise IngestHTTPError(
                    400, f"log record {key} is not an integer", extra={"field": key}
                ) from None
            try:
                if seconds > 1e11:  # nanoseconds are unambiguous: no milliseconds guess here
                    raise TimestampError("is more than a day in the future")
                parse_timestamp(seconds, now=now)
            except TimestampError as exc:
                raise IngestHTTPError(
                    400, f"log record {key} {exc}", extra={"field": key}
                ) from None
            return seconds
    return None


def record_to_item(
    record: dict, resource: dict, service: str, *, now: datetime | None = None
) -> dict | None:
    """A native error item, or None when the record is below ERROR and has no exception."""
    attrs = attributes(record.get("attributes"))
    number, severity = _severity(record)
    has_exception = any(k.startswith("exception.") for k in attrs)
    if number < ERROR_SEVERITY_NUMBER and not has_exception:
        return None
    if number < ERROR_SEVERITY_NUMBER:
        severity = "error"
    body = any_value(record.get("body"))
    message = attrs.get("exception.message") or (body if isinstance(body, str) else "")
    if not isinstance(message, str):
        message = str(message)
    stack = attrs.get("exception.stacktrace")
    status = attrs.get("http.response.status_code") or attrs.get("http.status_code")
    item = {
        "service": service,
        "error_type": str(attrs.get("exception.type") or "LogError")[:255],
        "message": message,
        "severity": severity,
        "environment": str(
            resource.get("deployment.environment.name")
            or resource.get("deployment.environment")
            or "production"
        ),
        "release": str(resource.get("service.version") or ""),
        "host": str(resource.get("host.name") or ""),
        "platform": str(resource.get("telemetry.sdk.language") or "otlp"),
        "endpoint": str(attrs.get("http.route") or attrs.get("url.path") or ""),
        "status_code": int(status) if isinstance(status, int) and 100 <= status <= 599 else None,
        "stacktrace": [{"raw": stack}] if isinstance(stack, str) and stack else [],
        "tags": {k: str(v) for k, v in attrs.items() if not k.startswith("exception.")},
        "context": {
            "otel": {
                "trace_id": record.get("traceId") or "",
                "span_id": record.get("spanId") or "",
                "severity_text": record.get("severityText") or "",
            }
        },
    }
    occurred = _time(record, now or timezone.now())
    if occurred is not None:
        item["occurred_at"] = occurred
    return item


def logs_to_items(data: object, info: KeyInfo) -> list[dict]:
    if not isinstance(data, dict) or not isinstance(data.get("resourceLogs", []), list):
        raise IngestHTTPError(400, "body must be an OTLP ExportLogsServiceRequest (resourceLogs)")
    items = []
    now = timezone.now()
    for r_index, resource_logs in enumerate(data.get("resourceLogs", [])):
        if not isinstance(resource_logs, dict):
            raise IngestHTTPError(400, f"resourceLogs[{r_index}] must be an object")
        where = f"resourceLogs[{r_index}]"
        raw_resource = resource_logs.get("resource")
        if raw_resource is not None and not isinstance(raw_resource, dict):
            raise IngestHTTPError(400, f"{where}.resource must be an object")
        resource = attributes((raw_resource or {}).get("attributes"))
        service = resource.get("service.name") or info.service
        for s_index, scope_logs in enumerate(_repeated(resource_logs, "scopeLogs", where)):
            if not isinstance(scope_logs, dict):
                raise IngestHTTPError(400, f"{where}.scopeLogs[{s_index}] must be an object")
            for record in _repeated(scope_logs, "logRecords", f"{where}.scopeLogs[{s_index}]"):
                if not isinstance(record, dict):
                    raise IngestHTTPError(
                        400, f"resourceLogs[{r_index}] has a non-object log record"
                    )
                item = record_to_item(record, resource, str(service), now=now)
                if item is not None:
                    items.append(item)
    return items


def handle_logs(request: HttpRequest) -> HttpResponse:
    try:
        if request.method != "POST":
            raise IngestHTTPError(405, "use POST", code="method_not_allowed")
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json":
            raise IngestHTTPError(
                415,
                "only OTLP/HTTP JSON is accepted (Content-Type: application/json)",
                code="unsupported_media_type",
            )
        info = authenticate(key_from_headers(request))
        items = logs_to_items(parse_json(read_body(request)), info)
        max_batch = config_value("INGEST_MAX_BATCH", 1000)
        if len(items) > max_batch:
            raise IngestHTTPError(
                413,
                f"{len(items)} error records exceed the maximum of {max_batch}",
                code="batch_too_large",
            )
        if items:
            try:
                ingest_errors(
                    service=info.service,
                    items=items,
                    source="otlp",
                    admit=lambda count: check_rate_limit(info, count),
                )
            except IngestServiceMismatch as exc:
                raise IngestHTTPError(403, str(exc), code="wrong_service") from None
            except IngestValidationError as exc:
                raise IngestHTTPError(
                    400, str(exc), extra={"index": exc.index, "field": exc.field}
                ) from None
        return json_response({"partialSuccess": {}})
    except IngestHTTPError as exc:
        return exc.response()
