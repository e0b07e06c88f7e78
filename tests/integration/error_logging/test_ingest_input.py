"""Malformed items on every ingestion door: a JSON 400 naming the item and field, never a 500,
and nothing stored (wrong types, out-of-range timestamps, conflicting aliases, deep nesting)."""

from __future__ import annotations

import orjson
import pytest

from error_logging.models import ErrorLog, ErrorRollup, MetricSample
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db

GOOD_TIME = "2026-11-20T10:15:30Z"


def _post(client, path, body, headers):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(path, data=data, content_type="application/json", **headers)


def _native(client, key, path, body):
    return _post(client, path, body, {"HTTP_X_INGEST_KEY": key.public_key})


def _sentry(client, key, path, body):
    auth = f"Sentry sentry_version=7, sentry_key={key.public_key}"
    return client.post(path, data=body, content_type="application/json", HTTP_X_SENTRY_AUTH=auth)


def _with_nested(item: dict, field: str, depth: int) -> bytes:
    """The item as JSON with ``field`` an object nested ``depth`` levels (too deep for orjson to
    encode, so it is written by hand)."""
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    return orjson.dumps(item)[:-1] + b',"' + field.encode() + b'":' + nested + b"}"


def _assert_rejected(response, *, field: str, index: int | None = 0) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["field"] == field, body
    if index is not None:
        assert body["index"] == index
        assert body["detail"].startswith(f"item {index}: {field}: ")
    assert ErrorLog.objects.count() == 0
    assert ErrorRollup.objects.count() == 0
    assert MetricSample.objects.count() == 0
    return body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": ["a"]}, "category"),
        ({"category": {"a": 1}}, "category"),
        ({"category": 5}, "category"),
        ({"service": ["java"]}, "service"),
        ({"service": {"name": "django"}}, "service"),
        ({"service": 7}, "service"),
        ({"error_type": ["E"]}, "error_type"),
        ({"error_type": {"E": 1}}, "error_type"),
        ({"message": {"text": "boom"}}, "message"),
        ({"severity": ["error"]}, "severity"),
        ({"severity": 3}, "severity"),
        ({"environment": ["prod"]}, "environment"),
        ({"release": {"v": 1}}, "release"),
        ({"host": True}, "host"),
        ({"platform": ["python"]}, "platform"),
        ({"endpoint": ["/a"]}, "endpoint"),
        ({"user_id": {"id": 1}}, "user_id"),
        ({"fingerprint": ["x"]}, "fingerprint"),
        ({"error_id": ["not", "a", "uuid"]}, "error_id"),
        ({"error_id": 12}, "error_id"),
        ({"status_code": "²"}, "status_code"),
        ({"status_code": ["504"]}, "status_code"),
        ({"status_code": 504.5}, "status_code"),
        ({"response_time_ms": "fast"}, "response_time_ms"),
        ({"response_time_ms": [1]}, "response_time_ms"),
        ({"response_time_ms": 1e300}, "response_time_ms"),
        ({"response_time_ms": 86_400_001}, "response_time_ms"),
        ({"response_time_ms": -1}, "response_time_ms"),
        ({"stacktrace": {"frames": []}}, "stacktrace"),
        ({"tags": ["a"]}, "tags"),
        ({"context": "x"}, "context"),
        ({"occurred_at": 1e20}, "occurred_at"),
        ({"occurred_at": "99999999999999999999"}, "occurred_at"),
        ({"occurred_at": 1e300}, "occurred_at"),
        ({"occurred_at": 1}, "occurred_at"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
        ({"occurred_at": {"t": 1}}, "occurred_at"),
        ({"occurred_at": None, "timestamp": 1e20}, "occurred_at"),
    ],
)
def test_native_error_with_a_wrong_field_is_a_json_400(client, django_key, overrides, field):
    response = _native(client, django_key, "/api/errors/", error_item(**overrides))
    _assert_rejected(response, field=field)


def test_latency_and_metric_values_at_the_sane_limits_are_accepted(client, django_key):
    errors = [error_item(response_time_ms=0), error_item(response_time_ms=86_400_000)]
    response = _native(client, django_key, "/api/errors/", errors)
    assert response.status_code == 201, response.content
    metrics = [_metric(value=-1e15), _metric(value=1e15)]
    response = _native(client, django_key, "/api/metrics/", metrics)
    assert response.status_code == 201, response.content


