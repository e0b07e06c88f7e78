"""Alert texts say what is urgent and what a number is.

A3/N1: with a burst in progress the predictor is sure at every horizon (79% within 30 min, 81%
within 2 h, 91% within 24 h) and the email led with "within 24 hours" for an outage going on now:
the shortest horizon at or above the alert level speaks for the alert. The anomaly email showed
"rt_p95 (contribution +30,976)": a latency in ms labelled as a contribution to the score.
"""

from __future__ import annotations

import pytest

from ml_prediction.models import AlertNotification, AnomalyDetection
from ml_prediction.notifications import slack_message
from ml_prediction.services.alerts import alerts_dispatch
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _burst_predictions(make_prediction, probabilities: dict[int, float]) -> list:
    return [
        make_prediction(
            error_type="ErrorBurst",
            predicted_category="incident",
            probability=probability,
            horizon=minutes,
            actions=False,
        )
        for minutes, probability in probabilities.items()
    ]


def _dispatch(run, predictions=(), anomalies=()) -> None:
    run(
        alerts_dispatch,
        service=(predictions or anomalies)[0].service,
        prediction_ids=[p.prediction_id for p in predictions],
        anomaly_ids=[a.anomaly_id for a in anomalies],
        learning=False,
    )


def test_a_burst_in_progress_is_headlined_with_its_shortest_horizon(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    predictions = _burst_predictions(make_prediction, {30: 0.79, 120: 0.81, 1440: 0.91})

    _dispatch(deliver_on_commit, predictions)

    row = AlertNotification.objects.get(status="sent")
    assert row.payload["time_horizon_minutes"] == 30
    assert row.payload["probability"] == 0.79
    text = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "Probability: 79%" in text
    assert "Time estimate: within 30 minutes (by " in text and " UTC)" in text
    assert "around" not in text and "+00:00" not in text  # "by" the horizon's end, readable
    assert "By horizon: 79% within 30 minutes; 81% within 2 hours; 91% within 24 hours" in text
    assert "ErrorBurst on django: 79% within 30 minutes" in str(slack_message(row.payload))


def test_a_short_horizon_below_the_alert_level_does_not_speak_for_the_alert(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    predictions = _burst_predictions(make_prediction, {30: 0.40, 120: 0.81, 1440: 0.91})

    _dispatch(deliver_on_commit, predictions)

    row = AlertNotification.objects.get(status="sent")
    assert (row.payload["time_horizon_minutes"], row.payload["probability"]) == (120, 0.81)


def test_anomaly_factors_are_shown_as_measurements_with_their_meaning(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    make_anomaly(minutes_ago=10)
    anomaly = make_anomaly(minutes_ago=5)
    AnomalyDetection.objects.filter(pk=anomaly.pk).update(
        contributing_features={
            "seasonal_z": 41.37,
            "severe_share": 0.625,
            "rt_p95": 30976.0,
            "root_cause_key": "upstream_timeout",
        }
    )

    _dispatch(deliver_on_commit, anomalies=[anomaly])

    message = smtp_server.messages[0]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    slack = str(slack_message(AlertNotification.objects.get(status="sent").payload))
    assert (
        "- seasonal_z = 41.4 (errors against the usual level for this hour of the week, "
        "in standard deviations)" in text
    )
    assert "- severe_share = 62% (share of the bucket's errors at error or critical severity)" in (
        text
    )
    assert "- rt_p95 = 30,976 ms (p95 response time of the bucket's failed requests)" in text
    for rendered in (text, html, slack):
        assert "contribution" not in rendered
        assert "root_cause_key" not in rendered and "upstream_timeout" not in rendered
    assert "rt_p95 = 30,976 ms" in html and "rt_p95 = 30,976 ms" in slack


def test_an_anomaly_page_says_why_this_cause_step_by_step_in_words(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    """The engine's decision path behind the cause reached nobody; the person paged reads it
    under the hypothesis, each conclusion in words rather than the stored key."""
    make_anomaly(minutes_ago=10)
    anomaly = make_anomaly(minutes_ago=5)
    AnomalyDetection.objects.filter(pk=anomaly.pk).update(
        contributing_features={
            "root_cause_key": "upstream_timeout",
            "root_cause_path": [
                "error type: timeout errors ×16: 22 per 5 min in the last hour vs 1.4 before "
                "→ upstream_timeout",
                "service: laravel is a back end (database pool, memory, upstream calls)",
                "system state: metrics within their normal range",
            ],
        }
    )

    _dispatch(deliver_on_commit, anomalies=[anomaly])

    message = smtp_server.messages[0]
    text = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(preferencelist=("html",)).get_content()
    slack = str(slack_message(AlertNotification.objects.get(status="sent").payload))
    first = "error type: timeout errors ×16: 22 per 5 min in the hour before "
    conclusion = " vs 1.4 before → a dependency is slow and requests time out"
    assert "Why this cause:\n- " + first in text
    assert conclusion + "\n- service: laravel is a back end" in text
    assert "- system state: metrics within their normal range" in text
    for rendered in (html, slack):
        assert "Why this cause" in rendered
        assert first in rendered and conclusion in rendered
    for rendered in (text, html, slack):
        assert "upstream_timeout" not in rendered and "the last hour" not in rendered
