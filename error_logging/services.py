"""Ingestion services: validate items, store them all-or-nothing, upsert rollups, signal once.

Every door (native JSON, Sentry envelopes, OTLP logs, replay) ends in ``ingest_errors`` or
``ingest_metrics``. The hot path builds plain tuples (no model instances, no DRF) and, on
PostgreSQL, streams them with COPY; duplicates of a client-supplied ``error_id`` are dropped so a
retried request is accepted once.
"""

from __future__ import annotations

import contextvars
import io
import logging
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from error_logging.normalize import (
    SEVERITY_ALIASES,
    TimestampError,
    classify,
    parse_timestamp,
)
from error_logging.rollups import rollup_deltas, rollup_upsert
from feeding_hearts.catalog import CATEGORIES, SERVICES

logger = logging.getLogger(__name__)

ERROR_COLUMNS: tuple[str, ...] = (
    "error_id",
    "service",
    "environment",
    "release",
    "host",
    "platform",
    "error_type",
    "message",
    "severity",
    "category",
    "endpoint",
    "status_code",
    "response_time_ms",
    "user_id",
    "fingerprint",
    "stacktrace",
    "tags",
    "context",
    "occurred_at",
    "received_at",
)
# Accepted spellings besides the column names (what common SDKs and log shippers call them).
_ALIASES = {
    "timestamp": "occurred_at",
    "level": "severity",
    "path": "endpoint",
    "type": "error_type",
}
_ALLOWED_KEYS = frozenset(ERROR_COLUMNS) | frozenset(_ALIASES)
_MAX_LEN = {
    "environment": 64,
    "release": 200,
    "host": 255,
    "platform": 64,
    "error_type": 255,
    "endpoint": 500,
    "user_id": 200,
    "fingerprint": 64,
}
_METRIC_KEYS = frozenset({"sample_id", "service", "metric_name", "value", "timestamp", "tags"})
_CATEGORY_SET = frozenset(CATEGORIES)
_SERVICE_SET = frozenset(SERVICES)
# A request that took longer than a day is a unit or encoding mistake, not a latency; stored, it
# would swamp every latency feature of the service (1e300 overflowed the predictor's float32).
MAX_RESPONSE_TIME_MS = 86_400_000
# Far above any real gauge or counter (a byte count of a large host fits); beyond it a value is a
# mistake that would overflow the engines' float32 features.
MAX_METRIC_ABS_VALUE = 1e15


class IngestValidationError(Exception):
    """One item of a batch is invalid; the whole batch is rejected (nothing is stored)."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"item {index}: {field}: {message}")
        self.index = index
        self.field = field
        self.message = message


class IngestServiceMismatch(IngestValidationError):
    """An item names another service than the one the caller's key belongs to (HTTP 403)."""


@dataclass(frozen=True)
class IngestResult:
    service: str
    accepted: int  # rows stored by this call
    duplicates: int  # items whose id was already stored (or repeated in the batch)
    ids: list[str] = field(default_factory=list)  # every item's id, in input order


def _text(index: int, item: dict, name: str, default: str = "") -> str:
    """The field as text, without NUL characters (PostgreSQL text and jsonb refuse them, and the
    error type becomes a jsonb key of the rollups), cut to the column's length."""
    value = item.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        raise IngestValidationError(index, name, "must be a string")
    if "\x00" in text:
        text = text.replace("\x00", "")
    limit = _MAX_LEN.get(name)
    return text[:limit] if limit else text


def _check_service(index: int, value: object, service: str) -> None:
    if value is None or value == service:
        return
    if not isinstance(value, str) or value not in _SERVICE_SET:
        raise IngestValidationError(
            index, "service", f"unknown service {value!r}; expected one of {', '.join(SERVICES)}"
        )
    raise IngestServiceMismatch(
        index, "service", f"this key belongs to service {service!r}, not {value!r}"
    )


def _uuid_or_new(index: int, item: dict, name: str) -> uuid.UUID:
    """The client's id for the row (so a retried batch is not stored twice), or a new one."""
    raw = item.get(name)
    if raw is None or raw == "":
        return uuid.uuid4()
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise IngestValidationError(index, name, "is not a UUID") from None


def _resolve_aliases(index: int, item: dict) -> dict:
    """The item under the column names; an alias sent beside its column must agree with it.

    A client sending both ``timestamp`` and ``occurred_at`` (say) with different values has a
    bug that picking either one would hide, so that is a 400; a null counts as absent.
    """
    resolved = dict(item)
    for alias, name in _ALIASES.items():
        if alias not in resolved:
            continue
        value = resolved.pop(alias)
        current = resolved.get(name)
        if current is None:
            resolved[name] = value
        elif value is not None and value != current:
            raise IngestValidationError(
                index, alias, f"is another name for {name}; both were sent, with different values"
            )
    return resolved