def test_the_bad_item_of_a_batch_is_named_and_nothing_is_stored(client, django_key):
    batch = [error_item(), error_item(category=["a"]), error_item()]
    _assert_rejected(_native(client, django_key, "/api/errors/", batch), field="category", index=1)


def test_time_out_of_range_says_why(client, django_key):
    future = _native(client, django_key, "/api/errors/", error_item(occurred_at=1e20))
    assert "in the future" in future.json()["detail"]
    early = _native(client, django_key, "/api/errors/", error_item(occurred_at=1))
    assert "2000-01-01" in early.json()["detail"]


@pytest.mark.parametrize(
    ("alias", "name", "value", "other"),
    [
        ("timestamp", "occurred_at", "2026-11-20T10:00:00Z", GOOD_TIME),
        ("level", "severity", "warning", "error"),
        ("path", "endpoint", "/a/", "/b/"),
        ("type", "error_type", "KeyError", "ValueError"),
    ],
)
def test_an_alias_and_its_field_with_different_values_is_a_400(
    client, django_key, alias, name, value, other
):
    item = error_item(**{alias: value, name: other})
    body = _assert_rejected(_native(client, django_key, "/api/errors/", item), field=alias)
    assert name in body["detail"]


def test_an_alias_and_its_field_agreeing_or_one_null_is_accepted(client, django_key):
    same = error_item(timestamp=GOOD_TIME, occurred_at=GOOD_TIME)
    null_alias = error_item(timestamp=None, occurred_at=GOOD_TIME)
    null_field = error_item(timestamp=GOOD_TIME, occurred_at=None)
    response = _native(client, django_key, "/api/errors/", [same, null_alias, null_field])
    assert response.status_code == 201, response.content
    assert {e.occurred_at.isoformat() for e in ErrorLog.objects.all()} == {
        "2026-11-20T10:15:30+00:00"
    }


@pytest.mark.parametrize("field", ["tags", "context"])
def test_json_nested_deeper_than_the_store_encodes_is_a_400(client, django_key, field):
    body = b"[" + orjson.dumps(error_item()) + b"," + _with_nested(error_item(), field, 300) + b"]"
    _assert_rejected(_native(client, django_key, "/api/errors/", body), field=field, index=1)


def test_deep_stacktrace_frame_is_a_400(client, django_key):
    frame = _with_nested({"function": "f"}, "data", 300)
    body = orjson.dumps(error_item())[:-1] + b',"stacktrace":[' + frame + b"]}"
    _assert_rejected(_native(client, django_key, "/api/errors/", body), field="stacktrace")


def _metric(**overrides) -> dict:
    return {"metric_name": "cpu", "value": 0.5, "timestamp": GOOD_TIME, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"service": ["java"]}, "service"),
        ({"service": {"a": 1}}, "service"),
        ({"metric_name": ["cpu"]}, "metric_name"),
        ({"value": [1]}, "value"),
        ({"value": {"v": 1}}, "value"),
        ({"value": "1e400"}, "value"),
        ({"value": 1e300}, "value"),
        ({"value": -1e300}, "value"),
        ({"value": "1e300"}, "value"),
        ({"timestamp": 1e20}, "timestamp"),
        ({"timestamp": "99999999999999999999"}, "timestamp"),
        ({"timestamp": 1}, "timestamp"),
        ({"timestamp": [1]}, "timestamp"),
        ({"tags": ["a"]}, "tags"),
        ({"tags": ""}, "tags"),
        ({"sample_id": ["x"]}, "sample_id"),
        ({"sample_id": 0}, "sample_id"),
    ],
)
def test_metric_with_a_wrong_field_is_a_json_400(client, django_key, overrides, field):
    response = _native(client, django_key, "/api/metrics/", _metric(**overrides))
    _assert_rejected(response, field=field)


def test_metric_tags_nested_deeper_than_the_store_encodes_is_a_400(client, django_key):
    body = _with_nested(_metric(), "tags", 1000)
    _assert_rejected(_native(client, django_key, "/api/metrics/", body), field="tags")


# --- Sentry ---------------------------------------------------------------------------------------
EVENT = {"level": "error", "exception": {"values": [{"type": "E", "value": "boom"}]}}


