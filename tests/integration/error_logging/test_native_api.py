"""POST /api/errors/ and /api/metrics/: auth, limits, all-or-nothing, idempotency."""

from __future__ import annotations

import gzip
import uuid
import zlib

import orjson
import pytest

from error_logging.models import ErrorLog, ErrorRollup, MetricSample
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db


def post(client, path, body, *, key=None, headers=None, raw=False):
    data = body if raw else orjson.dumps(body)
    extra = dict(headers or {})
    if key is not None:
        extra["HTTP_X_INGEST_KEY"] = key
    return client.post(path, data=data, content_type="application/json", **extra)


def test_one_error_is_stored(client, django_key):
    response = post(client, "/api/errors/", error_item(), key=django_key.public_key)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["service"], body["accepted"], body["duplicates"]) == ("django", 1, 0)
    assert ErrorLog.objects.get(error_id=body["error_ids"][0]).error_type == "DatabaseTimeoutError"
    assert ErrorRollup.objects.get().timeout_count == 1


def test_a_list_with_bearer_auth(client, django_key):
    response = post(
        client,
        "/api/errors/",
        [error_item(), error_item(severity="critical")],
        headers={"HTTP_AUTHORIZATION": f"Bearer {django_key.public_key}"},
    )
    assert response.status_code == 201
    assert ErrorLog.objects.filter(severity="critical").count() == 1


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("", 401), ("0" * 32, 401)],
)
def test_missing_or_unknown_key_is_401(client, django_key, key, status):
    assert post(client, "/api/errors/", error_item(), key=key).status_code == status
    assert ErrorLog.objects.count() == 0


def test_inactive_key_is_401(client, django_key):
    django_key.is_active = False
    django_key.save()
    assert post(client, "/api/errors/", error_item(), key=django_key.public_key).status_code == 401


def test_a_key_deactivated_by_another_process_stops_working_within_a_second(
    client, django_key, monkeypatch
):
    from django.core.cache import cache

    from error_logging.ingest import common
    from error_logging.models import IngestKey

    monkeypatch.setattr(common, "_KEY_VERSION_CHECK_SECONDS", 0.0)  # do not wait the second
    assert post(client, "/api/errors/", error_item(), key=django_key.public_key).status_code == 201
    # another process deactivates the key: the row changes, this process's cache does not ...
    IngestKey.objects.filter(pk=django_key.pk).update(is_active=False)
    still_cached = post(client, "/api/errors/", error_item(), key=django_key.public_key)
    # ... until the shared version moves, as that process's post_save makes it
    cache.set(common.KEY_VERSION_CACHE_KEY, "changed elsewhere", timeout=None)
    refused = post(client, "/api/errors/", error_item(), key=django_key.public_key)

    assert still_cached.status_code == 201
    assert refused.status_code == 401


def test_saving_a_key_moves_the_shared_key_version(django_key):
    from django.core.cache import cache

    from error_logging.ingest import common

    before = cache.get(common.KEY_VERSION_CACHE_KEY)
    django_key.rate_limit_per_minute = 10
    django_key.save()

    assert cache.get(common.KEY_VERSION_CACHE_KEY) not in (None, before)


def test_key_of_another_service_is_403(client, laravel_key):
    response = post(
        client, "/api/errors/", error_item(service="django"), key=laravel_key.public_key
    )
    assert response.status_code == 403
    assert ErrorLog.objects.count() == 0


def test_unknown_service_is_400_naming_index_and_field(client, django_key):
    response = post(
        client,
        "/api/errors/",
        [error_item(), error_item(service="cobol")],
        key=django_key.public_key,
    )
    assert response.status_code == 400
    assert (response.json()["index"], response.json()["field"]) == (1, "service")
    assert ErrorLog.objects.count() == 0


def test_invalid_timestamp_rejects_the_batch(client, django_key):
    response = post(
        client,
        "/api/errors/",
        [error_item(), error_item(), error_item(occurred_at="31/02/2026")],
        key=django_key.public_key,
    )
    assert response.status_code == 400
    assert response.json()["index"] == 2 and response.json()["field"] == "occurred_at"
    assert ErrorLog.objects.count() == 0 and ErrorRollup.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"42", b"[]", b'"text"', b"[1, 2]"],
)
def test_malformed_bodies_are_400_never_500(client, django_key, body):
    response = post(client, "/api/errors/", body, key=django_key.public_key, raw=True)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_batch_over_the_cap_is_413(client, django_key, ingest_config):
    ingest_config(INGEST_MAX_BATCH=3)
    response = post(client, "/api/errors/", [error_item()] * 4, key=django_key.public_key)
    assert response.status_code == 413
    assert "maximum of 3" in response.json()["detail"]


