"""Error types come from ingestion (any ingest key sets them), so every Slack mrkdwn text, the
fallback ``text`` included, escapes them: no links, no @channel, no user mentions."""

from __future__ import annotations

import pytest

from ml_prediction.models import AlertNotification
from ml_prediction.notifications import render_alert_email, slack_message
from ml_prediction.services.alerts import alerts_dispatch
from tests.integration.alerts.conftest import BOTH_DBS

HOSTILE = "<https://evil.example/login|Reset your SSO password> <!channel>"
ESCAPED = "&lt;https://evil.example/login|Reset your SSO password&gt; &lt;!channel&gt;"


def _mrkdwn_texts(message: dict) -> list[str]:
    """The fallback text and every mrkdwn text of the blocks: what Slack parses for markup."""
    texts = [message["text"]]
    for block in message["blocks"]:
        items = [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        texts += [item["text"] for item in items if item.get("type") == "mrkdwn"]
    return texts


PAYLOADS = {
    "prediction": {
        "kind": "prediction",
        "subject": "HIGH RISK: x",
        "service": "django",
        "error_type": HOSTILE,
        "severity": "high",
        "probability": 0.82,
        "time_horizon_minutes": 45,
    },
    "anomaly outlook": {
        "kind": "anomaly",
        "subject": "CRITICAL ANOMALY: django error_count",
        "service": "django",
        "metric_name": "error_count",
        "severity": "critical",
        "observed_value": 240,
        "expected_value": 12,
        "outlook": [{"error_type": HOSTILE, "probability": 0.8, "time_horizon_minutes": 30}],
    },
    "digest": {
        "kind": "digest",
        "subject": f"ML: 6 alerts for django ({HOSTILE})",
        "service": "django",
        "items": [{"kind": "prediction", "service": "django", "error_type": HOSTILE}],
    },
    "resolved": {
        "kind": "resolved",
        "subject": "RESOLVED",
        "service": "django",
        "metric_name": HOSTILE,
    },
}


@pytest.mark.parametrize("kind", PAYLOADS)
def test_every_mrkdwn_text_escapes_ingested_values(kind):
    message = slack_message(PAYLOADS[kind])

    assert ESCAPED in message["text"]
    for text in _mrkdwn_texts(message):
        assert "<" not in text and ">" not in text, text


def test_the_email_keeps_hostile_types_inert():
    """The email needs no mrkdwn escaping: the subject is one line, the HTML is escaped, the
    plain part is plain text (kept as is)."""
    subject, text, html = render_alert_email({**PAYLOADS["prediction"], "subject": HOSTILE})

    assert subject == HOSTILE
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html
    assert HOSTILE in text


@pytest.mark.django_db(databases=BOTH_DBS)
def test_the_posted_slack_message_escapes_an_ingested_error_type(
    http_receiver, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given a high-risk prediction whose error type an ingest client chose
    slack = http_receiver(200)
    ml_config(ALERT_EMAIL="", SLACK_WEBHOOK_URL=slack.url)
    prediction = make_prediction(error_type=HOSTILE)

    # when the alert is delivered to a real receiver
    deliver_on_commit(
        alerts_dispatch,
        service="django",
        prediction_ids=[prediction.prediction_id],
        anomaly_ids=[],
        learning=False,
    )

    # then what Slack received carries the type as text, not as a link and an @channel
    assert AlertNotification.objects.get(channel="slack").status == "sent"
    message = slack.bodies[0]
    assert ESCAPED in message["text"]
    assert all("<" not in text for text in _mrkdwn_texts(message))
