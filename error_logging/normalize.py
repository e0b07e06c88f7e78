"""Turning what SDKs send into ErrorLog values: severity, category, fingerprint, timestamps.

Plain Python with precompiled regular expressions: this runs once per ingested error on the hot
path, so it avoids Django and per-row allocations where it can.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

SEVERITY_ALIASES: dict[str, str] = {
    "debug": "debug",
    "trace": "debug",
    "info": "info",
    "log": "info",
    "notice": "info",
    "information": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "err": "error",
    "exception": "error",
    "critical": "critical",
    "fatal": "critical",
    "crit": "critical",
    "emergency": "critical",
    "alert": "critical",
    "high": "error",
    "medium": "warning",
    "low": "info",
}

# First match wins: a DatabaseTimeoutError is a timeout, a "connection refused" to the database
# is a connection problem only when nothing more specific matched. A TypeError or KeyError
# ("Cannot read properties of undefined", "KeyError: 'campaign_7'") is a defect in the code, not
# input that failed validation, so it stays "other" with AttributeError and NullPointerException:
# filed under validation, a bad release's TypeErrors read as "validation errors up".
_CATEGORY_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("timeout", re.compile(r"timeout|timed out|time out|deadline exceeded|took too long")),
    ("memory", re.compile(r"memory|\boom\b|out of heap|heap space|memoryerror|oomkill")),
    (
        "database",
        re.compile(
            r"database|\bdb\b|dberror|sql|psycopg|postgres|mysql|sqlite|mongo|deadlock|"
            r"integrityerror|operationalerror|query|\bpool\b|connection pool|transaction|"
            r"jdbc|hikari"
        ),
    ),
    (
        "connection",
        re.compile(
            r"connection|connect|refused|unreachable|network|socket|econn|\bdns\b|"
            r"broken pipe|reset by peer|host not found|ssl"
        ),
    ),
    (
        "auth",
        re.compile(
            r"auth|permission|forbidden|unauthori[sz]ed|\b401\b|\b403\b|token|credential|"
            r"login|access (?:is )?denied|accessdenied|csrf|jwt"
        ),
    ),
    (
        "validation",
        re.compile(
            r"validat|invalid|valueerror|parse|malformed|required|"
            r"schema|format|\b422\b|\b400\b|unprocessable"
        ),
    ),
    (
        "api",
        re.compile(
            r"\bapi\b|apierror|http|\b5\d\d\b|bad gateway|service unavailable|upstream|"
            r"response|endpoint|rate limit|\b429\b"
        ),
    ),
]


@lru_cache(maxsize=8192)
def _category_of(text: str) -> str:
    for name, pattern in _CATEGORY_RULES:
        if pattern.search(text):
            return name
    return "other"


# An HTTP status the message says a response had: "Request failed with status code 502"
# (Axios), "resulted in a `429 Too Many Requests` response" (Guzzle), "HTTP/1.1 503".
_STATUS_IN_MESSAGE = re.compile(
    r"(?:status(?: code)?|resulted in(?: an?)?|http(?:/[\d.]+)?|response(?: code)?)"
    r"[\s:=`'\"]*([1-5]\d\d)\b",
    re.IGNORECASE,
)


def _status_category(message: str) -> str:
    """The category of the HTTP status a message reports, or "other".

    The category rules read the message template, whose numbers are masked (so that repeats
    of one error share a cache entry and a fingerprint); a status code is then often the only
    sign left. Found in the demo: a Laravel release failing every receipt call ("Client
    error: POST /v2/receipts resulted in 429") and React's and Vue's failing API calls
    ("Request failed with status code 500") were stored as "other", so the root cause of a
    bad release read "no single cause stands out". Only a number the message calls a status
    counts: "worker 512" or "line 500" stay other.
    """
    found = _STATUS_IN_MESSAGE.search(message[:300])
    if found is None:
        return "other"
    status = int(found.group(1))
    if status in (401, 403, 407):
        return "auth"
    if status in (408, 504):
        return "timeout"
    if status in (400, 422):
        return "validation"
    return "api" if status == 429 or status >= 400 else "other"


def _category(error_type: str, template: str, message: str) -> str:
    category = _category_of(f"{error_type} {template[:200]}".lower())
    return _status_category(message) if category == "other" else category


def derive_category(error_type: str, message: str) -> str:
    """One of the catalogue's categories from the error type and the first part of the message."""
    return _category(error_type, message_template(message), message)


def classify(error_type: str, message: str, frames: list) -> tuple[str, str]:
    """(category, fingerprint) computed from the message template once.

    The category is derived from the template rather than the raw message so that repeats of
    one error (differing only in ids and numbers) hit the cache.
    """
    template = message_template(message)
    return (
        _category(error_type, template, message),
        _fingerprint(error_type, template, top_in_app_frame(frames)),
    )


# Variable parts of messages: UUIDs, hex ids, quoted strings, e-mails, IPs, numbers.
_VARIABLE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|0x[0-9a-fA-F]+|\b[0-9a-fA-F]{12,}\b"
    r"|'[^']*'|\"[^\"]*\""
    r"|[\w.+-]+@[\w-]+\.[\w.]+"
    r"|\d+(?:\.\d+)*"
)