def test_oversized_body_is_413(client, django_key, ingest_config):
    ingest_config(INGEST_MAX_BODY_BYTES=2048)
    response = post(
        client, "/api/errors/", error_item(message="x" * 4000), key=django_key.public_key
    )
    assert response.status_code == 413
    assert ErrorLog.objects.count() == 0


def test_oversized_after_decompression_is_413(client, django_key, ingest_config):
    ingest_config(INGEST_MAX_BODY_BYTES=2048)
    body = gzip.compress(orjson.dumps(error_item(message="x" * 50_000)))
    response = post(
        client,
        "/api/errors/",
        body,
        key=django_key.public_key,
        raw=True,
        headers={"HTTP_CONTENT_ENCODING": "gzip"},
    )
    assert len(body) < 2048 and response.status_code == 413


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),
    ],
)
def test_compressed_bodies(client, django_key, encoding, compress):
    body = compress(orjson.dumps([error_item(), error_item()]))
    response = post(
        client,
        "/api/errors/",
        body,
        key=django_key.public_key,
        raw=True,
        headers={"HTTP_CONTENT_ENCODING": encoding},
    )
    assert response.status_code == 201
    assert ErrorLog.objects.count() == 2


def test_corrupt_gzip_and_unknown_encoding(client, django_key):
    bad = post(
        client,
        "/api/errors/",
        b"\x1f\x8bnope",
        key=django_key.public_key,
        raw=True,
        headers={"HTTP_CONTENT_ENCODING": "gzip"},
    )
    odd = post(
        client,
        "/api/errors/",
        b"{}",
        key=django_key.public_key,
        raw=True,
        headers={"HTTP_CONTENT_ENCODING": "zstd"},
    )
    assert (bad.status_code, odd.status_code) == (400, 415)


def test_duplicate_error_ids_are_accepted_once(client, django_key):
    item = error_item(error_id=str(uuid.uuid4()))
    first = post(client, "/api/errors/", item, key=django_key.public_key)
    again = post(client, "/api/errors/", item, key=django_key.public_key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    assert ErrorLog.objects.count() == 1


def test_rate_limit_is_429_with_retry_after(client, db, ingest_config, within_one_minute):
    from error_logging.models import IngestKey

    key = IngestKey.objects.create(service="java", project_id=303, rate_limit_per_minute=3)
    assert post(client, "/api/errors/", [error_item()] * 2, key=key.public_key).status_code == 201
    response = post(client, "/api/errors/", [error_item()] * 2, key=key.public_key)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert ErrorLog.objects.count() == 2


def test_get_is_405(client, django_key):
    response = client.get("/api/errors/", HTTP_X_INGEST_KEY=django_key.public_key)
    assert response.status_code == 405


def test_metrics_endpoint(client, django_key):
    items = [
        {"metric_name": "db_pool_in_use", "value": 71, "timestamp": "2026-11-20T10:00:00Z"},
        {"metric_name": "response_time_ms", "value": 180.5, "timestamp": 1_763_633_730},
    ]
    response = post(client, "/api/metrics/", items, key=django_key.public_key)
    assert response.status_code == 201, response.content
    assert MetricSample.objects.filter(service="django").count() == 2
    bad = post(
        client, "/api/metrics/", [{"metric_name": "cpu", "value": 1}], key=django_key.public_key
    )
    assert bad.status_code == 400 and bad.json()["field"] == "timestamp"


def test_cors_preflight_on_ingest_endpoints(client):
    response = client.options(
        "/api/errors/",
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-ingest-key",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] in ("*", "https://shop.example")


def test_endpoints_are_in_the_openapi_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = orjson.loads(response.content)["paths"]
    for path in (
        "/api/errors/",
        "/api/metrics/",
        "/api/{project_id}/envelope/",
        "/api/{project_id}/store/",
        "/v1/logs",
    ):
        assert "post" in paths[path], path


def test_redis_down_never_loses_errors(client, django_key, settings):
    # given the cache (rate limiter, debounce) pointing at a closed port
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # when / then the errors are stored anyway
    response = post(client, "/api/errors/", [error_item()] * 3, key=django_key.public_key)
    assert response.status_code == 201
    assert ErrorLog.objects.count() == 3


def test_rate_limit_counts_across_requests_of_a_larger_limit(client, db, within_one_minute):
    from error_logging.models import IngestKey

    key = IngestKey.objects.create(service="react", project_id=505, rate_limit_per_minute=10)
    statuses = [
        post(client, "/api/errors/", [error_item()] * 4, key=key.public_key).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
