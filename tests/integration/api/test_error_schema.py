"""The OpenAPI schema describes the API's errors: one envelope component, referenced by every
error response of /api/ml/ and of the token endpoints, and the statuses each operation can give."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
ROW_COMPONENTS = [
    "Action",
    "AlertNotification",
    "AnalysisRun",
    "Anomaly",
    "AuditEvent",
    "Feedback",
    "Forecast",
    "Insight",
    "MLModel",
    "MLModelDetail",
    "Prediction",
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema, *prefixes):
    for path, operations in schema["paths"].items():
        if path.startswith(prefixes):
            for method, operation in operations.items():
                yield path, method, operation


def _ref(response) -> str | None:
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_the_error_envelope_is_a_component(schema):
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    info = schema["components"]["schemas"]["ErrorInfo"]

    assert envelope["required"] == ["error"]
    assert envelope["properties"]["error"]["$ref"] == "#/components/schemas/ErrorInfo"
    assert set(info["required"]) == {"code", "message", "details"}


def test_every_ml_operation_documents_401_and_its_errors_carry_the_envelope(schema):
    checked = 0
    for path, method, operation in _operations(schema, "/api/ml/"):
        if path == "/api/ml/health/":  # public; its 503 is the health document itself
            continue
        responses = operation["responses"]
        assert "401" in responses, f"{method.upper()} {path} does not document 401"
        for code, response in responses.items():
            if code[0] in "45":
                assert _ref(response) == ENVELOPE_REF, f"{method.upper()} {path} {code}"
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/api/ml/trigger-analysis/", {"400", "401", "403", "500", "503"}),
        ("/api/ml/trigger-all-services-analysis/", {"400", "401", "403", "500", "503"}),
        ("/api/ml/webhooks/predict-for-error/", {"400", "401", "403", "500", "503"}),
    ],
)
def test_analysis_triggers_document_a_failed_run_and_an_unreachable_queue(schema, path, codes):
    assert codes <= set(schema["paths"][path]["post"]["responses"])


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/api/auth/token/", {"200", "400", "401", "429"}),
        ("/api/auth/token/refresh/", {"200", "400", "401"}),
        ("/api/auth/token/verify/", {"200", "400", "401"}),
    ],
)
def test_token_endpoints_document_their_errors_in_the_envelope(schema, path, codes):
    responses = schema["paths"][path]["post"]["responses"]

    assert codes <= set(responses)
    assert all(_ref(r) == ENVELOPE_REF for code, r in responses.items() if code[0] in "45")


@pytest.mark.parametrize("name", ROW_COMPONENTS)
def test_row_components_have_a_user_facing_description(schema, name):
    description = schema["components"]["schemas"][name].get("description", "")

    assert description
    assert "precompiled plan" not in description and "serializer" not in description.lower()


def test_no_component_carries_an_internal_docstring(schema):
    for name, component in schema["components"]["schemas"].items():
        assert "precompiled plan" not in component.get("description", ""), name