def _strip_frame_vars(frames: list) -> list:
    return [
        {k: v for k, v in frame.items() if k != "vars"} if isinstance(frame, dict) else frame
        for frame in frames
    ]


def _clean_error(
    index: int, item: object, *, service: str, now: datetime, keep_vars: bool
) -> tuple:
    """One validated row in ERROR_COLUMNS order (error_id as a UUID, JSON fields as Python)."""
    if not isinstance(item, dict):
        raise IngestValidationError(index, "item", "must be a JSON object")
    unknown = item.keys() - _ALLOWED_KEYS
    if unknown:
        raise IngestValidationError(index, str(sorted(unknown)[0])[:60], "unknown field")
    if not _ALIASES.keys().isdisjoint(item):
        item = _resolve_aliases(index, item)
    _check_service(index, item.get("service"), service)

    error_id = _uuid_or_new(index, item, "error_id")

    error_type = _text(index, item, "error_type").strip()
    if not error_type:
        raise IngestValidationError(index, "error_type", "is required")
    message = _text(index, item, "message")

    raw_severity = item.get("severity")
    if raw_severity is None:
        severity = "error"
    else:
        severity = (
            SEVERITY_ALIASES.get(str(raw_severity).lower())
            if isinstance(raw_severity, str)
            else None
        )
        if severity is None:
            raise IngestValidationError(
                index, "severity", "must be one of debug, info, warning, error, critical"
            )

    stacktrace = item.get("stacktrace")
    if stacktrace is None:
        stacktrace = []
    elif not isinstance(stacktrace, list):
        raise IngestValidationError(index, "stacktrace", "must be a list of frames")
    elif not keep_vars and any(type(f) is dict and "vars" in f for f in stacktrace):
        stacktrace = _strip_frame_vars(stacktrace)
    tags = item.get("tags")
    if tags is None:
        tags = {}
    elif not isinstance(tags, dict):
        raise IngestValidationError(index, "tags", "must be an object")
    context = item.get("context")
    if context is None:
        context = {}
    elif not isinstance(context, dict):
        raise IngestValidationError(index, "context", "must be an object")

    category = item.get("category")
    if category is not None and not isinstance(category, str):
        raise IngestValidationError(index, "category", f"must be one of {', '.join(CATEGORIES)}")
    fp = _text(index, item, "fingerprint")
    if not category or not fp:
        derived_category, derived_fp = classify(error_type, message, stacktrace)
        category = category or derived_category
        fp = fp or derived_fp
    if category not in _CATEGORY_SET:
        raise IngestValidationError(index, "category", f"must be one of {', '.join(CATEGORIES)}")

    status_code = item.get("status_code")
    if status_code is not None:
        if isinstance(status_code, str) and status_code.isdecimal():
            status_code = int(status_code)
        if (
            not isinstance(status_code, int)
            or isinstance(status_code, bool)
            or not (100 <= status_code <= 599)
        ):
            raise IngestValidationError(index, "status_code", "must be an HTTP status (100-599)")
    rt = item.get("response_time_ms")
    if rt is not None:
        if (
            isinstance(rt, bool)
            or not isinstance(rt, int | float)
            or not math.isfinite(rt)
            or not 0 <= rt <= MAX_RESPONSE_TIME_MS
        ):
            raise IngestValidationError(
                index,
                "response_time_ms",
                f"must be a number of milliseconds from 0 to {MAX_RESPONSE_TIME_MS:,} (one day)",
            )
        rt = float(rt)

    raw_time = item.get("occurred_at")
    if raw_time is None:
        occurred_at = now
    else:
        try:
            occurred_at = parse_timestamp(raw_time, now=now)
        except TimestampError as exc:
            raise IngestValidationError(index, "occurred_at", str(exc)) from None

    return (
        error_id,
        service,
        _text(index, item, "environment", "production"),
        _text(index, item, "release"),
        _text(index, item, "host"),
        _text(index, item, "platform"),
        error_type,
        message,
        severity,
        category,
        _text(index, item, "endpoint"),
        status_code,
        rt,
        _text(index, item, "user_id"),
        fp,
        stacktrace,
        tags,
        context,
        occurred_at,
        now,
    )


# --- PostgreSQL COPY ------------------------------------------------------------------------------
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": None})


_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")


def _copy_json(value: object) -> str:
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:  # jsonb refuses NUL characters: drop them (rare, so re-dump)
        text = orjson.dumps(_without_nul(value)).decode()
    # orjson escapes every control character, so only backslashes need COPY escaping
    return text.replace("\\", "\\\\")


