"""mark_occurred with an error_id checks the stored error's own time, not the caller's claim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

HORIZON = timedelta(minutes=45)  # make_prediction's time_horizon_minutes


def _mark(client, prediction, *, error_id, timestamp):
    return client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/",
        {"error_id": str(error_id), "timestamp": timestamp.isoformat()},
        format="json",
    )


@pytest.mark.parametrize(
    "offset",
    [timedelta(days=1), timedelta(minutes=6), -HORIZON - timedelta(minutes=6)],
)
def test_an_error_from_outside_the_horizon_with_an_in_horizon_claim_is_400(
    ops_client, make_prediction, make_error, offset
):
    # given a prediction whose horizon ended a minute ago, and an error stored outside it
    end = timezone.now() - timedelta(minutes=1)
    prediction = make_prediction(predicted_timestamp=end, created_at=end - HORIZON)
    error = make_error(occurred_at=end + offset)
    claimed = end - timedelta(minutes=10)  # inside the horizon

    response = _mark(ops_client, prediction, error_id=error.error_id, timestamp=claimed)

    assert response.status_code == 400, response.content
    message = response.json()["error"]["message"]
    assert message.startswith(f"error_id: error {error.error_id} occurred at ")
    assert "outside the prediction's horizon" in message
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is None
    assert not AuditEvent.objects.exists()


def test_the_stored_errors_own_time_is_recorded(ops_client, make_prediction, make_error):
    end = timezone.now() - timedelta(minutes=1)
    prediction = make_prediction(predicted_timestamp=end, created_at=end - HORIZON)
    happened = (end - timedelta(minutes=20)).replace(microsecond=0)
    error = make_error(occurred_at=happened)

    response = _mark(
        ops_client, prediction, error_id=error.error_id, timestamp=happened + timedelta(minutes=3)
    )

    assert response.status_code == 200, response.content
    prediction.refresh_from_db()
    assert prediction.actual_occurred_at == happened
    assert prediction.actual_error_id == error.error_id


def test_an_error_stored_with_a_future_time_cannot_confirm_a_prediction(
    ops_client, make_prediction, make_error
):
    """Found in use: an error ingested with occurred_at 6 h ahead confirmed a 24-hour
    prediction whose horizon was still open."""
    now = timezone.now()
    prediction = make_prediction(
        predicted_timestamp=now + timedelta(hours=20),
        time_horizon_minutes=1440,
        created_at=now - timedelta(hours=4),
    )
    error = make_error(occurred_at=now + timedelta(hours=6))

    response = _mark(ops_client, prediction, error_id=error.error_id, timestamp=now)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"] == "error_id: happened in the future."
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is None
