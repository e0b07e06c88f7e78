"""Delivery on real channels: an SMTP server and HTTP receivers started by the tests."""

from __future__ import annotations

import pytest

from ml_prediction.engines.forecasting import format_time
from ml_prediction.models import AlertNotification, ErrorPrediction, PreventiveAction
from ml_prediction.services.alerts import alerts_dispatch
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}


def assert_valid_block_kit(message: dict) -> None:
    """Check the structural rules Slack enforces on incoming-webhook Block Kit messages."""
    assert isinstance(message.get("text"), str) and message["text"]
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in BLOCK_TYPES, block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(block["text"]["text"]) <= 3000
            for item in block.get("fields", []):
                assert item["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(item["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for element in block["elements"]:
                assert element["type"] == "button"
                assert element["text"]["type"] == "plain_text"
                assert len(element["text"]["text"]) <= 75
                assert element["url"].startswith("http")


def _dispatch(deliver_on_commit, service: str, *, prediction_ids=(), anomaly_ids=()):
    """One analysis' hand-over to alerting, its deliveries run as after the commit."""
    return deliver_on_commit(
        alerts_dispatch,
        service=service,
        prediction_ids=list(prediction_ids),
        anomaly_ids=list(anomaly_ids),
        learning=False,
    )


def _plain(smtp_server, index: int = 0) -> str:
    return smtp_server.messages[index].get_body(preferencelist=("plain",)).get_content()


def test_email_arrives_with_subject_recipients_both_parts_and_facts(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a high-risk prediction and an SMTP server
    ml_config(ALERT_EMAIL="ops@feedinghearts.test, oncall@feedinghearts.test")
    prediction = make_prediction(probability=0.82, horizon=45)

    # when the orchestrator hands it to alerting
    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    # then one email arrives with the guide's subject (and the service, probability and
    # horizon that tell two pages apart in an inbox), both parts and the facts
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert sorted(envelope.rcpt_tos) == ["oncall@feedinghearts.test", "ops@feedinghearts.test"]
    assert envelope.mail_from == "ml-alerts@feedinghearts.test"
    message = smtp_server.messages[0]
    assert (
        message["Subject"]
        == "HIGH RISK: DatabaseConnectionTimeout on django: 82% within 45 minutes"
    )
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = f"http://ml.feedinghearts.test/api/ml/predictions/{prediction.prediction_id}/"
    for part in (text, html):
        assert "django" in part
        assert "DatabaseConnectionTimeout" in part
        assert "82%" in part
        assert "45 minutes" in part
        assert "db_pool_in_use" in part and "timeout_count_lag1" in part and "rt_p95" in part
        assert "hour_of_day" not in part  # only the top three factors
        assert "By horizon" not in part  # a single horizon needs no breakdown
        assert "Connection pool exhaustion: 97 of 100 connections in use" in part
        assert "Increase the database connection pool" in part
        assert link in part
    assert "<html" in html and f'href="{link}"' in html

    # and the decision and the delivery are recorded on the rows
    row = AlertNotification.objects.get(channel="email")
    assert (row.status, row.attempts, row.kind) == ("sent", 1, "prediction")
    prediction.refresh_from_db()
    assert prediction.alert_triggered is True
    assert prediction.alert_sent_at == row.sent_at


def test_slack_payload_arrives_as_valid_block_kit(
    http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a Slack webhook receiver and a channel override for the service
    slack = http_receiver(200)
    ml_config(
        ALERT_EMAIL="",
        SLACK_WEBHOOK_URL=slack.url,
        SLACK_CHANNEL_OVERRIDES={"django": "#ops-django"},
    )
    prediction = make_prediction(probability=0.91, horizon=30)

    # when
    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    # then one Block Kit message with the facts arrives
    assert len(slack.requests) == 1
    assert slack.requests[0]["headers"]["Content-Type"] == "application/json"
    message = slack.bodies[0]
    assert_valid_block_kit(message)
    assert message["channel"] == "#ops-django"
    flat = str(message)
    assert "HIGH RISK: DatabaseConnectionTimeout" in flat
    assert "91%" in flat and "30 minutes" in flat and "db_pool_in_use" in flat
    assert "Connection pool exhaustion" in flat
    assert "Increase the database connection pool" in flat
    assert f"/api/ml/predictions/{prediction.prediction_id}/" in flat
    assert AlertNotification.objects.get(channel="slack").status == "sent"


def test_service_override_can_be_its_own_webhook(
    http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    default, java_hook = http_receiver(200), http_receiver(200)
    ml_config(
        ALERT_EMAIL="",
        SLACK_WEBHOOK_URL=default.url,
        SLACK_CHANNEL_OVERRIDES={"java": java_hook.url},
    )
    prediction = make_prediction(service="java", probability=0.9)

    _dispatch(deliver_on_commit, "java", prediction_ids=[prediction.prediction_id])

    assert (len(default.requests), len(java_hook.requests)) == (0, 1)
    assert "channel" not in java_hook.bodies[0]


def test_receiver_answering_500_is_retried_then_the_failure_is_recorded(
    http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a Slack receiver that always fails
    from ml_prediction.alert_tasks import ALERT_DELIVERY_MAX_RETRIES

    slack = http_receiver(500)
    ml_config(ALERT_EMAIL="", SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction()

    # when, and the dispatch itself does not raise
    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    # then every retry reached the receiver and the failure is on the row
    assert len(slack.requests) == ALERT_DELIVERY_MAX_RETRIES + 1
    row = AlertNotification.objects.get(channel="slack")
    assert row.status == "failed"
    assert row.attempts == ALERT_DELIVERY_MAX_RETRIES + 1
    assert "500" in row.last_error
    prediction.refresh_from_db()
    assert prediction.alert_triggered is True and prediction.alert_sent_at is None


def test_a_retry_that_succeeds_marks_the_alert_sent(
    http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    slack = http_receiver(500, 503, 200)
    ml_config(ALERT_EMAIL="", SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction()

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    row = AlertNotification.objects.get(channel="slack")
    assert (row.status, row.attempts, len(slack.requests)) == ("sent", 3, 3)
    assert "503" in row.last_error  # the last failure stays visible
    assert ErrorPrediction.objects.get(pk=prediction.pk).alert_sent_at is not None


def test_unreachable_smtp_server_fails_email_but_slack_still_delivers(
    settings, http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given an SMTP port where nothing listens, and a working Slack receiver
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", dead_port
    slack = http_receiver(200)
    ml_config(SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction()

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    statuses = dict(AlertNotification.objects.values_list("channel", "status"))
    assert statuses == {"email": "failed", "slack": "sent"}
    assert "Connection" in AlertNotification.objects.get(channel="email").last_error


def test_critical_anomaly_email_and_slack_carry_the_anomaly_facts(
    smtp_server, http_receiver, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    slack = http_receiver(200)
    ml_config(SLACK_WEBHOOK_URL=slack.url)
    first = make_anomaly(minutes_ago=10, severity="high")
    anomaly = make_anomaly(minutes_ago=5, severity="critical")
    PreventiveAction.objects.create(
        anomaly=anomaly,
        service="laravel",
        action_type="enable_circuit_breaker",
        title="Open the circuit breaker on the payment client",
        priority="critical",
    )

    _dispatch(deliver_on_commit, "laravel", anomaly_ids=[anomaly.anomaly_id])

    message = smtp_server.messages[0]
    assert message["Subject"] == "CRITICAL ANOMALY: laravel error_count"
    text = message.get_body(preferencelist=("plain",)).get_content()
    # numbers are written for people (240, 28,712), not as raw floats (240.0) or 2.87e+04
    assert "Observed / expected: 240 / 31 errors per 5 min" in text
    assert "2 anomalous buckets in 60 min" in text
    # the incident's start, not only its newest 5 minutes (on-call acceptance pass)
    assert f"Incident since: {format_time(first.window_start)}" in text
    fields = [f["text"] for b in slack.bodies[0]["blocks"] for f in b.get("fields", [])]
    assert f"*Incident since*\n{format_time(first.window_start)} (peak 240)" in fields
    assert "; incident since " + format_time(first.window_start) in slack.bodies[0]["text"]
    assert any(f.startswith("*Worst bucket*\n") for f in fields)
    assert "Upstream payment API timeouts" in text
    assert "1. Open the circuit breaker on the payment client" in text
    assert_valid_block_kit(slack.bodies[0])
    anomaly.refresh_from_db()
    assert anomaly.alert_triggered and anomaly.alert_sent_at is not None


def test_actions_stored_on_the_prediction_are_listed_when_it_has_no_action_rows(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a prediction whose recommendations are the engine's dataclasses, as the orchestrator stores them
    from dataclasses import asdict

    from ml_prediction.engines.types import ActionRecommendation

    recommendation = ActionRecommendation(
        action_type="rollback_release",
        title="Roll back release 2.4.1",
        description="Errors started with the release",
        priority="critical",
        can_be_automated=True,
    )
    prediction = make_prediction(actions=False, recommended_actions=[asdict(recommendation)])

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    text = _plain(smtp_server)
    assert "1. Roll back release 2.4.1 (automatable)" in text


def test_the_first_page_lists_the_actions_the_analysis_hung_on_another_bucket_of_the_incident(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    """Found on call: an episode's actions hang on its highest-scoring bucket; when that was not
    the bucket that paged, the page folded them into one line of text."""
    top = make_anomaly(minutes_ago=10, severity="high")
    for title, priority in (
        ("Open the circuit breaker on the payment client", "critical"),
        ("Raise the payment client's timeout budget", "high"),
    ):
        PreventiveAction.objects.create(
            anomaly=top,
            service="laravel",
            action_type="enable_circuit_breaker",
            title=title,
            priority=priority,
        )
    paged = make_anomaly(minutes_ago=5, severity="critical")

    _dispatch(deliver_on_commit, "laravel", anomaly_ids=[paged.anomaly_id])

    text = _plain(smtp_server)
    assert "1. Open the circuit breaker on the payment client" in text
    assert "2. Raise the payment client's timeout budget" in text


def test_a_page_lists_pending_actions_only_the_most_urgent_first(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    """Found in the acceptance pass: an action someone had skipped led the next page, and a
    high one came before a critical one (they were in the order they were created)."""
    top = make_anomaly(minutes_ago=10, severity="high")
    for title, priority, status in (
        ("Scale up laravel", "high", "recommended"),
        ("Restart the queue workers", "high", "skipped"),
        ("Increase the database connection pool of laravel", "critical", "recommended"),
    ):
        PreventiveAction.objects.create(
            anomaly=top,
            service="laravel",
            action_type="scale_up",
            title=title,
            priority=priority,
            status=status,
        )
    paged = make_anomaly(minutes_ago=5, severity="critical")

    _dispatch(deliver_on_commit, "laravel", anomaly_ids=[paged.anomaly_id])

    text = _plain(smtp_server)
    assert "1. Increase the database connection pool of laravel" in text
    assert "2. Scale up laravel" in text
    assert "Restart the queue workers" not in text


@pytest.mark.parametrize(
    ("error_type", "said"),
    [
        ("OperationalError", "critical errors (most often OperationalError)"),
        ("CriticalError", "critical errors"),  # the default name: no type to add
    ],
)
def test_a_critical_head_page_says_critical_errors_not_one_type(
    smtp_server,
    http_receiver,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_prediction,
    error_type,
    said,
):
    """Found on call: "HIGH RISK: OperationalError on django" read as a forecast of that one
    type; the critical head predicts critical errors of any type."""
    slack = http_receiver(200)
    ml_config(SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction(
        error_type=error_type, predicted_category="critical", probability=0.86, horizon=30
    )

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    assert (
        smtp_server.messages[0]["Subject"] == f"HIGH RISK: {said} on django: 86% within 30 minutes"
    )
    assert f"{said} on django: 86% within 30 minutes" in slack.bodies[0]["text"]
    text = _plain(smtp_server)
    assert f"Error type: {said}" in text
    fields = [f["text"] for b in slack.bodies[0]["blocks"] for f in b.get("fields", [])]
    assert f"*Error type*\n{said}" in fields


def test_an_incident_page_names_the_critical_head_as_critical_errors_not_a_likely_type(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    """Found in the acceptance pass: the incident page (the one that pages) read "ErrorBurst ...
    (likely OperationalError)", the critical head's chance of critical errors of any type shown
    as the chance of one type."""
    incident = make_prediction(
        error_type="ErrorBurst", predicted_category="incident", probability=0.8, horizon=30
    )
    critical = make_prediction(
        error_type="OperationalError", predicted_category="critical", probability=0.78, horizon=30
    )
    timeout = make_prediction(
        error_type="ReadTimeout", predicted_category="timeout", probability=0.72, horizon=30
    )

    _dispatch(
        deliver_on_commit,
        "django",
        prediction_ids=[incident.prediction_id, critical.prediction_id, timeout.prediction_id],
    )

    message = smtp_server.messages[0]
    assert message["Subject"] == (
        "HIGH RISK: ErrorBurst on django: 80% within 30 minutes (likely ReadTimeout)"
    )
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "critical errors (most often OperationalError) 78% within 30 minutes" in text


def test_a_prediction_page_says_which_hour_its_cause_describes(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    """Found in the acceptance pass: a page sent minutes after the analysis said "in the last
    hour" for an hour the dashboard dated."""
    from ml_prediction.services.feedback import horizon_of

    prediction = make_prediction(
        root_cause_hypothesis="django: timeouts (134 per 5 min in the last hour vs 2.4 before)."
    )

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    text = _plain(smtp_server)
    made_at = horizon_of(prediction)[0]
    assert f"134 per 5 min in the hour before {made_at:%b %d %H:%M} UTC vs 2.4" in text
    assert "the last hour" not in text


def test_a_page_gives_the_incidents_peak_beside_its_worst_buckets_value(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    """Found in the acceptance pass: a second page of an incident said "15 / 1.5" while its
    first bucket had 200; the worst (most severe, newest) bucket's value is not the peak."""
    from ml_prediction.models import AnomalyDetection

    first = make_anomaly(minutes_ago=10, severity="high")
    AnomalyDetection.objects.filter(pk=first.pk).update(observed_value=612.0)
    paged = make_anomaly(minutes_ago=5, severity="critical")  # 240

    _dispatch(deliver_on_commit, "laravel", anomaly_ids=[paged.anomaly_id])

    text = _plain(smtp_server)
    assert "Observed / expected: 240 / 31 errors per 5 min" in text
    assert f"Incident since: {format_time(first.window_start)} (peak 612 errors per 5 min)" in text


def test_a_prediction_page_says_the_heads_usual_rate(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    """Found in the acceptance pass: a prediction sent by hand read "77% (confidence high)" with
    nothing to say that its head gives 42% to any hour."""
    from ml_prediction.models import MLModel

    model = MLModel.objects.create(
        model_name="django-error-classifier-v1",
        model_type="error_classifier",
        service="django",
        status="active",
        metrics={"database@45.base_rate": 0.42, "database@45.cal_roc_auc": 0.9},
    )
    prediction = make_prediction(model=model, probability=0.86)

    _dispatch(deliver_on_commit, "django", prediction_ids=[prediction.prediction_id])

    text = _plain(smtp_server)
    assert "Probability: 86% (confidence high); usually 42%" in text
