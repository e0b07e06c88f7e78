"""Anomaly alerts are about current episodes: old windows never page, and an alert about an old
episode never quiets a new one (the quiet period runs on the anomaly windows, not the clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AlertNotification
from ml_prediction.services.alerts import alerts_dispatch
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def dispatch(run, anomalies, service="laravel"):
    run(
        alerts_dispatch,
        service=service,
        prediction_ids=[],
        anomaly_ids=[a.anomaly_id for a in anomalies],
        learning=False,
    )


def test_an_episode_two_days_old_does_not_page_nor_leave_a_decision(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # given two critical buckets in a row, two days ago (a backfill stored them just now)
    two_days = 2 * 24 * 60
    make_anomaly(minutes_ago=two_days + 5)
    old = make_anomaly(minutes_ago=two_days)

    dispatch(deliver_on_commit, [old])

    assert smtp_server.envelopes == []
    assert not AlertNotification.objects.exists()
    old.refresh_from_db()
    assert old.alert_triggered is False


@pytest.mark.parametrize(("minutes_ago", "emails"), [(100, 1), (130, 0)])
def test_anomaly_current_minutes_sets_how_old_a_window_may_be(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly, minutes_ago, emails
):
    # the window of the newest bucket ends 5 minutes after it starts
    make_anomaly(minutes_ago=minutes_ago + 5)
    newest = make_anomaly(minutes_ago=minutes_ago)

    dispatch(deliver_on_commit, [newest])

    assert len(smtp_server.envelopes) == emails


def test_an_alert_about_an_old_episode_does_not_quiet_a_new_one(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # given an alert sent half an hour ago about windows of two days ago (what the demo set-up
    # did before old windows stopped paging)
    two_days = 2 * 24 * 60
    old = [make_anomaly(minutes_ago=two_days + 5), make_anomaly(minutes_ago=two_days)]
    AlertNotification.objects.create(
        kind="anomaly",
        service="laravel",
        error_type="error_count",
        dedup_key="anomaly:laravel:error_count",
        severity="critical",
        anomaly_ids=[str(a.anomaly_id) for a in old],
        channel="email",
        status="sent",
        payload={"subject": "CRITICAL ANOMALY: laravel error_count"},
        created_at=timezone.now() - timedelta(minutes=30),
        sent_at=timezone.now() - timedelta(minutes=30),
    )

    # when a live burst of the same metric comes
    make_anomaly(minutes_ago=10)
    live = make_anomaly(minutes_ago=5)
    dispatch(deliver_on_commit, [live])

    # then it pages: it is another episode
    assert [m["Subject"] for m in smtp_server.messages] == ["CRITICAL ANOMALY: laravel error_count"]
    assert not AlertNotification.objects.filter(status="suppressed").exists()


def test_the_quiet_period_follows_the_episode_windows(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # given an alert about an episode whose windows ended 100 minutes ago
    make_anomaly(minutes_ago=110)
    first = make_anomaly(minutes_ago=105)
    dispatch(deliver_on_commit, [first])
    assert len(smtp_server.envelopes) == 1

    # when the same metric is anomalous again now: 100 min of windows later, within the quiet
    # period of 120, so the same episode
    make_anomaly(minutes_ago=10)
    again = make_anomaly(minutes_ago=5)
    dispatch(deliver_on_commit, [again])
    assert len(smtp_server.envelopes) == 1
    suppressed = AlertNotification.objects.get(status="suppressed")
    assert suppressed.reason.startswith("anomaly_suppressed: ")
    assert "same episode" in suppressed.reason

    # and with a quiet period of 60 min of windows it is a new episode, which pages
    ml_config(ANOMALY_ALERT_SUPPRESS_MINUTES=60)
    dispatch(deliver_on_commit, [make_anomaly(minutes_ago=0)])
    assert len(smtp_server.envelopes) == 2
