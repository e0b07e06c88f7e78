"""Who may do what: every /api/ml/ endpoint × every kind of caller, the ingestion doors × keys,
CORS only on ingestion, staff-only admin, JWT refresh and expiry.

Ingest keys are not JWTs: sent as a Bearer token to the ML API they are rejected (401), and
sent as X-Ingest-Key they are simply no credential (401, like anonymous).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

PRINCIPALS = [
    "anonymous",
    "readonly",
    "ops",
    "expired_jwt",
    "key_a_header",
    "key_a_bearer",
    "key_b",
]
# None of these is a user: the ML API answers 401 to all of them.
NOT_A_USER = dict.fromkeys(
    ["anonymous", "expired_jwt", "key_a_header", "key_a_bearer", "key_b"], 401
)
EMPTY_SERVICE = "flutter"  # no rows of this service in these tests: its analysis has nothing to do


def read(ok: int = 200) -> dict[str, int]:
    return {**NOT_A_USER, "readonly": ok, "ops": ok}


def write(ops: int) -> dict[str, int]:
    return {**NOT_A_USER, "readonly": 403, "ops": ops}


# (name, method, url template, body, expected status per principal)
ENDPOINTS = [
    ("models", "get", "/api/ml/models/", None, read()),
    ("model", "get", "/api/ml/models/{model}/", None, read()),
    ("model-performance", "get", "/api/ml/models/{model}/performance/", None, read()),
    ("model-features", "get", "/api/ml/models/{model}/features/", None, read()),
    ("predictions", "get", "/api/ml/predictions/", None, read()),
    ("prediction", "get", "/api/ml/predictions/{prediction}/", None, read()),
    ("high-risk", "get", "/api/ml/predictions/high_risk/", None, read()),
    ("anomalies", "get", "/api/ml/anomalies/", None, read()),
    ("anomaly", "get", "/api/ml/anomalies/{anomaly}/", None, read()),
    ("unacknowledged", "get", "/api/ml/anomalies/unacknowledged/", None, read()),
    ("critical", "get", "/api/ml/anomalies/critical/", None, read()),
    ("forecasts", "get", "/api/ml/forecasts/", None, read()),
    ("forecast", "get", "/api/ml/forecasts/{forecast}/", None, read()),
    ("by-service", "get", "/api/ml/forecasts/by-service/django/", None, read()),
    ("at-risk", "get", "/api/ml/forecasts/at_risk/", None, read()),
    ("actions", "get", "/api/ml/actions/", None, read()),
    ("action", "get", "/api/ml/actions/{action}/", None, read()),
    ("pending", "get", "/api/ml/actions/pending/", None, read()),
    ("by-priority", "get", "/api/ml/actions/by_priority/", None, read()),
    ("insights", "get", "/api/ml/insights/", None, read()),
    ("insight", "get", "/api/ml/insights/{insight}/", None, read()),
    ("active-insights", "get", "/api/ml/insights/active/", None, read()),
    ("insights-by-service", "get", "/api/ml/insights/by_service/", None, read()),
    ("dashboard", "get", "/api/ml/dashboard/summary/", None, read()),
    ("analysis-runs", "get", "/api/ml/analysis-runs/", None, read()),
    ("missing-model", "get", "/api/ml/models/{missing}/", None, read(ok=404)),
    ("audit", "get", "/api/ml/audit/", None, write(ops=200)),
    (
        "trigger-alert",
        "post",
        "/api/ml/predictions/{prediction}/trigger_alert/",
        {},
        write(ops=200),
    ),
    # no such error: the ops user gets the validation answer, not a permission one
    ("mark-occurred", "post", "/api/ml/predictions/{prediction}/mark_occurred/", {}, write(400)),
    (
        "feedback",
        "post",
        "/api/ml/predictions/{prediction}/feedback/",
        {"verdict": "true_positive"},
        write(ops=201),
    ),
    ("acknowledge", "post", "/api/ml/anomalies/{anomaly}/acknowledge/", None, write(ops=200)),
    (
        "execute",
        "post",
        "/api/ml/actions/{action}/execute/",
        {"result": {"success": True}},
        write(ops=200),
    ),
    # after the execute above: the ops user passes the permission and meets the state (409)
    ("skip", "post", "/api/ml/actions/{action}/skip/", {}, write(ops=409)),
    ("insight-acknowledge", "post", "/api/ml/insights/{insight}/acknowledge/", None, write(200)),
    ("insight-dismiss", "post", "/api/ml/insights/{insight}/dismiss/", None, write(ops=200)),
    (
        "trigger-analysis",
        "post",
        "/api/ml/trigger-analysis/",
        {"service": EMPTY_SERVICE, "analysis_type": "quick"},
        write(ops=202),
    ),
    (
        "trigger-all",
        "post",
        "/api/ml/trigger-all-services-analysis/",
        {"analysis_type": "quick"},
        write(ops=202),
    ),
    # an unknown service: answered before any analysis is started or waited for
    (
        "predict-for-error",
        "post",
        "/api/ml/webhooks/predict-for-error/",
        {"service": "no-such-service"},
        write(ops=400),
    ),
    # public: credentials are ignored, so a monitor holding a stale token still gets an answer
    (
        "health",
        "get",
        "/api/ml/health/",
        None,
        {
            "anonymous": 200,
            "readonly": 200,
            "ops": 200,
            "expired_jwt": 200,
            "key_a_header": 200,
            "key_a_bearer": 200,
            "key_b": 200,
        },
    ),
]


def _jwt_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def clients(ops_client, readonly_client, ops_user, django_key, laravel_key) -> dict[str, APIClient]:
    expired = AccessToken.for_user(ops_user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    key_a_header, key_b = APIClient(), APIClient()
    key_a_header.credentials(HTTP_X_INGEST_KEY=django_key.public_key)
    key_b.credentials(HTTP_X_INGEST_KEY=laravel_key.public_key)
    return {
        "anonymous": APIClient(),
        "readonly": readonly_client,
        "ops": ops_client,
        "expired_jwt": _jwt_client(str(expired)),
        "key_a_header": key_a_header,
        "key_a_bearer": _jwt_client(django_key.public_key),
        "key_b": key_b,
    }


@pytest.fixture
def rows(
    make_model, make_prediction, make_anomaly, make_forecast, make_action, make_insight
) -> dict[str, str]:
    import uuid

    return {
        "model": str(make_model().model_id),
        "prediction": str(make_prediction().prediction_id),
        "anomaly": str(make_anomaly().anomaly_id),
        "forecast": str(make_forecast().pk),
        "action": str(make_action().action_id),
        "insight": str(make_insight().pk),
        "missing": str(uuid.uuid4()),
    }


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_every_ml_endpoint_answers_each_caller_as_expected(clients, rows, principal):
    client = clients[principal]
    expected = {name: statuses[principal] for name, _, _, _, statuses in ENDPOINTS}

    actual = {}
    for name, method, template, body, _ in ENDPOINTS:
        url = template.format(**rows)
        call = getattr(client, method)
        response = call(url, body, format="json") if method == "post" else call(url)
        actual[name] = response.status_code

    assert actual == expected


def test_a_read_only_user_changes_nothing(clients, rows):
    from ml_prediction.models import AnomalyDetection, AuditEvent, PreventiveAction

    client = clients["readonly"]
    client.post(f"/api/ml/anomalies/{rows['anomaly']}/acknowledge/")
    client.post(f"/api/ml/actions/{rows['action']}/execute/", {}, format="json")

    assert AnomalyDetection.objects.get(pk=rows["anomaly"]).acknowledged is False
    assert PreventiveAction.objects.get(pk=rows["action"]).status == "recommended"
    # the only trace is the record of the two refusals (who tried what), nothing done
    assert set(AuditEvent.objects.values_list("action", "outcome")) == {("api.denied", "denied")}
    assert AuditEvent.objects.count() == 2


# --- ingestion ------------------------------------------------------------------------------------
def _ingest(client: APIClient, **headers: str):
    return client.post(
        "/api/errors/", [error_item(service="django")], format="json", headers=headers
    )


def test_the_key_of_a_service_ingests_its_own_errors(django_key):
    from error_logging.models import ErrorLog

    for headers in (
        {"X-Ingest-Key": django_key.public_key},
        {"Authorization": f"Bearer {django_key.public_key}"},
    ):
        response = _ingest(APIClient(), **headers)

        assert response.status_code == 201, response.content
    assert ErrorLog.objects.filter(service="django").count() == 2


def test_the_key_of_another_service_cannot_ingest_its_errors(laravel_key):
    from error_logging.models import ErrorLog

    response = _ingest(APIClient(), **{"X-Ingest-Key": laravel_key.public_key})

    assert response.status_code == 403
    assert response.json()["code"] == "wrong_service"
    assert not ErrorLog.objects.exists()


def test_a_jwt_is_not_an_ingest_key(ops_user):
    from error_logging.models import ErrorLog

    token = str(AccessToken.for_user(ops_user))

    response = _ingest(APIClient(), Authorization=f"Bearer {token}")

    assert response.status_code == 401
    assert not ErrorLog.objects.exists()


@pytest.mark.parametrize(
    ("url", "cors"),
    [
        ("/api/errors/", True),
        ("/api/metrics/", True),
        ("/api/101/envelope/", True),
        ("/v1/logs", True),
        ("/api/ml/models/", False),
        ("/api/ml/trigger-analysis/", False),
        ("/api/auth/token/", False),
    ],
)
def test_cors_headers_only_on_the_ingestion_endpoints(url, cors):
    response = APIClient().options(
        url,
        headers={
            "Origin": "https://shop.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-ingest-key",
        },
    )

    assert ("Access-Control-Allow-Origin" in response) is cors


# --- admin and JWT --------------------------------------------------------------------------------
def test_the_admin_needs_a_staff_login(client, django_user_model):
    assert client.get("/admin/").status_code == 302
    user = django_user_model.objects.create_user("not-staff", password="pw-123456")
    client.force_login(user)
    assert client.get("/admin/").status_code == 302

    user.is_staff = True
    user.save()

    assert client.get("/admin/").status_code == 200


def test_a_jwt_is_obtained_refreshed_and_used(ops_user):
    client = APIClient()
    pair = client.post(
        "/api/auth/token/", {"username": "ops", "password": "ops-pass-123"}, format="json"
    )
    assert pair.status_code == 200

    refreshed = client.post("/api/auth/token/refresh/", {"refresh": pair.json()["refresh"]})

    assert refreshed.status_code == 200
    assert refreshed.json()["access"] != pair.json()["access"]
    assert _jwt_client(refreshed.json()["access"]).get("/api/ml/models/").status_code == 200


def test_wrong_password_and_bad_refresh_are_401(ops_user):
    client = APIClient()
    wrong = {"username": "ops", "password": "wrong"}

    assert client.post("/api/auth/token/", wrong, format="json").status_code == 401
    assert client.post("/api/auth/token/refresh/", {"refresh": "nope"}).status_code == 401


def test_an_expired_access_token_is_401(ops_user):
    token = AccessToken.for_user(ops_user)
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = _jwt_client(str(token)).get("/api/ml/models/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
