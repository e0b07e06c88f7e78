"""The live OpenAPI schema is valid and has every URL of the guide's API Reference."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

# Every endpoint line of the guide's "API Reference" section, verbatim.
GUIDE_API_REFERENCE = [
    ("get", "/api/ml/models/"),
    ("get", "/api/ml/models/{model_id}/"),
    ("get", "/api/ml/models/{model_id}/performance/"),
    ("get", "/api/ml/models/{model_id}/features/"),
    ("get", "/api/ml/predictions/"),
    ("get", "/api/ml/predictions/high_risk/"),
    ("post", "/api/ml/predictions/{prediction_id}/trigger_alert/"),
    ("post", "/api/ml/predictions/{prediction_id}/mark_occurred/"),
    ("get", "/api/ml/anomalies/"),
    ("get", "/api/ml/anomalies/unacknowledged/"),
    ("get", "/api/ml/anomalies/critical/"),
    ("post", "/api/ml/anomalies/{anomaly_id}/acknowledge/"),
    ("get", "/api/ml/forecasts/"),
    ("get", "/api/ml/forecasts/by-service/{service}/"),
    ("get", "/api/ml/forecasts/by-service/django/"),
    ("get", "/api/ml/forecasts/at_risk/"),
    ("get", "/api/ml/actions/"),
    ("get", "/api/ml/actions/pending/"),
    ("post", "/api/ml/actions/{action_id}/execute/"),
    ("get", "/api/ml/actions/by_priority/"),
    ("get", "/api/ml/insights/"),
    ("get", "/api/ml/insights/active/"),
    ("get", "/api/ml/insights/by_service/"),
    ("post", "/api/ml/trigger-analysis/"),
    ("post", "/api/ml/trigger-all-services-analysis/"),
    ("get", "/api/ml/dashboard/summary/"),
]
# What this product adds on top of the guide's list.
EXTRA_ENDPOINTS = [
    ("post", "/api/ml/predictions/{prediction_id}/feedback/"),
    ("get", "/api/ml/audit/"),
    ("post", "/api/auth/token/"),
    ("post", "/api/auth/token/refresh/"),
    ("post", "/api/auth/token/verify/"),
]
GUIDE_QUERY_PARAMETERS = [
    ("/api/ml/models/", {"service", "model_type", "status", "page", "page_size"}),
    ("/api/ml/predictions/", {"service", "hours", "high_probability_only"}),
    ("/api/ml/anomalies/", {"service", "severity_level", "is_anomaly", "acknowledged"}),
    ("/api/ml/actions/", {"status", "priority", "action_type"}),
    ("/api/ml/insights/", {"service", "insight_type", "severity", "status", "active_only"}),
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def test_the_schema_is_valid_openapi_3(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


@pytest.mark.parametrize(("method", "url"), GUIDE_API_REFERENCE + EXTRA_ENDPOINTS)
def test_every_guide_url_is_in_the_schema(schema, method, url):
    concrete = re.sub(r"\{[^}]+\}", "x", url)
    matching = [
        template
        for template, operations in schema["paths"].items()
        if method in operations and _template_regex(template).match(concrete)
    ]

    assert matching, f"{method.upper()} {url} is missing from /api/schema/"


@pytest.mark.parametrize(("path", "parameters"), GUIDE_QUERY_PARAMETERS)
def test_guide_query_parameters_are_described(schema, path, parameters):
    described = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}

    assert parameters <= described


def test_state_changes_describe_bodies_and_error_responses(schema):
    mark = schema["paths"]["/api/ml/predictions/{prediction_id}/mark_occurred/"]["post"]
    execute = schema["paths"]["/api/ml/actions/{action_id}/execute/"]["post"]

    assert "requestBody" in mark
    assert "requestBody" in execute
    for operation in (mark, execute):
        assert {"200", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"


def test_ids_in_ml_paths_are_uuids_so_list_actions_are_not_mistaken_for_ids(schema):
    ids = [
        (parameter["name"], parameter["schema"])
        for path, operations in schema["paths"].items()
        if path.startswith("/api/ml/")
        for operation in operations.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"].endswith("_id")
    ]

    names = {name for name, _ in ids}
    assert names == {
        "action_id",
        "anomaly_id",
        "forecast_id",
        "insight_id",
        "model_id",
        "prediction_id",
        "run_id",
    }
    assert all(id_schema == {"type": "string", "format": "uuid"} for _, id_schema in ids)


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_every_ml_operation_requires_the_jwt_scheme_except_health(schema):
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/ml/"):
            continue
        for method, operation in operations.items():
            schemes = {name for item in operation.get("security", []) for name in item}
            if path == "/api/ml/health/":
                # public (an empty requirement: no token needed); a JWT gets the full report
                assert {} in operation["security"] and "jwtAuth" in schemes
            else:
                assert "jwtAuth" in schemes, f"{method.upper()} {path}"
