"""Noise control: threshold, learning state, cooldown, digest, false-positive feedback, anomalies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AlertNotification, ErrorPrediction, PredictionFeedback
from ml_prediction.services.alerts import alerts_dispatch
from ml_prediction.services.feedback import anomaly_acknowledge
from tests.integration.alerts.conftest import BOTH_DBS, FACTORS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def dispatch(run, service="django", predictions=(), anomalies=(), learning=False):
    run(
        alerts_dispatch,
        service=service,
        prediction_ids=[p.prediction_id for p in predictions],
        anomaly_ids=[a.anomaly_id for a in anomalies],
        learning=learning,
    )


def reasons() -> list[str]:
    rows = AlertNotification.objects.filter(status="suppressed").order_by("created_at")
    return [r.reason.split(":")[0] for r in rows]


def test_burst_of_100_same_type_predictions_in_one_analysis_sends_one_email(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    predictions = [make_prediction(probability=0.71 + i / 1000, actions=False) for i in range(100)]

    dispatch(deliver_on_commit, predictions=predictions)

    assert len(smtp_server.envelopes) == 1
    row = AlertNotification.objects.get()
    assert row.status == "sent" and len(row.prediction_ids) == 100
    text = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "Probability: 81%" in text  # the most probable of the burst speaks for it
    assert row.payload["horizons"] == [{"minutes": 45, "probability": 0.809}]
    assert ErrorPrediction.objects.filter(alert_triggered=True).count() == 100


def test_an_incident_and_its_likely_types_page_once(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    # given one analysis with an incident risk and the types it is likely to be
    incident = make_prediction(
        error_type="ErrorBurst", predicted_category="incident", probability=0.86, horizon=30
    )
    database = make_prediction(probability=0.74, horizon=30, actions=False)
    timeout = make_prediction(
        error_type="TimeoutError", predicted_category="timeout", probability=0.71, horizon=30
    )

    dispatch(deliver_on_commit, predictions=[incident, database, timeout])

    # then one alert goes out, spoken for by the incident, naming the likely types
    assert len(smtp_server.envelopes) == 1
    row = AlertNotification.objects.get()
    assert row.status == "sent" and row.dedup_key == "prediction:django:ErrorBurst"
    assert set(row.prediction_ids) == {str(p.prediction_id) for p in (incident, database, timeout)}
    assert row.payload["error_type"] == "ErrorBurst"
    assert [t["error_type"] for t in row.payload["likely_types"]] == [
        "DatabaseConnectionTimeout",
        "TimeoutError",
    ]
    text = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "Likely types: DatabaseConnectionTimeout 74% within 30 minutes; TimeoutError 71%" in text
    assert ErrorPrediction.objects.filter(alert_triggered=True).count() == 3


def test_burst_of_100_same_type_predictions_one_call_each_sends_one_email(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    for _ in range(100):
        dispatch(deliver_on_commit, predictions=[make_prediction(actions=False)])

    assert len(smtp_server.envelopes) == 1
    assert AlertNotification.objects.filter(status="sent").count() == 1
    assert reasons() == ["cooldown"] * 99


def test_burst_of_100_different_types_at_once_sends_one_digest(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    predictions = [make_prediction(error_type=f"Error{i:03d}", actions=False) for i in range(100)]

    dispatch(deliver_on_commit, predictions=predictions)

    assert len(smtp_server.envelopes) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "ALERT DIGEST: 100 alerts for django"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Error000" in text and "Error099" in text
    digest = AlertNotification.objects.get()
    assert digest.kind == "digest" and len(digest.prediction_ids) == 100

    # and the digest holds the cooldown for each type it covered
    dispatch(deliver_on_commit, predictions=[make_prediction(error_type="Error042")])
    assert len(smtp_server.envelopes) == 1
    assert reasons() == ["cooldown"]


def test_fewer_alerts_than_the_digest_threshold_go_out_one_by_one(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    predictions = [make_prediction(error_type=f"Error{i}", actions=False) for i in range(4)]

    dispatch(deliver_on_commit, predictions=predictions)

    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == [f"HIGH RISK: Error{i} on django: 82% within 45 minutes" for i in range(4)]


def test_dispatching_the_same_rows_twice_sends_and_records_nothing_new(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction, make_anomaly
):
    ml_config(ALERT_COOLDOWN_MINUTES=0, ANOMALY_ALERT_SUPPRESS_MINUTES=0)
    prediction = make_prediction()
    lonely = make_anomaly(minutes_ago=5)  # suppressed: one bucket only
    dispatch(deliver_on_commit, predictions=[prediction])
    dispatch(deliver_on_commit, service="laravel", anomalies=[lonely])
    rows_before = AlertNotification.objects.count()

    dispatch(deliver_on_commit, predictions=[prediction])
    dispatch(deliver_on_commit, service="laravel", anomalies=[lonely])

    assert len(smtp_server.envelopes) == 1
    assert AlertNotification.objects.count() == rows_before == 2


@pytest.mark.parametrize(
    ("probability", "learning", "expected_reasons", "emails"),
    [
        (0.69, False, [], 0),  # below ALERT_PROBABILITY_THRESHOLD: not an alert at all
        (0.70, False, [], 1),  # at the threshold
        (0.95, True, ["learning"], 0),  # cold-start services never page anyone
    ],
)
def test_threshold_and_learning_state(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_prediction,
    probability,
    learning,
    expected_reasons,
    emails,
):
    prediction = make_prediction(probability=probability)

    dispatch(deliver_on_commit, predictions=[prediction], learning=learning)

    assert len(smtp_server.envelopes) == emails
    assert reasons() == expected_reasons
    prediction.refresh_from_db()
    assert prediction.alert_triggered is bool(emails)


def test_cooldown_expires(smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction):
    dispatch(deliver_on_commit, predictions=[make_prediction()])
    AlertNotification.objects.update(created_at=timezone.now() - timedelta(minutes=121))

    dispatch(deliver_on_commit, predictions=[make_prediction()])

    assert len(smtp_server.envelopes) == 2


def test_cooldown_is_per_service_and_error_type(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    dispatch(deliver_on_commit, predictions=[make_prediction()])

    dispatch(deliver_on_commit, predictions=[make_prediction(error_type="RedisTimeout")])
    dispatch(deliver_on_commit, service="java", predictions=[make_prediction(service="java")])

    assert len(smtp_server.envelopes) == 3


@pytest.mark.parametrize(
    ("new_factors", "suppressed"),
    [
        (FACTORS, True),  # same service, error type and top factors
        (list(reversed(FACTORS[:3])), True),  # same factors, another order of contribution
        ([{"feature": "memory_mb", "value": 990, "contribution": 0.8}], False),
    ],
)
def test_false_positive_feedback_quiets_the_same_alert_for_the_cooldown(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_prediction,
    new_factors,
    suppressed,
):
    # given an earlier alert someone marked as a false positive, whose cooldown has passed
    earlier = make_prediction()
    dispatch(deliver_on_commit, predictions=[earlier])
    AlertNotification.objects.update(created_at=timezone.now() - timedelta(minutes=121))
    PredictionFeedback.objects.create(
        prediction=earlier, verdict="false_positive", created_by="ops"
    )

    # when the same kind of prediction comes again
    dispatch(deliver_on_commit, predictions=[make_prediction(factors=new_factors)])

    # then it is held back only when its factors match
    assert len(smtp_server.envelopes) == (1 if suppressed else 2)
    assert reasons() == (["false_positive_feedback"] if suppressed else [])


def test_anomaly_alert_needs_two_buckets_in_the_window_then_stays_quiet(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # a single critical bucket does not page
    first = make_anomaly(minutes_ago=90)
    dispatch(deliver_on_commit, service="laravel", anomalies=[first])
    assert len(smtp_server.envelopes) == 0

    # a second one 70 minutes later is outside the 60-minute window: still quiet
    second = make_anomaly(minutes_ago=20)
    dispatch(deliver_on_commit, service="laravel", anomalies=[second])
    assert len(smtp_server.envelopes) == 0

    # a third within the window pages
    third = make_anomaly(minutes_ago=15)
    dispatch(deliver_on_commit, service="laravel", anomalies=[third])
    assert len(smtp_server.envelopes) == 1

    # and more critical buckets during the suppress period do not
    fourth = make_anomaly(minutes_ago=10)
    dispatch(deliver_on_commit, service="laravel", anomalies=[fourth])
    assert len(smtp_server.envelopes) == 1
    assert reasons() == ["below_min_buckets", "below_min_buckets", "anomaly_suppressed"]


def test_an_outage_found_and_predicted_by_one_analysis_pages_once(
    smtp_server,
    http_receiver,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_anomaly,
    make_prediction,
):
    # given Slack too, and one analysis that finds a critical burst going on and predicts more
    slack = http_receiver(200)
    ml_config(SLACK_WEBHOOK_URL=slack.url)
    make_anomaly(minutes_ago=10)
    anomaly = make_anomaly(minutes_ago=5)
    incident = make_prediction(
        service="laravel",
        error_type="ErrorBurst",
        predicted_category="incident",
        probability=0.86,
        horizon=30,
    )
    later = make_prediction(service="laravel", error_type="ErrorBurst", probability=0.9, horizon=60)

    dispatch(deliver_on_commit, service="laravel", anomalies=[anomaly], predictions=[incident])

    # then one email and one Slack message: the anomaly alert, with the prediction as outlook
    assert [m["Subject"] for m in smtp_server.messages] == ["CRITICAL ANOMALY: laravel error_count"]
    body = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    text = body.replace("\r\n", "\n")
    assert (
        "Outlook (predicted by the same analysis):\n- ErrorBurst: 86% within 30 minutes (by" in text
    )
    # its dashboard link opens the dashboard at this anomaly's row (the API link needs a JWT)
    assert f"/dashboard/#anomaly-{anomaly.anomaly_id}" in text
    html = smtp_server.messages[0].get_body(preferencelist=("html",)).get_content()
    assert ">Outlook</th><td>ErrorBurst: 86% within 30 minutes (by" in html
    assert len(slack.bodies) == 1 and "*Outlook*" in str(slack.bodies[0])
    assert "outlook: ErrorBurst 86% within 30 minutes" in slack.bodies[0]["text"]
    rows = AlertNotification.objects.filter(status="sent")
    assert {(r.kind, r.channel) for r in rows} == {("anomaly", "email"), ("anomaly", "slack")}
    assert all(r.prediction_ids == [str(incident.prediction_id)] for r in rows)
    incident.refresh_from_db()
    assert incident.alert_triggered

    # and the next analysis' same risk stays quiet while the outage goes on
    dispatch(deliver_on_commit, service="laravel", predictions=[later])
    assert len(smtp_server.envelopes) == 1
    assert reasons() == ["ongoing_incident"]


def _scored(make_anomaly, minutes_ago: int, *, anomalous: bool, severity: str = "critical"):
    """One scored bucket of laravel's error_count (normal buckets are stored too)."""
    return make_anomaly(
        minutes_ago=minutes_ago,
        is_anomaly=anomalous,
        severity=severity if anomalous else "low",
    )


