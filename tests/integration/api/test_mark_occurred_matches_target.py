"""mark_occurred accepts only an error that is the predicted event: one of the head's category,
a critical error for the critical head, any error for the incident head. A single TimeoutError
(severity error) was accepted as a database prediction coming true; the dashboard's "Mark
occurred" follows the same rule (``occurrence_rule``), not a second one of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

HEADS = {
    "database": ("database", "DatabaseError"),
    "critical": ("critical", "CriticalError"),
    "incident": ("incident", "ErrorBurst"),
}
ERRORS = {
    "timeout": {"error_type": "TimeoutError", "category": "timeout", "severity": "error"},
    "database": {"error_type": "OperationalError", "category": "database", "severity": "error"},
    "critical_timeout": {
        "error_type": "TimeoutError",
        "category": "timeout",
        "severity": "critical",
    },
    # the type the database head named, filed under another category at ingestion
    "named_type": {"error_type": "DatabaseError", "category": "timeout", "severity": "error"},
}


@pytest.fixture
def predicted(make_prediction):
    def make(head: str):
        category, name = HEADS[head]
        now = timezone.now()
        return make_prediction(
            predicted_category=category,
            predicted_error_type=name,
            prediction_bucket=now - timedelta(minutes=20),
            predicted_timestamp=now + timedelta(minutes=25),
        )

    return make


def _mark(ops_client, prediction, error):
    return ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/",
        {"error_id": str(error.error_id), "timestamp": error.occurred_at.isoformat()},
        format="json",
    )


@pytest.mark.parametrize(
    ("head", "error", "accepted"),
    [
        ("database", "database", True),
        ("database", "named_type", True),  # the very type the prediction named
        ("database", "timeout", False),
        ("database", "critical_timeout", False),
        ("critical", "critical_timeout", True),
        ("critical", "database", False),
        ("incident", "timeout", True),
        ("incident", "database", True),
    ],
)
def test_only_an_error_matching_the_predictions_target_confirms_it(
    ops_client, predicted, make_error, head, error, accepted
):
    prediction = predicted(head)
    stored = make_error(occurred_at=timezone.now() - timedelta(minutes=5), **ERRORS[error])

    response = _mark(ops_client, prediction, stored)

    prediction.refresh_from_db()
    if accepted:
        assert response.status_code == 200, response.content
        assert prediction.actual_error_occurred is True
        assert prediction.actual_error_id == stored.error_id
        return
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("error_id:")
    assert ERRORS[error]["error_type"] in message and HEADS[head][0] in message
    assert prediction.actual_error_occurred is None
    assert not AuditEvent.objects.filter(action="prediction.mark_occurred").exists()


@pytest.mark.parametrize(
    ("head", "errors", "linked"),
    [
        ("database", ["timeout", "database"], "database"),  # another type of the category
        ("database", ["timeout"], None),  # never one mark_occurred would refuse
        ("critical", ["database", "critical_timeout"], "critical_timeout"),
        ("incident", ["timeout"], "timeout"),
    ],
)
def test_the_dashboards_mark_occurred_links_by_the_same_rule(
    predicted, make_error, head, errors, linked
):
    from dashboard.selectors import matching_error

    prediction = predicted(head)
    now = timezone.now()
    stored = {
        name: make_error(occurred_at=now - timedelta(minutes=10 - i), **ERRORS[name])
        for i, name in enumerate(errors)
    }

    found = matching_error(prediction=prediction)

    if linked is None:
        assert found is None
    else:
        assert found is not None and found[0] == stored[linked].error_id


def test_the_dashboard_button_records_the_matching_error(client, ops_user, predicted, make_error):
    prediction = predicted("database")
    now = timezone.now()
    make_error(occurred_at=now - timedelta(minutes=10), **ERRORS["timeout"])
    database = make_error(occurred_at=now - timedelta(minutes=5), **ERRORS["database"])
    client.force_login(ops_user)

    response = client.post(
        f"/dashboard/predictions/{prediction.prediction_id}/occurred/",
        HTTP_X_REQUESTED_WITH="fetch",
    )

    assert response.status_code == 200
    prediction.refresh_from_db()
    assert prediction.actual_error_id == database.error_id