def message_template(message: str) -> str:
    """The message with its variable parts replaced, so repeats of one error group together."""
    return _VARIABLE.sub("<*>", message[:300])


def top_in_app_frame(frames: list) -> str:
    """module/file + function of the innermost in-app frame (frames ordered outermost first)."""
    if not frames:
        return ""
    chosen = None
    for frame in reversed(frames):
        if isinstance(frame, dict) and frame.get("in_app"):
            chosen = frame
            break
    if chosen is None:
        chosen = frames[-1]
    if not isinstance(chosen, dict):
        return str(chosen)[:200]
    where = chosen.get("module") or chosen.get("filename") or chosen.get("abs_path") or ""
    return f"{where}:{chosen.get('function') or ''}"


@lru_cache(maxsize=8192)
def _fingerprint(error_type: str, template: str, frame: str) -> str:
    return hashlib.sha1(f"{error_type}\x1f{template}\x1f{frame}".encode()).hexdigest()[:32]


def fingerprint(error_type: str, message: str, frames: list) -> str:
    """Groups repeats of one error: type + normalised message template + top in-app frame."""
    return _fingerprint(error_type, message_template(message), top_in_app_frame(frames))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# No service of ours logged anything before 2000: an earlier time is a unit or clock mistake
# (seconds sent as minutes, an unset clock reading 1970) that would file errors decades back.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_EARLIEST_SECONDS = (EARLIEST - _EPOCH).total_seconds()
_FUTURE_SLACK = timedelta(days=1)
_EARLY_MESSAGE = "is before 2000-01-01 (the earliest accepted time)"
_FUTURE_MESSAGE = "is more than a day in the future"
_RANGE_MESSAGE = "is out of range: must be between 2000-01-01 and a day from now"


class TimestampError(ValueError):
    pass


def parse_timestamp(value: object, *, now: datetime) -> datetime:
    """An aware UTC datetime from ISO 8601 text or epoch seconds (int, float or numeric text).

    Epoch values larger than 1e11 are taken as milliseconds (JavaScript's Date.now()). Times
    before 2000-01-01 or more than a day ahead of ``now`` are refused: they would poison every
    rollup window. The range is checked on the number before any datetime is built, so an
    absurd value (1e20) is a TimestampError, never an OverflowError.
    """
    if isinstance(value, bool):
        raise TimestampError("must be an ISO 8601 string or epoch seconds")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise TimestampError(_RANGE_MESSAGE) from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            return _check_range(_parse_iso(value, text), now)
    else:
        raise TimestampError("must be an ISO 8601 string or epoch seconds")
    if not math.isfinite(seconds):
        raise TimestampError("is not a finite number")
    if seconds > 1e11:
        seconds /= 1000.0
    if seconds < _EARLIEST_SECONDS:
        raise TimestampError(_EARLY_MESSAGE)
    if seconds > (now + _FUTURE_SLACK - _EPOCH).total_seconds():
        raise TimestampError(_FUTURE_MESSAGE)
    return _EPOCH + timedelta(seconds=seconds)


def _parse_iso(value: str, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"{value[:40]!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past the calendar's ends
        raise TimestampError(_RANGE_MESSAGE) from None


def _check_range(moment: datetime, now: datetime) -> datetime:
    if moment < EARLIEST:
        raise TimestampError(_EARLY_MESSAGE)
    if moment > now + _FUTURE_SLACK:
        raise TimestampError(_FUTURE_MESSAGE)
    return moment
