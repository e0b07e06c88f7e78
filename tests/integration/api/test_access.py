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