def test_a_prediction_during_a_paged_outage_waits_until_it_has_recovered(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly, make_prediction
):
    # given an outage paged as an anomaly at its start
    _scored(make_anomaly, 40, anomalous=True)
    paged = _scored(make_anomaly, 35, anomalous=True)
    dispatch(deliver_on_commit, service="laravel", anomalies=[paged])
    assert len(smtp_server.envelopes) == 1

    # when a later analysis (the outage still going on) predicts more of it
    _scored(make_anomaly, 30, anomalous=True)
    during = make_prediction(service="laravel", error_type="ErrorBurst", probability=0.8)
    dispatch(deliver_on_commit, service="laravel", predictions=[during])

    # then no second page; once the metric has been normal for three buckets, a risk pages
    assert len(smtp_server.envelopes) == 1
    assert reasons() == ["ongoing_incident"]
    for minutes in (25, 20, 15):
        _scored(make_anomaly, minutes, anomalous=False)
    after = make_prediction(service="laravel", error_type="ErrorBurst", probability=0.8, horizon=30)
    dispatch(deliver_on_commit, service="laravel", predictions=[after])
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert subjects[1:] == [
        "HIGH RISK: ErrorBurst on laravel: 80% within 30 minutes",
        "RESOLVED: laravel error_count back to normal",  # the outage's all-clear
    ]