@pytest.mark.parametrize("timestamp", [1e20, 1e300, "99999999999999999999", 1])
def test_sentry_store_timestamp_out_of_range_is_a_400_naming_the_field(
    client, django_key, timestamp
):
    body = orjson.dumps({**EVENT, "timestamp": timestamp})
    response = _sentry(client, django_key, "/api/101/store/", body)
    # the Sentry door names the native field the event's timestamp fills, as for other bad values
    result = _assert_rejected(response, field="occurred_at", index=None)
    assert result["detail"].startswith("event 0: occurred_at ")


def test_sentry_envelope_timestamp_out_of_range_is_a_400(client, django_key):
    body = b'{}\n{"type":"event"}\n' + orjson.dumps({**EVENT, "timestamp": 1e20})
    response = _sentry(client, django_key, "/api/101/envelope/", body)
    _assert_rejected(response, field="occurred_at", index=None)


def test_sentry_unparsable_urls_and_odd_status_tags_do_not_crash(client, django_key):
    event = {
        **EVENT,
        "request": {"url": "http://[broken/path"},
        "tags": {"http.status_code": "²"},
    }
    response = _sentry(client, django_key, "/api/101/store/", orjson.dumps(event))
    assert response.status_code == 200, response.content
    stored = ErrorLog.objects.get()
    assert (stored.endpoint, stored.status_code) == ("", None)
    envelope = b'{"dsn": "http://[bad@host/101"}\n{"type":"event"}\n' + orjson.dumps(EVENT)
    response = client.post("/api/101/envelope/", data=envelope, content_type="application/json")
    assert response.status_code == 401  # no usable key anywhere: the usual answer


# --- OTLP -----------------------------------------------------------------------------------------
def _otlp(record: dict | None = None, **resource_logs) -> dict:
    record = {"severityNumber": 17, "body": {"stringValue": "boom"}, **(record or {})}
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}], **resource_logs}]}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeUnixNano", 1e30),
        ("timeUnixNano", "1000000000000000000000000000000"),
        ("timeUnixNano", 1),
        ("observedTimeUnixNano", 1e30),
        ("timeUnixNano", "1e30"),
    ],
)
def test_otlp_time_out_of_range_is_a_400_naming_the_otlp_field(client, django_key, key, value):
    response = _native(client, django_key, "/v1/logs", _otlp({key: value}))
    body = _assert_rejected(response, field=key, index=None)
    assert body["detail"].startswith(f"log record {key} ")


@pytest.mark.parametrize(
    "body",
    [
        _otlp(resource=["x"]),
        {"resourceLogs": [{"scopeLogs": {"logRecords": []}}]},
        {"resourceLogs": [{"scopeLogs": ["x"]}]},
        {"resourceLogs": [{"scopeLogs": [{"logRecords": {"a": 1}}]}]},
    ],
)
def test_otlp_structure_of_the_wrong_type_is_a_400(client, django_key, body):
    response = _native(client, django_key, "/v1/logs", body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert ErrorLog.objects.count() == 0


@pytest.mark.parametrize(
    "record",
    [
        {"severityNumber": ["x"], "severityText": "ERROR"},
        {"severityNumber": {"n": 17}, "severityText": "ERROR"},
        {"attributes": [{"key": "a", "value": {"arrayValue": ["x"]}}]},
        {"attributes": [{"key": "a", "value": {"arrayValue": {"values": 5}}}]},
        {"attributes": [{"key": "a", "value": {"kvlistValue": [1]}}]},
    ],
)
def test_otlp_odd_values_inside_a_record_are_stored_not_a_500(client, django_key, record):
    response = _native(client, django_key, "/v1/logs", _otlp(record))
    assert response.status_code == 200, response.content
    assert ErrorLog.objects.count() == 1


# --- NUL characters: removed from text on every door, never a 500 -------------------------------
def _rollup_types() -> dict:
    return ErrorRollup.objects.get().error_types


def test_native_error_with_nul_characters_is_stored_without_them(client, django_key):
    item = error_item(
        error_type="X\x00Y",
        message="a\x00b",
        host="web\x00-1",
        fingerprint="fp\x00",
        tags={"k\x00": "v\x00"},
        context={"c": ["\x00"]},
    )
    response = _native(client, django_key, "/api/errors/", [error_item(), item])
    assert response.status_code == 201, response.content
    row = ErrorLog.objects.get(error_type="XY")
    assert (row.message, row.host, row.fingerprint) == ("ab", "web-1", "fp")
    assert (row.tags, row.context) == ({"k": "v"}, {"c": [""]})
    assert _rollup_types() == {"DatabaseTimeoutError": 1, "XY": 1}


def test_nul_in_the_error_type_groups_with_the_clean_type(client, django_key):
    items = [error_item(error_type="X\x00Y", fingerprint=None), error_item(error_type="XY")]
    assert _native(client, django_key, "/api/errors/", items).status_code == 201
    assert _rollup_types() == {"XY": 2}
    assert len({row.fingerprint for row in ErrorLog.objects.all()}) == 1


def test_an_error_type_of_only_nul_characters_is_a_400(client, django_key):
    response = _native(client, django_key, "/api/errors/", error_item(error_type="\x00\x00"))
    _assert_rejected(response, field="error_type")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"severity": "error\x00"}, "severity"),
        ({"category": "timeout\x00"}, "category"),
        ({"service": "django\x00"}, "service"),
    ],
)
def test_nul_in_an_enumerated_field_is_a_400(client, django_key, overrides, field):
    response = _native(client, django_key, "/api/errors/", error_item(**overrides))
    _assert_rejected(response, field=field)


