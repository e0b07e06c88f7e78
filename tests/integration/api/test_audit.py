"""GET /api/ml/audit/: the audit trail for ops users, with actor/action/object_type filters."""

from __future__ import annotations

import pytest

from ml_prediction.services.audit import audit_record
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def events():
    return {
        "ack": audit_record(actor="alice", action="anomaly.acknowledge", object_type="anomaly"),
        "exec": audit_record(actor="bob", action="action.execute", object_type="preventive_action"),
        "fb": audit_record(actor="alice", action="prediction.feedback", object_type="prediction"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"ack", "exec", "fb"}),
        ("actor=alice", {"ack", "fb"}),
        ("action=action.execute", {"exec"}),
        ("object_type=prediction", {"fb"}),
    ],
)
def test_filters(ops_client, events, query, expected):
    by_id = {str(e.audit_id): name for name, e in events.items()}

    response = ops_client.get(f"/api/ml/audit/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "audit_id")} == expected
    assert {"actor", "action", "object_type", "object_id", "created_at"} <= set(
        response.json()["results"][0]
    )