def test_a_new_outage_after_recovery_pages_although_within_the_quiet_period(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # given an outage paged at 60-55 min ago, then a quarter of an hour of normal buckets
    _scored(make_anomaly, 60, anomalous=True)
    dispatch(
        deliver_on_commit, service="laravel", anomalies=[_scored(make_anomaly, 55, anomalous=True)]
    )
    for minutes in (50, 45, 40):
        _scored(make_anomaly, minutes, anomalous=False)

    # when a new burst starts 35 minutes ago (well inside the 120-minute quiet period)
    _scored(make_anomaly, 35, anomalous=True)
    new = _scored(make_anomaly, 30, anomalous=True)
    dispatch(deliver_on_commit, service="laravel", anomalies=[new])

    # then it pages as a new incident
    assert len(smtp_server.envelopes) == 2


def test_a_new_incident_counts_only_its_own_buckets(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    """Found on call: a second incident's "5 anomalous buckets in 60 min" counted 4 of the
    first one, over and resolved; one bucket of a new incident paged on the strength of them."""
    # given an incident 55-40 min ago, then a quarter of an hour of normal buckets
    for minutes in (55, 50, 45, 40):
        _scored(make_anomaly, minutes, anomalous=True)
    for minutes in (35, 30, 25, 20, 15, 10):
        _scored(make_anomaly, minutes, anomalous=False)

    # when one bucket of a new incident is flagged
    dispatch(
        deliver_on_commit, service="laravel", anomalies=[_scored(make_anomaly, 5, anomalous=True)]
    )

    # then it is one bucket, not five: below ANOMALY_ALERT_MIN_BUCKETS
    assert len(smtp_server.envelopes) == 0
    assert reasons() == ["below_min_buckets"]
    assert "1 anomalous bucket(s) in the last 60 min" in AlertNotification.objects.get().reason


def test_a_short_dip_inside_an_outage_does_not_make_it_a_new_incident(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    _scored(make_anomaly, 60, anomalous=True)
    dispatch(
        deliver_on_commit, service="laravel", anomalies=[_scored(make_anomaly, 55, anomalous=True)]
    )
    for minutes in (50, 45):  # two normal buckets: fewer than ANOMALY_RECOVERY_BUCKETS
        _scored(make_anomaly, minutes, anomalous=False)
    _scored(make_anomaly, 40, anomalous=True)
    dispatch(
        deliver_on_commit, service="laravel", anomalies=[_scored(make_anomaly, 35, anomalous=True)]
    )

    assert len(smtp_server.envelopes) == 1
    assert reasons() == ["anomaly_suppressed"]


def test_a_risk_that_cleared_and_returns_pages_again_within_the_cooldown(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_prediction
):
    from ml_prediction.models import AnalysisRun

    first = make_prediction(service="java", error_type="ErrorBurst", probability=0.8)
    dispatch(deliver_on_commit, service="java", predictions=[first])
    assert len(smtp_server.envelopes) == 1

    # a later predicting analysis found no such risk (it stored nothing at the alert level)
    quiet_bucket = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=5)
    AnalysisRun.objects.create(
        service="java",
        analysis_type="full",
        as_of=quiet_bucket + timedelta(minutes=5),
        status="completed",
        predicted=True,
    )
    again = make_prediction(service="java", error_type="ErrorBurst", probability=0.8, horizon=30)
    dispatch(deliver_on_commit, service="java", predictions=[again])

    assert len(smtp_server.envelopes) == 2


def test_anomaly_alert_fires_again_when_it_grows_in_severity(
    smtp_server, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    # given high anomalies page (ALERT_SEVERITY_CRITICAL off) and one high alert was sent
    ml_config(ALERT_SEVERITY_CRITICAL=False)
    make_anomaly(minutes_ago=20, severity="high")
    high = make_anomaly(minutes_ago=15, severity="high")
    dispatch(deliver_on_commit, service="laravel", anomalies=[high])
    assert [m["Subject"] for m in smtp_server.messages] == ["HIGH ANOMALY: laravel error_count"]

    # when another high bucket, then a critical one arrive within the suppress period
    dispatch(
        deliver_on_commit,
        service="laravel",
        anomalies=[make_anomaly(minutes_ago=10, severity="high")],
    )
    dispatch(deliver_on_commit, service="laravel", anomalies=[make_anomaly(minutes_ago=5)])

    # then only the escalation pages again
    assert [m["Subject"] for m in smtp_server.messages] == [
        "HIGH ANOMALY: laravel error_count",
        "CRITICAL ANOMALY: laravel error_count",
    ]


@pytest.mark.parametrize(
    ("severity", "critical_setting", "state", "is_anomaly", "emails"),
    [
        ("high", True, "active", True, 0),  # only critical anomalies page by default
        ("critical", True, "learning", True, 0),  # detector still learning
        ("critical", True, "active", False, 0),  # scored but normal
        ("critical", True, "active", True, 1),
    ],
)
def test_which_anomalies_page(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_anomaly,
    severity,
    critical_setting,
    state,
    is_anomaly,
    emails,
):
    ml_config(ALERT_SEVERITY_CRITICAL=critical_setting)
    make_anomaly(minutes_ago=10, severity=severity, state=state, is_anomaly=is_anomaly)
    anomaly = make_anomaly(minutes_ago=5, severity=severity, state=state, is_anomaly=is_anomaly)

    dispatch(deliver_on_commit, service="laravel", anomalies=[anomaly])

    assert len(smtp_server.envelopes) == emails


def test_dispatch_never_raises_into_the_orchestrator(ml_config, eager_celery, caplog):
    alerts_dispatch(service="django", prediction_ids=["not-a-uuid"], anomaly_ids=[], learning=False)

    assert "alert dispatch failed" in caplog.text


def test_a_paged_incident_gets_one_all_clear_once_it_has_recovered(
    smtp_server, http_receiver, ml_config, eager_celery, deliver_on_commit, make_anomaly
):
    slack = http_receiver(200)
    ml_config(SLACK_WEBHOOK_URL=slack.url)
    _scored(make_anomaly, 40, anomalous=True)
    paged = _scored(make_anomaly, 35, anomalous=True)
    dispatch(deliver_on_commit, service="laravel", anomalies=[paged])
    assert len(smtp_server.envelopes) == 1
    anomaly_acknowledge(anomaly_id=paged.anomaly_id, actor="dana")

    # two normal buckets: not over yet (the next analyses dispatch nothing new)
    for minutes in (30, 25):
        _scored(make_anomaly, minutes, anomalous=False)
    dispatch(deliver_on_commit, service="laravel")
    assert len(smtp_server.envelopes) == 1

    # the third: one all-clear, by email and Slack, and only one
    _scored(make_anomaly, 20, anomalous=False)
    dispatch(deliver_on_commit, service="laravel")
    dispatch(deliver_on_commit, service="laravel")

    assert [m["Subject"] for m in smtp_server.messages] == [
        "CRITICAL ANOMALY: laravel error_count",
        "RESOLVED: laravel error_count back to normal",
    ]
    text = smtp_server.messages[1].get_body(preferencelist=("plain",)).get_content()
    assert "laravel error_count back to normal:" in text
    # the peak with its unit, and who acknowledged it, by email and Slack (on-call pass)
    assert "(10 minutes), peak 240 errors per 5 min; acknowledged by dana" in text
    assert "acknowledged by dana" in slack.bodies[1]["text"]
    # the episode began a bucket before the paged one: its whole span is reported
    assert "The last 3 scored buckets were normal." in text
    assert len(slack.bodies) == 2 and "back to normal" in slack.bodies[1]["text"]
    rows = AlertNotification.objects.filter(kind="resolved")
    assert {(r.channel, r.status) for r in rows} == {("email", "sent"), ("slack", "sent")}


@pytest.mark.parametrize(
    "cause, django_paged, react_pages",
    [
        ("upstream_failure", True, False),  # one incident pages once
        ("upstream_failure", False, True),  # nobody was woken for django's yet
        ("bad_release", True, True),  # react's own incident
    ],
)
def test_a_front_ends_incident_that_follows_a_paged_back_end_incident_pages_no_one_again(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_anomaly,
    cause,
    django_paged,
    react_pages,
):
    # given django's incident, paged (or not yet analysed for alerts)
    if django_paged:
        django = [make_anomaly(minutes_ago=m, service="django") for m in (15, 10)]
        dispatch(deliver_on_commit, service="django", anomalies=django)
        assert len(smtp_server.envelopes) == 1

    # when react's episode, explained as following django's incident (or not), reaches two
    # buckets
    react = [make_anomaly(minutes_ago=m, service="react") for m in (10, 5)]
    for row in react:
        row.contributing_features = {"root_cause_key": cause, "root_cause_dependency": "django"}
        row.save(update_fields=["contributing_features"])
    dispatch(deliver_on_commit, service="react", anomalies=react)

    # then it pages only when it is not part of an incident someone was paged for
    sent = AlertNotification.objects.filter(service="react", status="sent")
    assert sent.exists() == react_pages
    if not react_pages:
        assert reasons() == ["upstream_incident"]
        row = AlertNotification.objects.get(service="react")
        assert "part of django's incident, paged at" in row.reason


@pytest.mark.parametrize(
    "observed, kind, cause, pages",
    [
        (6.0, "drop", "unknown", False),  # fewer errors than usual: good news wakes no one
        (6.0, "trend_change", "unknown", False),  # ... nor when it lasts
        (0.0, "drop", "service_silent", True),  # nothing where plenty came: down, or cut off
        (0.0, "drop", "unknown", True),  # ... explained before it was a silence
        (240.0, "spike", "unknown", True),  # more errors than usual, as ever
        (28.0, "pattern_deviation", "unknown", True),  # the usual count, every error critical
    ],
)
def test_fewer_errors_than_usual_page_only_when_the_service_went_silent(
    smtp_server,
    ml_config,
    eager_celery,
    deliver_on_commit,
    make_anomaly,
    observed,
    kind,
    cause,
    pages,
):
    # given a critical episode of two buckets against an expected 31 errors a bucket
    rows = [make_anomaly(minutes_ago=m, service="react") for m in (10, 5)]
    for row in rows:
        row.observed_value = observed
        row.anomaly_type = kind
        row.contributing_features = {"root_cause_key": cause}
        row.save(update_fields=["observed_value", "anomaly_type", "contributing_features"])
    # when
    dispatch(deliver_on_commit, service="react", anomalies=rows)
    # then
    assert AlertNotification.objects.filter(service="react", status="sent").exists() == pages
    if observed == 0:
        subject = f"CRITICAL ANOMALY: react sent no errors since {rows[0].window_start:%H:%M} UTC"
        assert [m["Subject"] for m in smtp_server.messages] == [subject]
    if not pages:
        assert reasons() == ["below_normal"]
        row = AlertNotification.objects.get(service="react")
        assert "fewer errors than usual (6 against 31 expected at" in row.reason
        assert len(smtp_server.envelopes) == 0
