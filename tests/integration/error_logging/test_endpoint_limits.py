"""The same limits on every ingestion endpoint: auth, body cap, malformed bodies, never a 500."""

from __future__ import annotations

import time

import orjson
import pytest

from error_logging.models import ErrorLog, MetricSample
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db

EVENT = {"level": "error", "exception": {"values": [{"type": "E", "value": "boom"}]}}
OTLP = {
    "resourceLogs": [
        {"scopeLogs": [{"logRecords": [{"severityNumber": 17, "body": {"stringValue": "boom"}}]}]}
    ]
}
ENDPOINTS = {
    "errors": ("/api/errors/", orjson.dumps([error_item()])),
    "metrics": (
        "/api/metrics/",
        orjson.dumps([{"metric_name": "cpu", "value": 1, "timestamp": 1_763_633_730}]),
    ),
    "envelope": ("/api/101/envelope/", b'{}\n{"type":"event"}\n' + orjson.dumps(EVENT)),
    "store": ("/api/101/store/", orjson.dumps(EVENT)),
    "otlp": ("/v1/logs", orjson.dumps(OTLP)),
}


def _auth(name: str, key: str) -> dict:
    if name in ("envelope", "store"):
        return {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_version=7, sentry_key={key}"}
    return {"HTTP_X_INGEST_KEY": key}


def _post(client, name, body=None, headers=None):
    path, default = ENDPOINTS[name]
    return client.post(
        path,
        data=default if body is None else body,
        content_type="application/json",
        **(headers or {}),
    )


def _stored() -> int:
    return ErrorLog.objects.count() + MetricSample.objects.count()


@pytest.mark.parametrize("name", ENDPOINTS)
def test_happy_path(client, django_key, name):
    response = _post(client, name, headers=_auth(name, django_key.public_key))
    assert response.status_code in (200, 201), response.content
    assert _stored() == 1


@pytest.mark.parametrize("name", ENDPOINTS)
def test_missing_and_unknown_keys_are_401(client, django_key, name):
    assert _post(client, name).status_code == 401
    assert _post(client, name, headers=_auth(name, "a" * 32)).status_code == 401
    assert _stored() == 0


@pytest.mark.parametrize("name", ENDPOINTS)
def test_oversized_body_is_413(client, django_key, name, ingest_config):
    ingest_config(INGEST_MAX_BODY_BYTES=1024)
    response = _post(client, name, body=b" " * 2048, headers=_auth(name, django_key.public_key))
    assert response.status_code == 413
    assert _stored() == 0


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"null"])
def test_malformed_body_is_400_with_a_message(client, django_key, name, body):
    response = _post(client, name, body=body, headers=_auth(name, django_key.public_key))
    assert response.status_code == 400
    assert response.json()["detail"]
    assert _stored() == 0


def test_envelope_over_the_batch_cap_is_413(client, django_key, ingest_config):
    ingest_config(INGEST_MAX_BATCH=2)
    body = b"{}\n" + b"".join(b'{"type":"event"}\n' + orjson.dumps(EVENT) + b"\n" for _ in range(3))
    response = _post(
        client, "envelope", body=body, headers=_auth("envelope", django_key.public_key)
    )
    assert response.status_code == 413
    assert _stored() == 0


def _chunked_request(rf, body: bytes, *, terminated: bool):
    import io

    request = rf.post("/api/errors/", data=body, content_type="application/json")
    del request.META["CONTENT_LENGTH"]
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    if terminated:
        request.META["wsgi.input_terminated"] = True
    return request


def test_chunked_body_from_a_server_that_cannot_dechunk_is_411_not_an_empty_200(rf):
    from error_logging.ingest.common import IngestHTTPError, read_body

    with pytest.raises(IngestHTTPError) as caught:
        read_body(_chunked_request(rf, b"[]", terminated=False))
    assert caught.value.status == 411
    assert read_body(_chunked_request(rf, b"[1]", terminated=True)) == b"[1]"


def test_chunked_body_over_the_cap_is_413(rf, ingest_config):
    from error_logging.ingest.common import IngestHTTPError, read_body

    ingest_config(INGEST_MAX_BODY_BYTES=1024)
    with pytest.raises(IngestHTTPError) as caught:
        read_body(_chunked_request(rf, b" " * 2000, terminated=True))
    assert caught.value.status == 413


# --- decompression bombs --------------------------------------------------------------------------
def _store_base64_zlib(event: dict) -> bytes:
    """A store body as old SDKs send it: base64 of a zlib stream of the event's JSON."""
    import base64
    import zlib

    return base64.b64encode(zlib.compress(orjson.dumps(event), 9))


def test_store_base64_zlib_body_within_the_cap_is_stored(client, django_key):
    body = _store_base64_zlib(EVENT)
    response = _post(client, "store", body=body, headers=_auth("store", django_key.public_key))
    assert response.status_code == 200, response.content
    assert ErrorLog.objects.get().message == "boom"


