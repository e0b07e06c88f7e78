"""Rendering of alert payloads: escaping, Slack limits, factor shapes. No database needed."""

from __future__ import annotations

import pytest

from ml_prediction.notifications import render_alert_email, slack_message
from ml_prediction.services.alerts import factor_lines
from tests.integration.alerts.test_channels import assert_valid_block_kit


def payload(**overrides) -> dict:
    base = {
        "kind": "prediction",
        "subject": "HIGH RISK: DatabaseConnectionTimeout",
        "service": "django",
        "error_type": "DatabaseConnectionTimeout",
        "severity": "high",
        "probability": 0.82,
        "time_horizon_minutes": 45,
        "predicted_timestamp": "2026-01-15T11:45:00+00:00",
        "factors": [{"feature": "db_pool_in_use", "value": 97, "contribution": 0.6}],
        "root_cause_hypothesis": "Pool exhaustion",
        "recommended_actions": [{"title": "Increase the pool", "can_be_automated": True}],
        "api_url": "http://ml.test/api/ml/predictions/1/",
        "dashboard_url": "http://ml.test/dashboard/",
    }
    return {**base, **overrides}


def test_hostile_text_is_escaped_in_html_and_slack_and_kept_out_of_headers():
    hostile = payload(
        subject="HIGH RISK: <script>x</script>\r\nBcc: evil@example.com",
        error_type="<script>x</script>",
        root_cause_hypothesis="<b>&</b>",
    )

    subject, text, html = render_alert_email(hostile)
    message = slack_message(hostile)

    assert "\n" not in subject and "\r" not in subject
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>x</script>" in text  # the plain part is not HTML
    mrkdwn = str([b for b in message["blocks"] if b["type"] == "section"])
    assert "<script>" not in mrkdwn and "&lt;script&gt;" in mrkdwn and "&lt;b&gt;&amp;" in mrkdwn
    header = message["blocks"][0]["text"]  # plain_text: Slack shows it literally, on one line
    assert header["type"] == "plain_text" and "\n" not in header["text"]


def test_digest_of_100_alerts_stays_within_slack_limits():
    items = [payload(error_type=f"Error{i}", subject=f"HIGH RISK: Error{i}") for i in range(100)]
    digest = {
        "kind": "digest",
        "subject": "ALERT DIGEST: 100 alerts for django",
        "service": "django",
        "items": items,
        "api_url": "http://ml.test/api/ml/predictions/?service=django",
        "dashboard_url": "http://ml.test/dashboard/",
    }

    message = slack_message(digest)

    assert_valid_block_kit(message)
    assert "and 90 more in the email" in str(message["blocks"])
    subject, text, _ = render_alert_email(digest)
    assert subject == "ALERT DIGEST: 100 alerts for django"
    assert all(f"Error{i} on django: 82% within 45 minutes" in text for i in range(100))


@pytest.mark.parametrize(
    ("factors", "expected"),
    [
        (
            [
                {"feature": "a", "contribution": 0.1},
                {"feature": "b", "contribution": -0.9},
                {"feature": "c", "contribution": 0.5},
                {"feature": "d", "contribution": 0.05},
            ],
            # what raises the risk leads, largest first; "b lowers the risk" led before, so a
            # HIGH RISK alert opened with a reason against it
            ["c", "a", "d"],
        ),
        ({"x": 0.2, "y": 0.7}, ["y", "x"]),
        (["first", "second"], ["first", "second"]),
        ([{"name": "n", "importance": 0.3}], ["n"]),
        ([], []),
        (None, []),
    ],
)
def test_factor_lines_accept_the_shapes_engines_store(factors, expected):
    assert [row["feature"] for row in factor_lines(factors)] == expected


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(45, "45 minutes"), (120, "2 hours"), (1440, "24 hours"), (4320, "3 days")],
)
def test_time_estimate_reads_naturally(minutes, shown):
    _, text, html = render_alert_email(payload(time_horizon_minutes=minutes))

    assert f"within {shown}" in text and f"within {shown}" in html


def test_several_horizons_are_listed_once_each():
    many = payload(
        horizons=[{"minutes": 30, "probability": 0.9}, {"minutes": 120, "probability": 0.75}]
    )

    _, text, html = render_alert_email(many)

    assert "By horizon: 90% within 30 minutes; 75% within 2 hours" in text
    assert "90% within 30 minutes; 75% within 2 hours" in html


@pytest.mark.parametrize(
    ("kind", "says", "never"),
    [
        ("prediction", "mark a prediction as a false positive", "acknowledge it"),
        ("anomaly", "acknowledge it in the dashboard or the API", "false positive"),
        ("resolved", "Sent by Feeding Hearts ML.", "false positive"),
    ],
)
def test_the_email_footer_tells_what_the_reader_can_do_with_this_kind(kind, says, never):
    """An anomaly has no false-positive feedback; an all-clear needs nothing done."""
    _, _, html = render_alert_email(payload(kind=kind))
    footer = html.rsplit("<p", 1)[-1]
    assert says in footer
    assert never not in footer
