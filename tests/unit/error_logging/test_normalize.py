"""Severity aliases, categories, fingerprints and timestamps of ingested errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from error_logging.normalize import (
    TimestampError,
    classify,
    derive_category,
    fingerprint,
    message_template,
    parse_timestamp,
)

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error_type", "message", "category"),
    [
        ("DatabaseTimeoutError", "query took 31s", "timeout"),
        ("OperationalError", "could not serialize access due to deadlock", "database"),
        ("ConnectionRefusedError", "[Errno 111] Connection refused", "connection"),
        ("PermissionDenied", "You do not have permission", "auth"),
        ("ValidationError", "email is invalid", "validation"),
        ("MemoryError", "", "memory"),
        ("HTTPError", "502 Bad Gateway from payments", "api"),
        ("ZeroDivisionError", "division by zero", "other"),
        # a code defect is not a validation failure
        ("TypeError", "Cannot read properties of undefined (reading 'donations_7')", "other"),
        ("KeyError", "'campaign_42'", "other"),
        ("ValueError", "invalid literal for int() with base 10: 'abc'", "validation"),
        ("AccessDeniedException", "Access is denied for principal 42", "auth"),
        ("DataAccessResourceFailureException", "Unable to acquire JDBC Connection (7)", "database"),
        # an HTTP status the message reports is read though the template masks numbers
        ("AxiosError", "Request failed with status code 502", "api"),
        ("AxiosError", "Request failed with status code 401", "auth"),
        ("AxiosError", "Request failed with status code 504", "timeout"),
        (
            "ClientException",
            "Client error: `POST https://billing.example/v2/receipts` resulted in a "
            "`429 Too Many Requests` response",
            "api",
        ),
        ("ClientException", "Client error: POST /v2/receipts resulted in 429 (17)", "api"),
        ("ServerException", "Server error: resulted in a `500 Internal Server Error`", "api"),
        # ... and only a number the message calls a status
        ("RuntimeError", "worker 512 exceeded its budget", "other"),
        ("ZeroDivisionError", "division by zero at line 500", "other"),
    ],
)
def test_derive_category(error_type, message, category):
    assert derive_category(error_type, message) == category
    assert classify(error_type, message, [])[0] == category


def test_fingerprint_groups_repeats_with_different_ids_and_numbers():
    frames = [{"module": "app.views", "function": "index", "in_app": True, "lineno": 10}]
    a = fingerprint("KeyError", "order 123 for user 'bob' missing", frames)
    b = fingerprint("KeyError", "order 987 for user 'alice' missing", [{**frames[0], "lineno": 99}])
    c = fingerprint(
        "KeyError",
        "order 123 for user 'bob' missing",
        [{"module": "app.api", "function": "x", "in_app": True}],
    )
    assert a == b != c
    assert (
        message_template("id 7f3a1b2c-0000-4000-8000-000000000000 at 0xdeadbeef") == "id <*> at <*>"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20T10:15:30Z", datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-20T12:15:30+02:00", datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-20 10:15:30", datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)),
        (1_763_633_730, datetime(2025, 11, 20, 10, 15, 30, tzinfo=UTC)),
        (1_763_633_730_000, datetime(2025, 11, 20, 10, 15, 30, tzinfo=UTC)),
        ("1763633730.25", datetime(2025, 11, 20, 10, 15, 30, 250000, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_forms(raw, expected):
    assert parse_timestamp(raw, now=NOW) == expected


@pytest.mark.parametrize(
    "raw", ["soon", "", True, None, float("nan"), -5, "2030-01-01T00:00:00Z", [1]]
)
def test_parse_timestamp_rejects(raw):
    with pytest.raises(TimestampError):
        parse_timestamp(raw, now=NOW)
