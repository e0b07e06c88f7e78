"""Sentry-compatible /api/<project>/envelope/ and /store/: what the official SDKs send."""

from __future__ import annotations

import gzip
import uuid
import zlib

import brotli
import orjson
import pytest

from error_logging.models import ErrorLog

pytestmark = pytest.mark.django_db

PY_EXCEPTION_EVENT = {
    "level": "error",
    "platform": "python",
    "timestamp": "2026-11-20T10:15:30.123456Z",
    "server_name": "web-1",
    "environment": "staging",
    "release": "shop@2.0.1",
    "tags": {"region": "eu"},
    "request": {"url": "https://shop.example/api/orders/12?x=1", "method": "POST"},
    "user": {"id": "42"},
    "modules": {"django": "5.2", "requests": "2.32"},
    "exception": {
        "values": [
            {"type": "KeyError", "value": "'sku'"},
            {
                "type": "OperationalError",
                "value": "connection to server failed: timeout expired",
                "mechanism": {"type": "django", "handled": False},
                "stacktrace": {
                    "frames": [
                        {"module": "django.core.handlers", "function": "inner", "in_app": False},
                        {
                            "module": "shop.views",
                            "function": "create_order",
                            "lineno": 88,
                            "in_app": True,
                            "vars": {"password": "hunter2"},
                        },
                    ]
                },
            },
        ]
    },
}


def envelope(*items: tuple[dict, bytes | dict], header: dict | None = None, lengths=True) -> bytes:
    lines = [orjson.dumps(header or {})]
    for item_header, payload in items:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        head = {**item_header, "length": len(data)} if lengths else item_header
        lines += [orjson.dumps(head), data]
    return b"\n".join(lines) + b"\n"


def auth(key: str) -> dict:
    return {
        "HTTP_X_SENTRY_AUTH": f"Sentry sentry_version=7, sentry_client=sentry.python/2.75.0, sentry_key={key}"
    }


def post_envelope(client, project, body, *, headers=None, query=""):
    return client.post(
        f"/api/{project}/envelope/{query}",
        data=body,
        content_type="application/x-sentry-envelope",
        **(headers or {}),
    )


def test_python_envelope_gzip_becomes_an_error_row(client, django_key):
    # given an envelope as sentry-python sends it: gzip, auth header, item lengths
    event_id = uuid.uuid4().hex
    body = gzip.compress(
        envelope(
            ({"type": "event"}, {**PY_EXCEPTION_EVENT, "event_id": event_id}),
            header={"event_id": event_id},
        )
    )

    # when
    response = post_envelope(
        client, 101, body, headers={**auth(django_key.public_key), "HTTP_CONTENT_ENCODING": "gzip"}
    )

    # then exactly 200 with the id, and the row carries the event's fields
    assert response.status_code == 200, response.content
    assert response.json() == {"id": event_id}
    row = ErrorLog.objects.get(error_id=uuid.UUID(event_id))
    assert (row.service, row.error_type, row.severity) == ("django", "OperationalError", "error")
    assert row.message == "connection to server failed: timeout expired"
    assert (row.environment, row.release, row.host, row.platform) == (
        "staging",
        "shop@2.0.1",
        "web-1",
        "python",
    )
    assert row.endpoint == "/api/orders/12" and row.user_id == "42"
    assert row.category == "timeout"
    assert row.tags == {"region": "eu"}
    assert row.context["exception_chain"] == ["KeyError", "OperationalError"]
    assert "vars" not in row.stacktrace[1] and row.stacktrace[1]["function"] == "create_order"
    assert "modules" not in row.context and "hunter2" not in orjson.dumps(row.context).decode()


def test_local_variables_kept_when_configured(client, django_key, ingest_config):
    ingest_config(INGEST_KEEP_LOCAL_VARS=True)
    body = envelope(({"type": "event"}, PY_EXCEPTION_EVENT))
    assert post_envelope(client, 101, body, headers=auth(django_key.public_key)).status_code == 200
    assert ErrorLog.objects.get().stacktrace[1]["vars"] == {"password": "hunter2"}


