"""Sentry-compatible ingestion: ``/api/<project_id>/envelope/`` and ``/api/<project_id>/store/``.

Official SDKs keep working unchanged with a DSN ``http://<public_key>@<host>/<project_id>``.
Event items become ErrorLog rows; sessions, transactions, client reports and every other item
type are accepted and ignored. Answers are exactly what the SDKs expect: 200 ``{"id": …}``,
and 429 with ``Retry-After`` / ``X-Sentry-Rate-Limits`` when a key is over its limit.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from error_logging.ingest.common import (
    IngestHTTPError,
    KeyInfo,
    authenticate,
    check_rate_limit,
    config_value,
    inflate,
    json_response,
    max_body_bytes,
    parse_json,
    read_body,
)
from error_logging.normalize import SEVERITY_ALIASES
from error_logging.services import IngestServiceMismatch, IngestValidationError, ingest_errors

_FRAME_KEYS = (
    "filename",
    "abs_path",
    "module",
    "function",
    "lineno",
    "colno",
    "in_app",
    "context_line",
    "platform",
    "package",
)
_CONTEXT_KEYS = ("os", "runtime", "browser", "device", "app", "trace", "culture", "response")


# --- authentication -------------------------------------------------------------------------------
def _auth_pairs(header: str) -> dict[str, str]:
    if header[:7].lower() == "sentry ":
        header = header[7:]
    pairs = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            pairs[name.strip()] = value.strip()
    return pairs


def sentry_key(request: HttpRequest, envelope_header: dict | None = None) -> str:
    """The DSN public key from X-Sentry-Auth, Authorization: Sentry …, the query, or the envelope."""
    for header in (
        request.META.get("HTTP_X_SENTRY_AUTH", ""),
        request.META.get("HTTP_AUTHORIZATION", ""),
    ):
        if "sentry_key" in header:
            key = _auth_pairs(header).get("sentry_key", "")
            if key:
                return key
    key = request.GET.get("sentry_key", "")
    if key:
        return key
    if envelope_header and isinstance(envelope_header.get("dsn"), str):
        return _url_parts(envelope_header["dsn"])[0]
    return ""


def _url_parts(url: str) -> tuple[str, str]:
    """(username, path) of a URL; ("", "") when it cannot be parsed (``http://[x``)."""
    try:
        parts = urlsplit(url)
        return parts.username or "", parts.path
    except ValueError:
        return "", ""


def _check_project(info: KeyInfo, project_id: int) -> None:
    if info.project_id != project_id:
        raise IngestHTTPError(
            403,
            f"this key belongs to project {info.project_id} (service {info.service!r}), "
            f"not project {project_id}",
            code="wrong_project",
        )


# --- envelope parsing -----------------------------------------------------------------------------
def parse_envelope(data: bytes) -> tuple[dict, list[tuple[dict, bytes]]]:
    """Split an envelope into its header and (item header, payload) pairs.

    Payloads carry an explicit ``length`` or run to the next newline; a length that runs past the
    end of the body is a truncated envelope (400), never a partial store.
    """
    if not data.strip():
        raise IngestHTTPError(400, "envelope is empty")
    end = data.find(b"\n")
    header_line = data if end < 0 else data[:end]
    header = parse_json(header_line, what="envelope header")
    if not isinstance(header, dict):
        raise IngestHTTPError(400, "envelope header must be a JSON object")
    items: list[tuple[dict, bytes]] = []
    pos = len(data) if end < 0 else end + 1
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        pos = size if end < 0 else end + 1
        if not line.strip():
            continue
        item_header = parse_json(line, what=f"envelope item {len(items)} header")
        if not isinstance(item_header, dict) or not isinstance(item_header.get("type"), str):
            raise IngestHTTPError(400, f"envelope item {len(items)} header needs a string type")
        length = item_header.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise IngestHTTPError(400, f"envelope item {len(items)} length is invalid")
            payload = data[pos : pos + length]
            if len(payload) < length:
                raise IngestHTTPError(
                    400,
                    f"envelope is truncated: item {len(items)} declares {length} bytes, "
                    f"{len(payload)} present",
                )
            pos += length
            if pos < size and data[pos : pos + 1] == b"\n":
                pos += 1
        else:
            end = data.find(b"\n", pos)
            payload = data[pos:] if end < 0 else data[pos:end]
            pos = size if end < 0 else end + 1
        items.append((item_header, payload))
    return header, items


# --- event → native item --------------------------------------------------------------------------
def _values(container: object) -> list:
    if isinstance(container, dict):
        container = container.get("values")
    return container if isinstance(container, list) else []


def _frames(stacktrace: object, *, keep_vars: bool) -> list[dict]:
    if not isinstance(stacktrace, dict):
        return []
    frames = stacktrace.get("frames")
    if not isinstance(frames, list):
        return []
    keys = (*_FRAME_KEYS, "vars") if keep_vars else _FRAME_KEYS
    return [
        {k: frame[k] for k in keys if k in frame} for frame in frames if isinstance(frame, dict)
    ]


def _message_text(event: dict) -> str:
    for name in ("logentry", "message"):
        value = event.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            text = value.get("formatted") or value.get("message")
            if isinstance(text, str) and text:
                return text
    return ""


def _tags(raw: object) -> dict:
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {
            str(pair[0]): str(pair[1])
            for pair in raw
            if isinstance(pair, list | tuple) and len(pair) == 2
        }
    return {}


def event_id_of(event: dict, fallback: object = None) -> str:
    raw = event.get("event_id") or fallback
    if not raw:
        return uuid.uuid4().hex
    try:
        return uuid.UUID(str(raw)).hex
    except ValueError:
        raise IngestHTTPError(400, f"event_id {str(raw)[:40]!r} is not a 32-hex id") from None


def event_to_item(event: dict, *, event_id: str, keep_vars: bool) -> dict:
    """A native error item from a Sentry event (exception or message)."""
    exceptions = [v for v in _values(event.get("exception")) if isinstance(v, dict)]
    message = _message_text(event)
    frames: list[dict] = []
    if exceptions:
        main = exceptions[-1]  # Sentry orders chained exceptions oldest first
        mechanism = main.get("mechanism") if isinstance(main.get("mechanism"), dict) else {}
        error_type = main.get("type") or ("Message" if mechanism.get("synthetic") else "Error")
        value = main.get("value")
        text = value if isinstance(value, str) and value else message
        frames = _frames(main.get("stacktrace"), keep_vars=keep_vars)
    else:
        error_type = "Message"
        text = message
        frames = _frames(event.get("stacktrace"), keep_vars=keep_vars)
        if not frames:
            for thread in _values(event.get("threads")):
                if isinstance(thread, dict) and (thread.get("crashed") or thread.get("current")):
                    frames = _frames(thread.get("stacktrace"), keep_vars=keep_vars)
                    break
    level = event.get("level")
    severity = SEVERITY_ALIASES.get(level.lower(), "error") if isinstance(level, str) else "error"

    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    url = request.get("url") if isinstance(request.get("url"), str) else ""
    endpoint = _url_parts(url)[1] if url else ""
    contexts = event.get("contexts") if isinstance(event.get("contexts"), dict) else {}
    user = event.get("user") if isinstance(event.get("user"), dict) else {}
    user_id = user.get("id") or user.get("username") or user.get("email") or ""
    tags = _tags(event.get("tags"))

    status_code = None
    response_ctx = contexts.get("response")
    if isinstance(response_ctx, dict) and isinstance(response_ctx.get("status_code"), int):
        status_code = response_ctx["status_code"]
    elif tags.get("http.status_code", "").isdecimal():
        status_code = int(tags["http.status_code"])
    if status_code is not None and not 100 <= status_code <= 599:
        status_code = None

    context: dict = {
        "contexts": {k: contexts[k] for k in _CONTEXT_KEYS if k in contexts},
    }
    if url:
        context["request"] = {"url": url[:2000], "method": request.get("method") or ""}
    for name in ("logger", "transaction", "culprit"):
        if isinstance(event.get(name), str):
            context[name] = event[name]
    if isinstance(event.get("extra"), dict):
        context["extra"] = event["extra"]
    sdk = event.get("sdk")
    if isinstance(sdk, dict):
        context["sdk"] = {"name": sdk.get("name"), "version": sdk.get("version")}
    if len(exceptions) > 1:
        context["exception_chain"] = [str(v.get("type") or "") for v in exceptions]

    item: dict = {
        "error_id": event_id,
        "error_type": str(error_type)[:255],
        "message": text,
        "severity": severity,
        "environment": event.get("environment") or "production",
        "release": event.get("release") or "",
        "host": event.get("server_name") or "",
        "platform": event.get("platform") or "",
        "endpoint": endpoint[:500],
        "status_code": status_code,
        "user_id": str(user_id)[:200],
        "stacktrace": frames,
        "tags": tags,
        "context": context,
    }
    if event.get("timestamp") is not None:
        item["occurred_at"] = event["timestamp"]
    return item


# --- views ----------------------------------------------------------------------------------------
def _ingest_events(info: KeyInfo, items: list[dict]) -> None:
    if not items:
        return
    try:
        ingest_errors(
            service=info.service,
            items=items,
            source="sentry",
            admit=lambda count: check_rate_limit(info, count),
        )
    except IngestServiceMismatch as exc:
        raise IngestHTTPError(403, str(exc), code="wrong_service") from None
    except IngestValidationError as exc:
        raise IngestHTTPError(
            400, f"event {exc.index}: {exc.field} {exc.message}", extra={"field": exc.field}
        ) from None


def _keep_vars() -> bool:
    return bool(settings.ML_PREDICTION_CONFIG.get("INGEST_KEEP_LOCAL_VARS", False))


def handle_envelope(request: HttpRequest, project_id: int) -> HttpResponse:
    try:
        if request.method != "POST":
            raise IngestHTTPError(405, "use POST", code="method_not_allowed")
        body = read_body(request)
        header, raw_items = parse_envelope(body)
        info = authenticate(sentry_key(request, header))
        _check_project(info, project_id)
        events = []
        first_id = None
        keep_vars = _keep_vars()
        max_batch = config_value("INGEST_MAX_BATCH", 1000)
        for index, (item_header, payload) in enumerate(raw_items):
            if item_header["type"] != "event":
                continue
            event = parse_json(payload, what=f"envelope item {index}")
            if not isinstance(event, dict):
                raise IngestHTTPError(400, f"envelope item {index} must be a JSON object")
            event_id = event_id_of(event, header.get("event_id"))
            first_id = first_id or event_id
            events.append(event_to_item(event, event_id=event_id, keep_vars=keep_vars))
        if len(events) > max_batch:
            raise IngestHTTPError(
                413, f"envelope has more than {max_batch} events", code="too_large"
            )
        _ingest_events(info, events)
        answer_id = first_id or header.get("event_id")
        return json_response({"id": answer_id} if answer_id else {})
    except IngestHTTPError as exc:
        return exc.response()


def _store_body(body: bytes) -> bytes:
    """Old SDKs send store bodies as base64 of zlib; everything else is JSON.

    The zlib stream is inflated under the same cap as a compressed request body (413 beyond
    it): a few hundred KB of base64 can hold gigabytes. A body that is not base64 of zlib is
    handed on as it is, for the JSON parser to name what is wrong with it.
    """
    stripped = body.lstrip()
    if not stripped or stripped[:1] == b"{":
        return body
    try:
        compressed = base64.b64decode(stripped, validate=False)
    except ValueError:
        return body
    try:
        return inflate(compressed, wbits=zlib.MAX_WBITS, limit=max_body_bytes(), what="store body")
    except IngestHTTPError as exc:
        if exc.status == 413:
            raise
        return body


def handle_store(request: HttpRequest, project_id: int) -> HttpResponse:
    try:
        if request.method != "POST":
            raise IngestHTTPError(405, "use POST", code="method_not_allowed")
        body = read_body(request)
        info = authenticate(sentry_key(request))
        _check_project(info, project_id)
        event = parse_json(_store_body(body), what="event")
        if not isinstance(event, dict):
            raise IngestHTTPError(400, "event must be a JSON object")
        event_id = event_id_of(event)
        _ingest_events(info, [event_to_item(event, event_id=event_id, keep_vars=_keep_vars())])
        return json_response({"id": event_id})
    except IngestHTTPError as exc:
        return exc.response()
