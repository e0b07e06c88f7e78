"""POST actions that take no input refuse body fields like every other input (a 400 naming the
field), and change nothing; no body or ``{}`` works as before."""

from __future__ import annotations

import pytest

from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def targets(make_anomaly, make_prediction):
    return {
        "anomalies": (make_anomaly().anomaly_id, "acknowledge"),
        "predictions": (make_prediction().prediction_id, "trigger_alert"),
    }


@pytest.mark.parametrize("kind", ["anomalies", "predictions"])
def test_a_body_field_is_a_400_naming_it_and_nothing_changes(ops_client, targets, kind):
    object_id, verb = targets[kind]

    response = ops_client.post(f"/api/ml/{kind}/{object_id}/{verb}/", {"x": 1}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"].startswith("x: unknown field")
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("kind", ["anomalies", "predictions"])
def test_a_body_that_is_not_an_object_is_a_400(ops_client, targets, kind):
    object_id, verb = targets[kind]

    response = ops_client.post(f"/api/ml/{kind}/{object_id}/{verb}/", [1], format="json")

    assert response.status_code == 400, response.content
    assert "body must be a JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [None, {}])
def test_acknowledge_without_a_body_or_with_an_empty_object_works(ops_client, make_anomaly, body):
    anomaly = make_anomaly()

    response = ops_client.post(
        f"/api/ml/anomalies/{anomaly.anomaly_id}/acknowledge/", body, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["acknowledged"] is True