def test_javascript_sdk_envelope(client, vue_key):
    # given what @sentry/browser sends: query-string auth, no item lengths, text/plain,
    # a client report beside the event, epoch float timestamp, list-of-pairs tags
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "platform": "javascript",
        "level": "error",
        "timestamp": 1_763_633_730.5,
        "environment": "production",
        "release": "spa@1.4.0",
        "tags": [["browser", "Chrome 131"]],
        "request": {
            "url": "https://spa.example/checkout",
            "headers": {"User-Agent": "Mozilla/5.0"},
        },
        "exception": {
            "values": [
                {
                    "type": "TypeError",
                    "value": "Cannot read properties of undefined (reading 'id')",
                    "mechanism": {"type": "onerror", "handled": False},
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "app:///main.js",
                                "function": "onClick",
                                "in_app": True,
                                "lineno": 1,
                                "colno": 2345,
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": [{"category": "ui.click", "message": "button#pay"}],
        "sdk": {"name": "sentry.javascript.browser", "version": "8.40.0"},
    }
    body = envelope(
        ({"type": "event"}, event),
        ({"type": "client_report"}, {"timestamp": 1_763_633_731, "discarded_events": []}),
        header={"event_id": event_id, "sent_at": "2025-11-20T10:15:31.000Z", "sdk": event["sdk"]},
        lengths=False,
    )
    query = f"?sentry_key={vue_key.public_key}&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.40.0"

    # when
    response = client.post(
        f"/api/404/envelope/{query}", data=body, content_type="text/plain;charset=UTF-8"
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"id": event_id}
    row = ErrorLog.objects.get()
    assert (row.service, row.error_type, row.platform, row.endpoint) == (
        "vue",
        "TypeError",
        "javascript",
        "/checkout",
    )
    assert row.tags == {"browser": "Chrome 131"}
    assert row.occurred_at.timestamp() == pytest.approx(1_763_633_730.5)


@pytest.fixture
def vue_key(db):
    from error_logging.models import IngestKey

    return IngestKey.objects.create(service="vue", project_id=404)


def test_message_with_synthetic_exception_without_type(client, django_key):
    event = {
        "level": "warning",
        "message": {"formatted": "payment provider slow"},
        "exception": {
            "values": [
                {
                    "value": "payment provider slow",
                    "mechanism": {"type": "generic", "synthetic": True},
                }
            ]
        },
    }
    response = post_envelope(
        client, 101, envelope(({"type": "event"}, event)), headers=auth(django_key.public_key)
    )
    assert response.status_code == 200
    row = ErrorLog.objects.get()
    assert (row.error_type, row.message, row.severity) == (
        "Message",
        "payment provider slow",
        "warning",
    )


def test_envelope_with_only_non_event_items_is_accepted_and_ignored(client, django_key):
    body = envelope(
        ({"type": "session"}, {"sid": uuid.uuid4().hex, "status": "ok"}),
        ({"type": "transaction"}, {"type": "transaction", "spans": []}),
        ({"type": "client_report"}, {"discarded_events": []}),
        ({"type": "attachment", "filename": "a.bin"}, b"\x00\x01\n\x02"),
        ({"type": "statsd"}, b"metric:1|c"),
    )
    response = post_envelope(client, 101, body, headers=auth(django_key.public_key))
    assert response.status_code == 200
    assert ErrorLog.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json\n",
        b'{}\n{"type":"event","length":500}\n{"level":"error"}\n',
        b'{}\n{"type":"event"}\n{"level":\n',
        b'{}\n{"length":3}\nabc\n',
        b"[]\n",
    ],
    ids=[
        "empty",
        "bad-header",
        "truncated",
        "bad-event-json",
        "item-without-type",
        "header-not-object",
    ],
)
def test_malformed_or_truncated_envelopes_are_400(client, django_key, body):
    response = post_envelope(client, 101, body, headers=auth(django_key.public_key))
    assert response.status_code == 400
    assert response.json()["detail"]
    assert ErrorLog.objects.count() == 0


def test_truncated_second_item_stores_nothing(client, django_key):
    good = envelope(({"type": "event"}, PY_EXCEPTION_EVENT))
    body = good + b'{"type":"event","length":9999}\n{"level":"error"}'
    assert post_envelope(client, 101, body, headers=auth(django_key.public_key)).status_code == 400
    assert ErrorLog.objects.count() == 0


def test_auth_problems(client, django_key, laravel_key):
    body = envelope(({"type": "event"}, PY_EXCEPTION_EVENT))
    assert post_envelope(client, 101, body).status_code == 401
    assert post_envelope(client, 101, body, headers=auth("f" * 32)).status_code == 401
    # the laravel key (project 202) may not write django's project 101
    assert post_envelope(client, 101, body, headers=auth(laravel_key.public_key)).status_code == 403
    assert ErrorLog.objects.count() == 0


def test_dsn_in_envelope_header_authenticates(client, django_key):
    dsn = f"https://{django_key.public_key}@errors.example/101"
    body = envelope(({"type": "event"}, PY_EXCEPTION_EVENT), header={"dsn": dsn})
    assert post_envelope(client, 101, body).status_code == 200


def test_brotli_envelope_and_duplicate_event_id(client, django_key):
    event_id = uuid.uuid4().hex
    body = brotli.compress(
        envelope(({"type": "event"}, {**PY_EXCEPTION_EVENT, "event_id": event_id}))
    )
    headers = {**auth(django_key.public_key), "HTTP_CONTENT_ENCODING": "br"}
    first = post_envelope(client, 101, body, headers=headers)
    second = post_envelope(client, 101, body, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"id": event_id}
    assert ErrorLog.objects.count() == 1


def test_store_endpoint_with_deflate_and_query_auth(client, django_key):
    event_id = uuid.uuid4().hex
    body = zlib.compress(orjson.dumps({**PY_EXCEPTION_EVENT, "event_id": event_id}))
    response = client.post(
        f"/api/101/store/?sentry_key={django_key.public_key}",
        data=body,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="deflate",
    )
    assert response.status_code == 200 and response.json() == {"id": event_id}
    assert ErrorLog.objects.filter(error_id=uuid.UUID(event_id)).exists()


def test_invalid_timestamp_in_event_is_400(client, django_key):
    body = envelope(({"type": "event"}, {**PY_EXCEPTION_EVENT, "timestamp": "last tuesday"}))
    response = post_envelope(client, 101, body, headers=auth(django_key.public_key))
    assert response.status_code == 400 and "occurred_at" in response.json()["detail"]


def test_rate_limited_key_gets_sentry_headers(client, db, within_one_minute):
    from error_logging.models import IngestKey

    key = IngestKey.objects.create(service="flutter", project_id=707, rate_limit_per_minute=1)
    body = envelope(({"type": "event"}, PY_EXCEPTION_EVENT))
    assert post_envelope(client, 707, body, headers=auth(key.public_key)).status_code == 200
    limited = post_envelope(client, 707, body, headers=auth(key.public_key))
    assert limited.status_code == 429
    assert limited["Retry-After"] and limited["X-Sentry-Rate-Limits"].endswith("::key")
