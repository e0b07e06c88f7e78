"""Delivery through a real Celery worker on Redis: the retry goes back through the broker."""

from __future__ import annotations

import time

import pytest

from ml_prediction.models import AlertNotification, ErrorPrediction
from ml_prediction.services.alerts import alerts_dispatch, alerts_requeue_stalled
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS, transaction=True)


@pytest.fixture
def alerts_worker(monkeypatch):
    """A Celery worker thread consuming the ``alerts`` queue, with a short backoff."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from feeding_hearts.celery import app
    from ml_prediction import alert_tasks

    monkeypatch.setattr(alert_tasks, "ALERT_RETRY_BASE_SECONDS", 0.2)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare("alerts", durable=True)
        connection.default_channel.queue_purge("alerts")  # leftovers of earlier runs

    def close_connections(**kwargs):
        # The worker thread's connections would otherwise outlive it and hold the test database.
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, queues=["alerts"], perform_ping_check=False, shutdown_timeout=20):
            yield
    finally:
        task_postrun.disconnect(close_connections)


def wait_for(predicate, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_worker_retries_a_failed_slack_post_with_backoff_then_delivers(
    http_receiver, ml_config, make_prediction, alerts_worker
):
    # given a receiver that fails once, then accepts
    slack = http_receiver(500, 200)
    ml_config(ALERT_EMAIL="", SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction()

    # when the orchestrator dispatches (the hand-off happens on commit, to the broker)
    started = time.monotonic()
    alerts_dispatch(
        service="django", prediction_ids=[prediction.prediction_id], anomaly_ids=[], learning=False
    )

    # then the worker delivers on its second attempt, after a backoff
    row = wait_for(lambda: AlertNotification.objects.filter(channel="slack", status="sent").first())
    assert time.monotonic() - started >= 0.15
    assert (row.attempts, len(slack.requests)) == (2, 2)
    assert "500" in row.last_error
    assert ErrorPrediction.objects.get(pk=prediction.pk).alert_sent_at == row.sent_at


def test_stalled_pending_alerts_are_queued_again(
    http_receiver, ml_config, make_prediction, alerts_worker
):
    # given a pending notification that never reached a worker
    from datetime import timedelta

    from django.utils import timezone

    slack = http_receiver(200)
    ml_config(ALERT_EMAIL="", SLACK_WEBHOOK_URL=slack.url)
    lost = AlertNotification.objects.create(
        kind="prediction",
        channel="slack",
        service="django",
        error_type="DatabaseConnectionTimeout",
        dedup_key="prediction:django:DatabaseConnectionTimeout",
        payload={"kind": "prediction", "subject": "HIGH RISK: X", "service": "django"},
        created_at=timezone.now() - timedelta(minutes=15),
    )
    ancient = AlertNotification.objects.create(
        kind="prediction",
        channel="slack",
        service="django",
        dedup_key="prediction:django:Old",
        created_at=timezone.now() - timedelta(hours=7),
    )

    # when the beat sweep runs
    assert alerts_requeue_stalled() == 1

    # then the lost one is delivered and the ancient one is given up, not sent late
    wait_for(lambda: AlertNotification.objects.filter(pk=lost.pk, status="sent").exists())
    ancient.refresh_from_db()
    assert ancient.status == "failed" and "not sent late" in ancient.last_error
    assert len(slack.requests) == 1


def test_concurrent_analyses_of_one_service_send_one_alert(
    smtp_server, ml_config, eager_celery, make_prediction
):
    # given eight analyses committing predictions of the same error type at the same moment
    import threading

    from django.db import connections

    predictions = [make_prediction(actions=False) for _ in range(8)]
    barrier = threading.Barrier(len(predictions))

    def analysis(prediction):
        try:
            barrier.wait(timeout=10)
            alerts_dispatch(
                service="django",
                prediction_ids=[prediction.prediction_id],
                anomaly_ids=[],
                learning=False,
            )
        finally:
            connections.close_all()

    # when they all hand their results to alerting at once
    threads = [threading.Thread(target=analysis, args=(p,)) for p in predictions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then the per-service lock lets exactly one through; the others are in its cooldown
    assert len(smtp_server.envelopes) == 1
    assert AlertNotification.objects.filter(status="sent").count() == 1
    assert (
        AlertNotification.objects.filter(status="suppressed", reason__startswith="cooldown").count()
        == 7
    )