def _without_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _copy_text(value: str) -> str:
    # one C-level scan; most values have nothing to escape
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _copy_rows(rows: list[tuple]) -> io.StringIO:
    lines = []
    append = lines.append
    for r in rows:
        append(
            "\t".join(
                (
                    str(r[0]),
                    r[1],
                    _copy_text(r[2]),
                    _copy_text(r[3]),
                    _copy_text(r[4]),
                    _copy_text(r[5]),
                    _copy_text(r[6]),
                    _copy_text(r[7]),
                    r[8],
                    r[9],
                    _copy_text(r[10]),
                    "\\N" if r[11] is None else str(r[11]),
                    "\\N" if r[12] is None else repr(r[12]),
                    _copy_text(r[13]),
                    _copy_text(r[14]),
                    _copy_json(r[15]),
                    _copy_json(r[16]),
                    _copy_json(r[17]),
                    r[18].isoformat(),
                    r[19].isoformat(),
                )
            )
        )
    lines.append("")
    return io.StringIO("\n".join(lines))


def _insert_rows(rows: list[tuple]) -> None:
    from error_logging.models import ErrorLog

    connection = connections["default"]
    if connection.vendor == "postgresql":
        sql = (
            f"COPY {connection.ops.quote_name(ErrorLog._meta.db_table)} "
            f"({', '.join(ERROR_COLUMNS)}) FROM STDIN"
        )
        with connection.cursor() as cursor, connection.wrap_database_errors:
            # copy_expert bypasses Django's cursor wrapper; map psycopg2 errors to Django's
            cursor.copy_expert(sql, _copy_rows(rows))
        return
    ErrorLog.objects.bulk_create(
        [ErrorLog(**dict(zip(ERROR_COLUMNS, row, strict=True))) for row in rows], batch_size=500
    )