def test_store_base64_zlib_bomb_is_413_and_nothing_is_stored(client, django_key, ingest_config):
    # given a body far below the cap that inflates to a hundred times the cap
    ingest_config(INGEST_MAX_BODY_BYTES=4096)
    body = _store_base64_zlib(
        {**EVENT, "exception": {"values": [{"type": "E", "value": "x" * 400_000}]}}
    )
    assert len(body) < 4096
    # when it is posted to the store endpoint
    response = _post(client, "store", body=body, headers=_auth("store", django_key.public_key))
    # then it is refused as too large, and nothing is stored
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_large"
    assert "decompressed" in response.json()["detail"]
    assert _stored() == 0


def _bomb(encoding: str, data: bytes) -> bytes:
    import gzip
    import zlib

    import brotli

    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "raw-deflate":
        return zlib.compress(data, wbits=-15)
    return brotli.compress(data)


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
def test_compressed_body_inflating_past_the_cap_is_413(
    client, django_key, ingest_config, name, encoding
):
    ingest_config(INGEST_MAX_BODY_BYTES=4096)
    _, default = ENDPOINTS[name]
    body = _bomb(encoding, default + b" " * 1_000_000)
    headers = {
        **_auth(name, django_key.public_key),
        "HTTP_CONTENT_ENCODING": encoding.removeprefix("raw-"),
    }
    response = _post(client, name, body=body, headers=headers)
    assert len(body) < 4096
    assert response.status_code == 413, response.content
    assert _stored() == 0


# --- rate limit: only accepted items use the quota ------------------------------------------------
@pytest.fixture
def small_key(db):
    from error_logging.models import IngestKey

    return IngestKey.objects.create(service="django", project_id=101, rate_limit_per_minute=3)


def test_an_invalid_sentry_batch_does_not_use_the_rate_limit(client, small_key):
    bad = {**EVENT, "timestamp": "last tuesday"}
    envelope = b"{}\n" + b"".join(
        b'{"type":"event"}\n' + orjson.dumps(bad) + b"\n" for _ in range(3)
    )
    headers = _auth("envelope", small_key.public_key)
    assert _post(client, "envelope", body=envelope, headers=headers).status_code == 400
    good = b"{}\n" + b"".join(b'{"type":"event"}\n' + orjson.dumps(EVENT) + b"\n" for _ in range(3))
    assert _post(client, "envelope", body=good, headers=headers).status_code == 200
    assert _stored() == 3


@pytest.mark.parametrize("endpoint", ["errors", "metrics"])
def test_an_invalid_native_batch_does_not_use_the_rate_limit(client, small_key, endpoint):
    headers = _auth(endpoint, small_key.public_key)
    if endpoint == "errors":
        bad = [{**error_item(), "occurred_at": "last tuesday"} for _ in range(3)]
        good = [error_item() for _ in range(3)]
    else:
        bad = [{"metric_name": "cpu", "value": "high"} for _ in range(3)]
        good = [{"metric_name": "cpu", "value": 0.5, "timestamp": int(time.time())}] * 3
    assert _post(client, endpoint, body=orjson.dumps(bad), headers=headers).status_code == 400
    assert _post(client, endpoint, body=orjson.dumps(good), headers=headers).status_code == 201


def test_an_invalid_otlp_batch_does_not_use_the_rate_limit(client, small_key):
    def logs(timestamp: str) -> bytes:
        record = {
            "timeUnixNano": timestamp,
            "severityText": "ERROR",
            "body": {"stringValue": "boom"},
            "attributes": [{"key": "exception.type", "value": {"stringValue": "Boom"}}],
        }
        return orjson.dumps(
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [record, record, record]}]}]}
        )

    headers = _auth("otlp", small_key.public_key)
    assert _post(client, "otlp", body=logs("1000000000"), headers=headers).status_code == 400
    now = str(int(time.time() * 1e9))
    assert _post(client, "otlp", body=logs(now), headers=headers).status_code == 200
    assert _stored() == 3


def test_a_batch_refused_by_the_rate_limit_does_not_use_it(client, small_key):
    # given a key of 3 items a minute with 2 used
    headers = _auth("errors", small_key.public_key)
    two = orjson.dumps([error_item(), error_item()])
    assert _post(client, "errors", body=two, headers=headers).status_code == 201
    # when a batch of 2 is refused, the one item left still fits
    assert _post(client, "errors", body=two, headers=headers).status_code == 429
    one = orjson.dumps([error_item()])
    assert _post(client, "errors", body=one, headers=headers).status_code == 201
    assert _post(client, "errors", body=one, headers=headers).status_code == 429
    assert _stored() == 3


def test_a_batch_refused_by_the_shared_count_is_taken_back_out(client, small_key):
    from django.core.cache import cache

    from error_logging.ingest.common import _incr_window

    if time.time() % 60 > 58:  # keep the test inside one rate-limit window
        time.sleep(60 - time.time() % 60 + 0.1)
    headers = _auth("errors", small_key.public_key)
    one, two = orjson.dumps([error_item()]), orjson.dumps([error_item(), error_item()])
    assert _post(client, "errors", body=one, headers=headers).status_code == 201
    # given another process has used one more item of the window in Redis
    key = f"error_logging:ingest-rate:{small_key.id}:{int(time.time() // 60)}"
    _incr_window(key, 1)
    # when this process, unaware of it, sends two items, Redis refuses them
    assert _post(client, "errors", body=two, headers=headers).status_code == 429
    # then the refused items are not counted: the window holds the two accepted ones
    assert cache.get(key) == 2
    assert _stored() == 1
