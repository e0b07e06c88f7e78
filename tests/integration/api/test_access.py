"""Every /api/ml/ endpoint: 401 without a token; state changes 403 for a read-only user."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

SOME_ID = str(uuid.uuid4())

READS = [
    "/api/ml/models/",
    f"/api/ml/models/{SOME_ID}/",
    f"/api/ml/models/{SOME_ID}/performance/",
    f"/api/ml/models/{SOME_ID}/features/",
    "/api/ml/predictions/",
    f"/api/ml/predictions/{SOME_ID}/",
    "/api/ml/predictions/high_risk/",
    "/api/ml/anomalies/",
    f"/api/ml/anomalies/{SOME_ID}/",
    "/api/ml/anomalies/unacknowledged/",
    "/api/ml/anomalies/critical/",
    "/api/ml/forecasts/",
    "/api/ml/forecasts/by-service/django/",
    "/api/ml/forecasts/at_risk/",
    "/api/ml/actions/",
    "/api/ml/actions/pending/",
    "/api/ml/actions/by_priority/",
    "/api/ml/insights/",
    "/api/ml/insights/active/",
    "/api/ml/insights/by_service/",
    "/api/ml/dashboard/summary/",
    "/api/ml/audit/",
]
WRITES = [
    f"/api/ml/predictions/{SOME_ID}/trigger_alert/",
    f"/api/ml/predictions/{SOME_ID}/mark_occurred/",
    f"/api/ml/predictions/{SOME_ID}/feedback/",
    f"/api/ml/anomalies/{SOME_ID}/acknowledge/",
    f"/api/ml/actions/{SOME_ID}/execute/",
    "/api/ml/trigger-analysis/",
    "/api/ml/trigger-all-services-analysis/",
]


@pytest.mark.parametrize("url", READS)
def test_reads_without_token_are_401_in_the_error_shape(anon_client, url):
    response = anon_client.get(url)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", WRITES)
def test_writes_without_token_are_401(anon_client, url):
    assert anon_client.post(url, {}, format="json").status_code == 401


def test_a_bad_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = anon_client.get("/api/ml/models/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


@pytest.mark.parametrize("url", WRITES)
def test_writes_by_a_read_only_user_are_403(readonly_client, url):
    response = readonly_client.post(url, {}, format="json")

    assert response.status_code == 403
    assert "ops" in response.json()["error"]["message"]


def test_the_audit_trail_is_for_ops_only(readonly_client, ops_client):
    assert readonly_client.get("/api/ml/audit/").status_code == 403
    assert ops_client.get("/api/ml/audit/").status_code == 200


@pytest.mark.parametrize("url", [u for u in READS if u != "/api/ml/audit/"])
def test_a_read_only_user_may_read(readonly_client, url):
    assert readonly_client.get(url).status_code in (200, 404)


def test_jwt_obtain_refresh_verify_and_use(anon_client, readonly_user):
    obtained = anon_client.post(
        "/api/auth/token/",
        {"username": "reader", "password": "reader-pass-123"},
        format="json",
    )
    assert obtained.status_code == 200
    tokens = obtained.json()

    refreshed = anon_client.post(
        "/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    verified = anon_client.post(
        "/api/auth/token/verify/", {"token": tokens["access"]}, format="json"
    )
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    listed = anon_client.get("/api/ml/models/")

    assert refreshed.status_code == 200
    assert verified.status_code == 200
    assert listed.status_code == 200


def test_wrong_password_gets_no_token(anon_client, readonly_user):
    response = anon_client.post(
        "/api/auth/token/", {"username": "reader", "password": "nope"}, format="json"
    )

    assert response.status_code == 401


def test_health_needs_no_token_and_shows_no_secrets(anon_client, readonly_client):
    from django.conf import settings

    response = anon_client.get("/api/ml/health/")
    full = readonly_client.get("/api/ml/health/")

    # anonymous callers (probes) get the status only; the report is for signed-in users
    assert response.status_code in (200, 503)
    assert set(response.json()) == {"status", "timestamp"}
    assert full.status_code == response.status_code
    assert {"status", "health_score", "active_models", "timestamp"} <= set(full.json())
    for text in (response.content.decode(), full.content.decode()):
        assert settings.DATABASES["default"]["HOST"] not in text
        assert "postgres://" not in text and "redis://" not in text


def test_the_webhook_needs_a_token_and_the_ops_role(anon_client, readonly_client):
    body = {"error_id": SOME_ID, "service": "django", "error_type": "Timeout"}

    assert (
        anon_client.post("/api/ml/webhooks/predict-for-error/", body, format="json").status_code
        == 401
    )
    assert (
        readonly_client.post("/api/ml/webhooks/predict-for-error/", body, format="json").status_code
        == 403
    )


def test_a_deactivated_user_is_refused_at_once(readonly_client, readonly_user):
    assert readonly_client.get("/api/ml/models/").status_code == 200
    readonly_user.is_active = False
    readonly_user.save()

    assert readonly_client.get("/api/ml/models/").status_code == 401


def test_requests_are_throttled_per_user(readonly_client, ops_client, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})

    statuses = [readonly_client.get("/api/ml/models/").status_code for _ in range(4)]
    other_user = ops_client.get("/api/ml/models/")

    assert statuses == [200, 200, 200, 429]
    assert other_user.status_code == 200


def test_a_throttled_request_says_when_to_retry_and_the_window_resets(readonly_client, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    from ml_prediction.api.throttling import WindowUserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/min"})
    clock = [1_000_000 * 60 + 10.0]  # 10 s into a minute
    monkeypatch.setattr(WindowUserRateThrottle, "timer", lambda self: clock[0])

    first = [readonly_client.get("/api/ml/models/").status_code for _ in range(3)]
    refused = readonly_client.get("/api/ml/models/")
    clock[0] += 50.0  # the next minute: a new window
    next_window = readonly_client.get("/api/ml/models/")

    assert first == [200, 200, 429]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert "50 seconds" in refused.json()["error"]["message"]
    assert next_window.status_code == 200


def test_requests_are_served_when_the_throttle_cache_is_down(readonly_client, monkeypatch):
    from ml_prediction.api.throttling import WindowUserRateThrottle

    def down(self, key, timeout):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(WindowUserRateThrottle, "_count", down)

    assert readonly_client.get("/api/ml/models/").status_code == 200


def test_an_authenticated_read_does_not_load_the_user_again(readonly_client):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    readonly_client.get("/api/ml/models/")  # the first request caches the user
    with CaptureQueriesContext(connections["default"]) as queries:
        assert readonly_client.get("/api/ml/models/").status_code == 200

    assert not [q for q in queries.captured_queries if "auth_user" in q["sql"]]


def test_losing_the_ops_group_takes_effect_on_the_next_request(ops_client, ops_user, make_anomaly):
    from django.contrib.auth.models import Group

    anomaly = make_anomaly()
    assert ops_client.get("/api/ml/models/").status_code == 200  # cached now
    ops_user.groups.remove(Group.objects.get(name="ops"))

    response = ops_client.post(f"/api/ml/anomalies/{anomaly.anomaly_id}/acknowledge/")

    assert response.status_code == 403
