"""POST /v1/logs: OTLP/HTTP JSON log records at ERROR and above become errors."""

from __future__ import annotations

import orjson
import pytest

from error_logging.models import ErrorLog

pytestmark = pytest.mark.django_db


def kv(key, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def logs_request(service: str, records: list[dict]) -> dict:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        kv("service.name", service),
                        kv("service.version", "3.1.0"),
                        kv("host.name", "api-2"),
                    ]
                },
                "scopeLogs": [{"scope": {"name": "app"}, "logRecords": records}],
            }
        ]
    }


RECORDS = [
    {
        "timeUnixNano": "1763633730000000000",
        "severityNumber": 9,
        "severityText": "INFO",
        "body": {"stringValue": "started"},
    },
    {
        "timeUnixNano": "1763633731000000000",
        "severityNumber": 17,
        "severityText": "ERROR",
        "body": {"stringValue": "payment failed"},
        "attributes": [kv("http.route", "/pay"), kv("http.response.status_code", 502)],
        "traceId": "5b8efff798038103d269b633813fc60c",
    },
    {
        "timeUnixNano": "1763633732000000000",
        "severityNumber": 13,
        "body": {"stringValue": "handled"},
        "attributes": [
            kv("exception.type", "java.net.SocketTimeoutException"),
            kv("exception.message", "Read timed out"),
            kv("exception.stacktrace", "at Foo.bar(Foo.java:1)"),
        ],
    },
    {
        "timeUnixNano": "1763633733000000000",
        "severityNumber": 21,
        "severityText": "FATAL",
        "body": {"stringValue": "out of memory"},
    },
]


def post(client, body, key, content_type="application/json"):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        "/v1/logs", data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_error_records_become_rows_and_info_is_dropped(client, django_key):
    response = post(client, logs_request("django", RECORDS), django_key.public_key)
    assert response.status_code == 200 and response.json() == {"partialSuccess": {}}
    rows = {r.message: r for r in ErrorLog.objects.all()}
    assert set(rows) == {"payment failed", "Read timed out", "out of memory"}
    assert (
        rows["payment failed"].endpoint,
        rows["payment failed"].status_code,
        rows["payment failed"].severity,
    ) == ("/pay", 502, "error")
    assert rows["Read timed out"].error_type == "java.net.SocketTimeoutException"
    assert rows["Read timed out"].category == "timeout"
    assert rows["out of memory"].severity == "critical"
    assert (rows["out of memory"].release, rows["out of memory"].host) == ("3.1.0", "api-2")
    assert rows["payment failed"].occurred_at.timestamp() == 1763633731


def test_service_name_of_another_service_is_403(client, django_key):
    response = post(client, logs_request("laravel", RECORDS), django_key.public_key)
    assert response.status_code == 403
    assert ErrorLog.objects.count() == 0


def test_unknown_service_name_is_400(client, django_key):
    response = post(client, logs_request("cobol", RECORDS), django_key.public_key)
    assert response.status_code == 400 and response.json()["field"] == "service"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{oops", 400), (orjson.dumps({"resourceLogs": "x"}), 400), (orjson.dumps([1]), 400)],
)
def test_malformed_requests(client, django_key, body, status):
    assert post(client, body, django_key.public_key).status_code == status


def test_protobuf_is_415_and_missing_key_401(client, django_key):
    assert (
        post(
            client, b"\x0a\x00", django_key.public_key, content_type="application/x-protobuf"
        ).status_code
        == 415
    )
    assert client.post("/v1/logs", data=b"{}", content_type="application/json").status_code == 401
