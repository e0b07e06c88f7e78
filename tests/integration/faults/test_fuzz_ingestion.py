"""Fuzzing the Sentry and OTLP endpoints: never a 5xx, never a partial write."""

from __future__ import annotations

import gzip

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from error_logging.models import ErrorLog
from tests.integration.error_logging.test_sentry_api import PY_EXCEPTION_EVENT, auth, envelope

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID = envelope(
    ({"type": "event"}, {**PY_EXCEPTION_EVENT, "event_id": "9ec79c33ec9942ab8353589fcb2e04dc"})
)


def _mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    body = bytearray(data[: max(0, min(cut, len(data)))])
    for position, value in flips:
        if body:
            body[position % len(body)] = value
    return bytes(body)


def _post_and_check(client, path: str, body: bytes, **headers) -> None:
    before = ErrorLog.objects.count()
    response = client.post(path, data=body, content_type="application/octet-stream", **headers)
    after = ErrorLog.objects.count()
    assert response.status_code < 500, (response.status_code, body[:200])
    if response.status_code >= 400:
        assert after == before, "a rejected request stored rows"
    # whatever was accepted: it is all or nothing per request (≤ one event in these bodies)
    assert after - before in (0, 1)
    ErrorLog.objects.all().delete()


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_to_the_envelope_endpoint(client, django_key, body):
    _post_and_check(
        client, f"/api/{django_key.project_id}/envelope/", body, **auth(django_key.public_key)
    )


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(VALID)),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    compress=st.booleans(),
)
def test_truncated_and_mutated_real_envelopes(client, django_key, cut, flips, compress):
    body = _mutate(VALID, cut, flips)
    headers = dict(auth(django_key.public_key))
    if compress:
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    _post_and_check(client, f"/api/{django_key.project_id}/envelope/", body, **headers)


@FUZZ
@given(
    body=st.binary(max_size=512),
    encoding=st.sampled_from(["gzip", "deflate", "br", "zstd", "x-unknown"]),
)
def test_bad_encodings_are_refused_cleanly(client, django_key, body, encoding):
    headers = {**auth(django_key.public_key), "HTTP_CONTENT_ENCODING": encoding}
    _post_and_check(client, f"/api/{django_key.project_id}/envelope/", body, **headers)


@FUZZ
@given(size=st.integers(min_value=1, max_value=64 * 1024), char=st.sampled_from('a=,;"\\ '))
def test_huge_and_odd_auth_headers(client, django_key, size, char):
    headers = {"HTTP_X_SENTRY_AUTH": "Sentry sentry_key=" + char * size}
    _post_and_check(client, f"/api/{django_key.project_id}/envelope/", VALID, **headers)


OTLP_RECORD = {
    "resourceLogs": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "django"}}]
            },
            "scopeLogs": [
                {
                    "logRecords": [
                        {
                            "timeUnixNano": "1764140400000000000",
                            "severityNumber": 17,
                            "severityText": "ERROR",
                            "body": {"stringValue": "boom"},
                        }
                    ]
                }
            ],
        }
    ]
}
OTLP_VALID = orjson.dumps(OTLP_RECORD)


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(OTLP_VALID)),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    noise=st.binary(max_size=64),
)
def test_truncated_mutated_and_random_otlp_bodies(client, django_key, cut, flips, noise):
    body = _mutate(OTLP_VALID, cut, flips) + noise
    _post_and_check(client, "/v1/logs", body, HTTP_X_INGEST_KEY=django_key.public_key)


def test_the_unmutated_seeds_are_accepted(client, django_key):
    # the fuzzers start from bodies the endpoints really accept: their mutations are meaningful
    envelope_response = client.post(
        f"/api/{django_key.project_id}/envelope/",
        data=VALID,
        content_type="application/x-sentry-envelope",
        **auth(django_key.public_key),
    )
    otlp_response = client.post(
        "/v1/logs",
        data=OTLP_VALID,
        content_type="application/json",
        HTTP_X_INGEST_KEY=django_key.public_key,
    )
    assert envelope_response.status_code == 200, envelope_response.content
    assert otlp_response.status_code < 300, otlp_response.content
    assert ErrorLog.objects.count() == 2
