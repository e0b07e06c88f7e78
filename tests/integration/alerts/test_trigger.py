"""Sending now on request: trigger_alert (service and endpoint) and the guide's notify_prediction."""

from __future__ import annotations

import uuid

import pytest

from ml_prediction.models import AlertNotification, AuditEvent
from ml_prediction.notifications import notify_prediction
from ml_prediction.services.alerts import alert_prediction_now, alerts_dispatch
from ml_prediction.services.errors import NotFound
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_trigger_sends_now_despite_cooldown_threshold_and_learning(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a low-probability prediction of a learning service, inside a cooldown
    deliver_on_commit(
        alerts_dispatch,
        service="django",
        prediction_ids=[make_prediction().prediction_id],
        anomaly_ids=[],
        learning=False,
    )
    low = make_prediction(probability=0.30)

    # when a person triggers its alert
    rows = deliver_on_commit(
        alert_prediction_now, prediction_id=low.prediction_id, triggered_by="alice"
    )

    # then it goes out through the same channels and is audited
    assert len(smtp_server.envelopes) == 2
    subject = "HIGH RISK: DatabaseConnectionTimeout on django: 30% within 45 minutes"
    assert smtp_server.messages[1]["Subject"] == subject
    assert "30%" in smtp_server.messages[1].get_body(preferencelist=("plain",)).get_content()
    for row in rows:
        row.refresh_from_db()
    assert [(r.channel, r.status, r.triggered_by) for r in rows] == [("email", "sent", "alice")]
    low.refresh_from_db()
    assert low.alert_triggered and low.alert_sent_at is not None
    audit = AuditEvent.objects.get(action="prediction.trigger_alert")
    assert (audit.actor, audit.object_id, audit.outcome) == ("alice", str(low.prediction_id), "ok")


@pytest.mark.parametrize("bad_id", [uuid.uuid4(), "not-a-uuid"])
def test_trigger_of_unknown_prediction_raises_not_found(ml_config, bad_id):
    with pytest.raises(NotFound):
        alert_prediction_now(prediction_id=bad_id, triggered_by="alice")


def test_trigger_alert_endpoint_sends_the_email(
    smtp_server,
    ml_config,
    eager_celery,
    make_prediction,
    ops_client,
    django_capture_on_commit_callbacks,
):
    prediction = make_prediction(probability=0.5)

    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        response = ops_client.post(f"/api/ml/predictions/{prediction.prediction_id}/trigger_alert/")

    assert response.status_code == 200, response.content
    assert len(smtp_server.envelopes) == 1
    assert [n["channel"] for n in response.json()["notifications"]] == ["email"]


def test_trigger_alert_endpoint_refuses_read_only_users(
    smtp_server, ml_config, eager_celery, make_prediction, readonly_client
):
    prediction = make_prediction()

    response = readonly_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/trigger_alert/"
    )

    assert response.status_code == 403
    assert smtp_server.envelopes == []
    assert not AlertNotification.objects.exists()


def test_notify_prediction_follows_the_automatic_rules(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    assert deliver_on_commit(notify_prediction, make_prediction(probability=0.5)) == []

    first = deliver_on_commit(notify_prediction, make_prediction(probability=0.9))
    second = deliver_on_commit(notify_prediction, make_prediction(probability=0.9))

    assert [(r.channel, r.kind) for r in first] == [("email", "prediction")]
    assert AlertNotification.objects.get(alert_id=first[0].alert_id).status == "sent"
    assert [r.reason.split(":")[0] for r in second] == ["cooldown"]
    assert len(smtp_server.envelopes) == 1