def _existing_ids(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    from error_logging.models import ErrorLog

    if not ids:
        return set()
    return set(ErrorLog.objects.filter(error_id__in=ids).values_list("error_id", flat=True))


def ingest_errors(
    *,
    service: str,
    items: list[dict],
    source: str = "native",
    admit: Callable[[int], None] | None = None,
) -> IngestResult:
    """Validate and store a batch of native error items for one service, all or nothing.

    Raises IngestValidationError (index, field, message) before anything is written. ``admit``
    (the doors' rate limit) is called with the item count once every item is valid and before
    anything is written, so a rejected batch uses no quota; it may raise to refuse the batch.
    Items whose ``error_id`` is already stored are skipped (a retried request is accepted once).
    The rollups are upserted in the same transaction; one ``errors_ingested`` signal follows the
    commit.
    """
    if service not in _SERVICE_SET:
        raise IngestValidationError(0, "service", f"unknown service {service!r}")
    config = settings.ML_PREDICTION_CONFIG
    keep_vars = config.get("INGEST_KEEP_LOCAL_VARS", False)
    now = timezone.now()
    cleaned = [
        _clean_error(i, item, service=service, now=now, keep_vars=keep_vars)
        for i, item in enumerate(items)
    ]
    if admit is not None:
        admit(len(cleaned))
    ids = [str(row[0]) for row in cleaned]
    supplied = [row[0] for row, item in zip(cleaned, items, strict=True) if item.get("error_id")]

    # Optimistic: most batches carry no already-stored id, so the first attempt skips the lookup
    # and lets the unique index speak; a retried request (IntegrityError) is redone with it.
    lookup: list[uuid.UUID] = []
    for attempt in range(3):
        try:
            stored = _store_errors(cleaned, lookup)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("%s batch for %s repeats stored ids; dropping them", source, service)
            lookup = supplied
        except (orjson.JSONEncodeError, RecursionError):
            # nothing was written (the COPY buffer is built before the COPY starts)
            raise _too_deep(
                [(i, name, row[col]) for i, row in enumerate(cleaned) for col, name in _JSON_COLS],
                orjson.dumps,
            ) from None

    duplicates = len(cleaned) - len(stored)
    if stored:
        from error_logging.signals import errors_ingested

        stored_ids = [str(row[0]) for row in stored]
        # run the receivers in this call's context, so analysis_requests_suspended() still
        # applies when a bulk loader's transaction commits after leaving the block
        context = contextvars.copy_context()
        transaction.on_commit(
            lambda: context.run(
                errors_ingested.send,
                sender=ingest_errors,
                service=service,
                error_ids=stored_ids,
                source=source,
            ),
            using="default",
        )
    return IngestResult(service=service, accepted=len(stored), duplicates=duplicates, ids=ids)


_JSON_COLS = ((15, "stacktrace"), (16, "tags"), (17, "context"))
_TOO_DEEP = "is nested too deeply to store (at most 254 levels)"


def _too_deep(
    values: list[tuple[int, str, object]], encode: Callable[[object], object]
) -> IngestValidationError:
    """The first (index, field) the store's JSON encoder refuses: nesting deeper than it allows.

    Found only after a store failed, so accepted batches never pay for a depth walk.
    """
    for index, name, value in values:
        try:
            encode(value)
        except (TypeError, ValueError, RecursionError):
            return IngestValidationError(index, name, _TOO_DEEP)
    return IngestValidationError(0, "item", "could not be encoded as JSON")


def _store_errors(cleaned: list[tuple], supplied: list[uuid.UUID]) -> list[tuple]:
    with transaction.atomic(using="default"):
        seen: set[uuid.UUID] = _existing_ids(supplied)
        rows = []
        for row in cleaned:
            if row[0] in seen:
                continue
            seen.add(row[0])
            rows.append(row)
        if rows:
            _insert_rows(rows)
            deltas = rollup_deltas((r[1], r[18], r[8], r[9], r[6], r[12], r[13]) for r in rows)
            rollup_upsert(deltas=deltas)
    return rows


def _storable_json(index: int, name: str, value: object) -> object:
    """The value as jsonb will take it: NUL characters dropped, nesting within what the errors'
    JSON encoder (orjson, 254 levels) writes, so both kinds of rows have one limit."""
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise IngestValidationError(index, name, _TOO_DEEP) from None
    return _without_nul(value) if b"\\u0000" in encoded else value


def _clean_metric(index: int, item: object, *, service: str, now: datetime) -> dict:
    if not isinstance(item, dict):
        raise IngestValidationError(index, "item", "must be a JSON object")
    for key in item:
        if key not in _METRIC_KEYS:
            raise IngestValidationError(index, str(key)[:60], "unknown field")
    _check_service(index, item.get("service"), service)
    name = item.get("metric_name")
    if isinstance(name, str):
        name = name.replace("\x00", "")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise IngestValidationError(index, "metric_name", "is required (a string of ≤ 100 chars)")
    value = item.get("value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise IngestValidationError(index, "value", "must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IngestValidationError(index, "value", "must be a finite number")
    if abs(value) > MAX_METRIC_ABS_VALUE:
        raise IngestValidationError(
            index,
            "value",
            f"must be between -{MAX_METRIC_ABS_VALUE:.0e} and {MAX_METRIC_ABS_VALUE:.0e}",
        )
    if item.get("timestamp") is None:
        raise IngestValidationError(index, "timestamp", "is required")
    try:
        timestamp = parse_timestamp(item["timestamp"], now=now)
    except TimestampError as exc:
        raise IngestValidationError(index, "timestamp", str(exc)) from None
    tags = item.get("tags")
    if tags is None:
        tags = {}
    elif not isinstance(tags, dict):
        raise IngestValidationError(index, "tags", "must be an object")
    else:
        tags = _storable_json(index, "tags", tags)
    sample_id = _uuid_or_new(index, item, "sample_id")
    return {
        "sample_id": sample_id,
        "service": service,
        "metric_name": name.strip(),
        "value": float(value),
        "timestamp": timestamp,
        "tags": tags,
        "received_at": now,
    }


def ingest_metrics(
    *, service: str, items: list[dict], admit: Callable[[int], None] | None = None
) -> IngestResult:
    """Validate and store metric samples for one service, all or nothing (duplicates skipped).

    ``admit`` is called as in ``ingest_errors``: valid batches only, before any write.
    """
    from error_logging.models import MetricSample

    if service not in _SERVICE_SET:
        raise IngestValidationError(0, "service", f"unknown service {service!r}")
    now = timezone.now()
    cleaned = [_clean_metric(i, item, service=service, now=now) for i, item in enumerate(items)]
    if admit is not None:
        admit(len(cleaned))
    with transaction.atomic(using="default"):
        supplied = [
            c["sample_id"] for c, item in zip(cleaned, items, strict=True) if item.get("sample_id")
        ]
        existing = set(
            MetricSample.objects.filter(sample_id__in=supplied).values_list("sample_id", flat=True)
        )
        fresh = []
        for c in cleaned:
            if c["sample_id"] in existing:
                continue
            existing.add(c["sample_id"])
            fresh.append(MetricSample(**c))
        MetricSample.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
    return IngestResult(
        service=service,
        accepted=len(fresh),
        duplicates=len(cleaned) - len(fresh),
        ids=[str(c["sample_id"]) for c in cleaned],
    )