def test_metric_with_nul_characters_is_stored_without_them(client, django_key):
    items = [_metric(metric_name="cp\x00u", tags={"k\x00": "v\x00", "n": {"x\x00": ["\x00"]}})]
    response = _native(client, django_key, "/api/metrics/", items)
    assert response.status_code == 201, response.content
    sample = MetricSample.objects.get()
    assert (sample.metric_name, sample.tags) == ("cpu", {"k": "v", "n": {"x": [""]}})


def test_a_metric_name_of_only_nul_characters_is_a_400(client, django_key):
    response = _native(client, django_key, "/api/metrics/", _metric(metric_name="\x00"))
    _assert_rejected(response, field="metric_name")


def _nul_event() -> dict:
    return {"level": "error", "exception": {"values": [{"type": "T\x00", "value": "b\x00oom"}]}}


def test_sentry_envelope_with_nul_in_the_exception_type_is_stored_clean(client, django_key):
    body = b'{}\n{"type":"event"}\n' + orjson.dumps(_nul_event())
    response = _sentry(client, django_key, "/api/101/envelope/", body)
    assert response.status_code == 200, response.content
    assert (ErrorLog.objects.get().error_type, ErrorLog.objects.get().message) == ("T", "boom")
    assert _rollup_types() == {"T": 1}


def test_sentry_store_with_nul_in_the_exception_type_is_stored_clean(client, django_key):
    response = _sentry(client, django_key, "/api/101/store/", orjson.dumps(_nul_event()))
    assert response.status_code == 200, response.content
    assert _rollup_types() == {"T": 1}


def test_otlp_exception_type_with_nul_is_stored_clean(client, django_key):
    attribute = {"key": "exception.type", "value": {"stringValue": "T\x00"}}
    response = _native(client, django_key, "/v1/logs", _otlp({"attributes": [attribute]}))
    assert response.status_code == 200, response.content
    assert ErrorLog.objects.get().error_type == "T"
    assert _rollup_types() == {"T": 1}


# --- nesting: the same limit for error and metric JSON --------------------------------------------
def test_metric_tags_nested_past_the_error_limit_are_a_400(client, django_key):
    body = _with_nested(_metric(), "tags", 300)
    _assert_rejected(_native(client, django_key, "/api/metrics/", body), field="tags")


def test_tags_nested_254_levels_are_accepted_on_errors_and_metrics(client, django_key):
    errors = _native(client, django_key, "/api/errors/", _with_nested(error_item(), "tags", 254))
    assert errors.status_code == 201, errors.content
    metrics = _native(client, django_key, "/api/metrics/", _with_nested(_metric(), "tags", 254))
    assert metrics.status_code == 201, metrics.content
    too_deep = _native(client, django_key, "/api/errors/", _with_nested(error_item(), "tags", 255))
    assert too_deep.status_code == 400
