"""The same limits on every ingestion endpoint: auth, body cap, malformed bodies, never a 500."""

from __future__ import annotations

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
