"""Alert texts are for people: plain numbers (no scientific notation) and links that answer."""

from __future__ import annotations

import re

import pytest

from ml_prediction.models import AlertNotification, AnomalyDetection
from ml_prediction.notifications import slack_message
from ml_prediction.services.alerts import alerts_dispatch
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _latency_anomaly_alert(run, make_anomaly) -> AlertNotification:
    """A critical two-bucket p95 anomaly whose factors are in milliseconds, dispatched."""
    make_anomaly(minutes_ago=10, metric="rt_p95")
    anomaly = make_anomaly(minutes_ago=5, metric="rt_p95")
    AnomalyDetection.objects.filter(pk=anomaly.pk).update(
        observed_value=28712.3456,
        expected_value=1234.5,
        contributing_features={"rt_p95": 28700.0, "timeout_count": 0.61, "cpu": -0.0421},
    )
    run(
        alerts_dispatch,
        service="laravel",
        prediction_ids=[],
        anomaly_ids=[anomaly.anomaly_id],
        learning=False,
    )
    return AlertNotification.objects.get(status="sent")


def test_anomaly_alert_numbers_are_written_for_people(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    alert = _latency_anomaly_alert(deliver_on_commit, make_anomaly)

    message = smtp_server.messages[0]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    slack = str(slack_message(alert.payload))
    # a measurement with its unit and meaning, not a "contribution" (UA2: rt_p95 is a latency)
    assert "- rt_p95 = 28,700 ms (p95 response time of the bucket's failed requests)" in text
    assert "- timeout_count = 0.61" in text and "- cpu = -0.04" in text
    assert "Observed / expected: 28,712 / 1,234" in text
    assert "28,712 / 1,234" in html and "28,712 / 1,234" in slack
    assert "rt_p95 = 28,700 ms" in slack
    for rendered in (text, html, slack):
        assert not _SCIENTIFIC.search(_UUID.sub("<id>", rendered)), rendered


# links carry the anomaly's UUID, whose hex can read "…be-0d1f…" (seen once in a sweep)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?e[+-]\d")  # how Python writes 28712.3 as 2.87e+04


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("", "http://127.0.0.1:8765"),  # the demo's own port
        ("https://ml.example.test", "https://ml.example.test"),  # configured: kept
    ],
)
def test_the_demo_links_alerts_to_the_port_it_serves_on(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_anomaly,
    monkeypatch,
    environment,
    expected,
):
    from ml_prediction.management.commands.demo import demo_links_configure

    ml_config(DASHBOARD_BASE_URL=expected if environment else "http://127.0.0.1:8000")
    monkeypatch.setenv("ML_DASHBOARD_BASE_URL", environment)

    assert demo_links_configure(port=8765) == expected

    alert = _latency_anomaly_alert(deliver_on_commit, make_anomaly)
    text = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert f"Dashboard: {expected}/dashboard/" in text
    assert alert.payload["api_url"].startswith(f"{expected}/api/ml/anomalies/")
