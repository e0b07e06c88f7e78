"""/api/ml/ input hardening: unknown body fields, occurrence times and error ids, contradictory
feedback, closed filter sets, list actions honouring the list's filters, readable choice errors,
the webhook's input and audit, anomaly order, forecast timestamps, health on a quiet system."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ml_prediction.models import (
    AuditEvent,
    ModelPerformanceTracking,
    PredictionFeedback,
    PreventiveAction,
)
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

ROOT = Path(__file__).resolve().parents[3]


def _error(response) -> dict:
    return response.json()["error"]


# --- 1. unknown fields in a request body -----------------------------------------------------
def test_execute_with_a_misspelt_field_is_400_and_executes_nothing(ops_client, make_action):
    action = make_action()

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/",
        {"reslt": {"success": True}},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["message"] == "reslt: unknown field; accepted fields: result."
    assert _error(response)["details"] == {"reslt": ["unknown field; accepted fields: result."]}
    action.refresh_from_db()
    assert action.status == PreventiveAction.Status.RECOMMENDED
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("predictions/{prediction}/mark_occurred/", {"timestmp": "2026-01-01T00:00:00Z"}),
        ("predictions/{prediction}/feedback/", {"verdict": "true_positive", "coment": "x"}),
        ("actions/{action}/execute/", {"result": {}, "dry_run": True}),
        ("trigger-analysis/", {"service": "django", "analysis": "quick"}),
        ("trigger-all-services-analysis/", {"analysis_typ": "quick"}),
        ("webhooks/predict-for-error/", {"service": "django", "analysis": "quick"}),
    ],
)
def test_every_input_refuses_unknown_fields(
    ops_client, broker, make_prediction, make_action, path, body
):
    url = "/api/ml/" + path.format(
        prediction=make_prediction().prediction_id, action=make_action().action_id
    )
    unknown = (set(body) - {"service", "verdict", "result"}).pop()

    response = ops_client.post(url, body, format="json")

    assert response.status_code == 400
    assert _error(response)["message"].startswith(f"{unknown}: unknown field")
    assert not AuditEvent.objects.exists()
    assert not PredictionFeedback.objects.exists()
    assert broker.dbsize() == 0


@pytest.mark.parametrize(
    "path",
    [
        "actions/{action}/execute/",
        "predictions/{prediction}/feedback/",
        "trigger-analysis/",
        "webhooks/predict-for-error/",
    ],
)
def test_a_body_that_is_not_an_object_is_400_saying_so(
    ops_client, broker, make_prediction, make_action, path
):
    url = "/api/ml/" + path.format(
        prediction=make_prediction().prediction_id, action=make_action().action_id
    )

    response = ops_client.post(url, [{"service": "django"}], format="json")

    assert response.status_code == 400
    assert _error(response)["message"] == "body must be a JSON object, got list."
    assert not AuditEvent.objects.exists()


# --- 2. mark_occurred: the occurrence must be in the prediction's horizon, the error stored ---
def _mark(client, prediction, *, error_id, timestamp):
    return client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/",
        {"error_id": str(error_id), "timestamp": timestamp.isoformat()},
        format="json",
    )


HORIZON = timedelta(minutes=45)  # make_prediction's time_horizon_minutes


@pytest.mark.parametrize(
    ("due", "anchor", "offset", "words"),
    [
        # the 2024-for-2026 case: long before the prediction was made
        (HORIZON, "start", timedelta(days=-700), "before the prediction's horizon"),
        # 6 minutes before its horizon began (more than the clock skew allowed)
        (HORIZON, "start", timedelta(minutes=-6), "before the prediction's horizon"),
        # 6 minutes after its horizon ended: the prediction did not cover it
        (timedelta(minutes=-30), "end", timedelta(minutes=6), "after the prediction's horizon"),
    ],
)
def test_mark_occurred_outside_the_horizon_is_400_and_stores_nothing(
    ops_client, make_prediction, make_error, due, anchor, offset, words
):
    # given a prediction whose 45-minute horizon ends at now + due
    end = timezone.now() + due
    prediction = make_prediction(predicted_timestamp=end, created_at=end - HORIZON)
    when = (end - HORIZON if anchor == "start" else end) + offset
    error = make_error(occurred_at=when)

    response = _mark(ops_client, prediction, error_id=error.error_id, timestamp=when)

    assert response.status_code == 400
    assert _error(response)["message"].startswith("timestamp: ")
    assert words in _error(response)["message"]
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is None
    assert not AuditEvent.objects.exists()


def test_mark_occurred_allows_a_small_clock_skew_before_the_horizon(
    ops_client, make_prediction, make_error
):
    now = timezone.now()
    prediction = make_prediction(predicted_timestamp=now + timedelta(minutes=45))
    when = now - timedelta(minutes=3)  # 3 min before the horizon began: within CLOCK_SKEW
    error = make_error(occurred_at=when)

    response = _mark(ops_client, prediction, error_id=error.error_id, timestamp=when)

    assert response.status_code == 200
    assert response.json()["actual_occurred_at"].endswith("Z")


def test_mark_occurred_with_an_error_id_that_names_no_stored_error_is_400(
    ops_client, make_prediction
):
    prediction = make_prediction()

    response = _mark(ops_client, prediction, error_id=uuid.uuid4(), timestamp=timezone.now())

    assert response.status_code == 400
    assert _error(response)["message"].startswith("error_id: no stored error with id")
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is None


def test_mark_occurred_with_another_services_error_is_400(ops_client, make_prediction, make_error):
    prediction = make_prediction(service="django")
    error = make_error(service="java")

    response = _mark(ops_client, prediction, error_id=error.error_id, timestamp=timezone.now())

    assert response.status_code == 400
    assert "belongs to java" in _error(response)["message"]


# --- 3. health: a quiet, freshly analysed system is healthy -----------------------------------
@pytest.fixture
def quiet_analysed_system(make_model, make_anomaly, make_run):
    """An active model and an analysis a minute ago that scored buckets and stored no
    prediction (every probability under PREDICTION_THRESHOLD); one old anomaly re-scored."""
    now = timezone.now()
    make_model()
    make_run(service="django", completed_at=now - timedelta(minutes=1))
    for minutes in (5, 10, 15):
        make_anomaly(
            service="django",
            is_anomaly=False,
            severity_level="low",
            anomaly_score=0.1,
            detected_at=now - timedelta(minutes=1),
            window_start=now - timedelta(minutes=minutes),
        )
    make_anomaly(
        service="django",
        detected_at=now - timedelta(minutes=1),
        window_start=now - timedelta(hours=5),
        acknowledged=True,
    )


def test_health_of_a_quiet_freshly_analysed_system_is_healthy(
    readonly_client, quiet_analysed_system, monkeypatch
):
    from ml_prediction import health_check

    monkeypatch.setattr(health_check, "_workers", lambda: 1)

    body = readonly_client.get("/api/ml/health/").json()

    assert body["status"] == "healthy"
    assert body["health_score"] == 100
    assert body["recent_predictions_1h"] == 0
    assert body["services_analysed_1h"] == 1
    # 4 buckets were re-scored in the last hour; none is an anomaly in the last hour
    assert body["recent_anomalies_1h"] == 0
    assert body["timestamp"].endswith("Z")


def test_health_counts_recent_anomalies_not_rescored_buckets(
    readonly_client, quiet_analysed_system, make_anomaly, make_run, monkeypatch
):
    from ml_prediction import health_check

    monkeypatch.setattr(health_check, "_workers", lambda: 1)
    make_anomaly(service="java", window_start=timezone.now() - timedelta(minutes=20))
    make_run(service="java")

    body = readonly_client.get("/api/ml/health/").json()

    assert body["recent_anomalies_1h"] == 1
    assert body["services_analysed_1h"] == 2


def test_health_names_the_services_whose_latest_analysis_failed(
    readonly_client, quiet_analysed_system, make_run, monkeypatch
):
    from ml_prediction import health_check

    monkeypatch.setattr(health_check, "_workers", lambda: 1)
    now = timezone.now()
    make_run(service="java", status="failed", completed_at=now - timedelta(minutes=2))
    # vue failed once, then recovered
    make_run(service="vue", status="failed", completed_at=now - timedelta(minutes=10))
    make_run(service="vue", completed_at=now - timedelta(minutes=5))
    # react's latest run completed without its forecasts
    make_run(service="react", completed_at=now - timedelta(minutes=3))
    make_run(service="react", summary={"failed_stages": ["forecasts"]})

    body = readonly_client.get("/api/ml/health/").json()

    assert body["services_failing"] == ["java", "react (forecasts)"]
    assert body["services_analysed_1h"] == 3  # django, vue and react completed one
    assert body["health_score"] == 90
    assert body["health_deductions"] == [
        {
            "points": 10,
            "reason": "the latest analysis of java, react (forecasts) failed: see "
            "/api/ml/analysis-runs/",
        }
    ]


def test_stored_rows_without_a_recorded_run_are_not_an_analysis(
    readonly_client, make_model, make_anomaly, make_prediction, monkeypatch
):
    """A restore or an import writes rows stamped now; only a recorded run shows that the
    analyses run."""
    from ml_prediction import health_check

    monkeypatch.setattr(health_check, "_workers", lambda: 1)
    make_model()
    make_anomaly()
    make_prediction()

    body = readonly_client.get("/api/ml/health/").json()

    assert body["services_analysed_1h"] == 0
    assert body["health_score"] == 75


def test_health_without_any_analysis_in_the_last_hour_loses_25(
    readonly_client, make_model, make_anomaly, monkeypatch
):
    from ml_prediction import health_check

    monkeypatch.setattr(health_check, "_workers", lambda: 1)
    make_model()
    make_anomaly(detected_at=timezone.now() - timedelta(hours=3), acknowledged=True)

    body = readonly_client.get("/api/ml/health/").json()

    assert body["health_score"] == 75
    assert body["health_deductions"] == [
        {"points": 25, "reason": "no analysis ran in the last hour: is beat running?"}
    ]
    assert body["services_analysed_1h"] == 0


def test_dashboard_health_of_a_quiet_freshly_analysed_system_is_100(
    readonly_client, quiet_analysed_system
):
    body = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert body["health_score"] == 100
    assert body["anomalies"] == {"total": 1, "critical": 1, "unacknowledged": 0}


# --- 4. the predict-for-error webhook: validated input, audited -------------------------------
def test_webhook_is_audited_like_trigger_analysis(ops_client, broker, monkeypatch):
    from ml_prediction import webhooks

    monkeypatch.setattr(webhooks, "WAIT_SECONDS", 0.01)  # no worker here: answer "queued"
    error_id = str(uuid.uuid4())

    response = ops_client.post(
        "/api/ml/webhooks/predict-for-error/",
        {"error_id": error_id, "error_type": "Timeout", "service": "java", "severity": "high"},
        format="json",
    )

    assert response.status_code == 202
    assert response.json()["error_id"] == error_id
    event = AuditEvent.objects.get(action="analysis.predict_for_error")
    assert (event.actor, event.object_type, event.object_id, event.service) == (
        "ops",
        "service",
        "java",
        "java",
    )
    assert event.details["error_id"] == error_id
    assert event.details["task_id"] == response.json()["task_id"]
    assert event.details["analysis_type"] == "full"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service": "django", "error_id": "not-a-uuid"}, "error_id"),
        ({"service": ["django"]}, "service"),
        ({"service": "django", "analysis_type": "slow"}, "analysis_type"),
    ],
)
def test_webhook_bad_input_is_400_with_list_details(ops_client, broker, body, field):
    response = ops_client.post("/api/ml/webhooks/predict-for-error/", body, format="json")

    assert response.status_code == 400
    error = _error(response)
    assert error["message"].startswith(f"{field}: ")
    assert all(isinstance(value, list) for value in error["details"].values())
    assert broker.dbsize() == 0
    assert not AuditEvent.objects.exists()


# --- 5. anomaly lists: newest window first, whatever detected_at says -------------------------
@pytest.mark.parametrize("path", ["", "unacknowledged/", "critical/"])
def test_anomaly_lists_are_newest_window_first(readonly_client, make_anomaly, path):
    # given one re-analysis that stamped every bucket with the same detected_at
    now = timezone.now()
    stamped = now - timedelta(minutes=1)
    windows = [now - timedelta(minutes=m) for m in (40, 5, 25, 10, 35)]
    for start in windows:
        make_anomaly(window_start=start, detected_at=stamped)

    rows = readonly_client.get(f"/api/ml/anomalies/{path}").json()["results"]

    starts = [row["window_start"] for row in rows]
    assert starts == sorted(starts, reverse=True)
    assert len(starts) == len(windows)


def test_predictions_of_one_analysis_come_most_likely_first(readonly_client, make_prediction):
    now = timezone.now()
    made = [make_prediction(probability=p, created_at=now) for p in (0.65, 0.91, 0.77)]

    rows = readonly_client.get("/api/ml/predictions/").json()["results"]

    assert [r["probability"] for r in rows] == [0.91, 0.77, 0.65]
    assert len(made) == 3


# --- 6. closed filter sets and list actions honouring the list's filters ----------------------
@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/ml/insights/?insight_type=bogus", "insight_type"),
        ("/api/ml/insights/active/?insight_type=bogus", "insight_type"),
        ("/api/ml/actions/?action_type=nonexistent", "action_type"),
        ("/api/ml/actions/pending/?action_type=nonexistent", "action_type"),
        ("/api/ml/actions/by_priority/?service=cobol", "service"),
        ("/api/ml/audit/?action=nonexistent", "action"),
        ("/api/ml/anomalies/critical/?severity_level=apocalyptic", "severity_level"),
        ("/api/ml/anomalies/unacknowledged/?is_anomaly=maybe", "is_anomaly"),
        ("/api/ml/predictions/high_risk/?predicted_severity=dire", "predicted_severity"),
    ],
)
def test_unknown_values_of_closed_filters_are_400(ops_client, url, parameter):
    response = ops_client.get(url)

    assert response.status_code == 400
    assert _error(response)["message"].startswith(f"{parameter}:")


@pytest.mark.parametrize(
    "url",
    [
        "/api/ml/predictions/?service=java&service=vue",
        "/api/ml/anomalies/?service=java&severity_level=high&service=vue",
        "/api/ml/forecasts/?metric_name=error_count&metric_name=response_time_p95",
    ],
)
def test_a_filter_given_twice_is_400_not_one_of_them(readonly_client, make_prediction, url):
    make_prediction(service="java")

    response = readonly_client.get(url)

    assert response.status_code == 400
    message = _error(response)["message"]
    assert "given 2 times" in message and message.split(":")[0] in url


def test_every_recorded_audit_action_is_a_filter_choice():
    from ml_prediction.services.audit import AUDIT_ACTIONS

    recorded = set()
    for path in (ROOT / "ml_prediction").rglob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"audit_record\((.*?)\n\s*\)", text, flags=re.S):
            recorded.update(re.findall(r'action="([^"]+)"', call.group(1)))

    assert recorded, "no audit_record call found"
    assert recorded <= set(AUDIT_ACTIONS)


def test_the_insight_type_filter_knows_every_type_the_insights_service_stores():
    from ml_prediction.api.filters import INSIGHT_TYPES

    text = (ROOT / "ml_prediction" / "services" / "insights.py").read_text()
    produced = set(re.findall(r'insight_type="([a-z_]+)"', text))

    assert produced
    assert produced <= set(INSIGHT_TYPES)


def test_audit_action_filter_accepts_a_recorded_action(ops_client):
    from ml_prediction.services.audit import audit_record

    event = audit_record(actor="ops", action="analysis.predict_for_error", object_type="service")

    response = ops_client.get("/api/ml/audit/?action=analysis.predict_for_error")

    assert response.status_code == 200
    assert ids(response, "audit_id") == {str(event.audit_id)}


def test_by_priority_honours_the_lists_filters(readonly_client, make_action):
    django = make_action(priority="critical")
    make_action(service="java", priority="critical")
    make_action(service="java", priority="low", action_type="restart")

    body = readonly_client.get("/api/ml/actions/by_priority/?service=django").json()
    restarts = readonly_client.get("/api/ml/actions/by_priority/?action_type=restart").json()

    counts = {g["priority"]: g["count"] for g in body["priorities"]}
    assert counts == {"critical": 1, "high": 0, "medium": 0, "low": 0}
    assert body["priorities"][0]["results"][0]["action_id"] == str(django.action_id)
    assert {g["priority"]: g["count"] for g in restarts["priorities"]}["low"] == 1
    assert sum(g["count"] for g in restarts["priorities"]) == 1


def test_critical_and_unacknowledged_honour_the_lists_filters(readonly_client, make_anomaly):
    spike = make_anomaly(anomaly_type="spike")
    make_anomaly(anomaly_type="drop")
    make_anomaly(severity_level="low", anomaly_type="spike")

    critical_low = readonly_client.get("/api/ml/anomalies/critical/?severity_level=low")
    critical_spikes = readonly_client.get("/api/ml/anomalies/critical/?anomaly_type=spike")
    unacked_low = readonly_client.get("/api/ml/anomalies/unacknowledged/?severity_level=low")

    assert critical_low.status_code == 200
    assert ids(critical_low, "anomaly_id") == set()
    assert ids(critical_spikes, "anomaly_id") == {str(spike.anomaly_id)}
    assert len(ids(unacked_low, "anomaly_id")) == 1


def test_high_risk_honours_the_lists_filters(readonly_client, make_prediction):
    now = timezone.now()
    # django's latest analysis (one bucket, two types) and java's, made 3 hours ago
    high = make_prediction(probability=0.9, predicted_severity="high")
    make_prediction(
        probability=0.9,
        predicted_severity="critical",
        prediction_bucket=high.prediction_bucket,
        predicted_error_type="Other",
    )
    make_prediction(
        probability=0.9,
        predicted_severity="high",
        service="java",
        created_at=now - timedelta(hours=3),
    )

    severe = readonly_client.get("/api/ml/predictions/high_risk/?predicted_severity=high")
    recent = readonly_client.get("/api/ml/predictions/high_risk/?predicted_severity=high&hours=1")

    assert len(ids(severe, "prediction_id")) == 2
    assert ids(recent, "prediction_id") == {str(high.prediction_id)}


# --- 7. choice errors name the accepted values, not a Python repr -----------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service": ["django"]}, "service"),
        ({"service": {"name": "django"}}, "service"),
        ({"service": "django", "analysis_type": ["quick"]}, "analysis_type"),
    ],
)
def test_trigger_analysis_choice_errors_are_readable(ops_client, broker, body, field):
    response = ops_client.post("/api/ml/trigger-analysis/", body, format="json")

    assert response.status_code == 400
    message = _error(response)["message"]
    assert message.startswith(f"{field}: must be one of: ")
    assert "[" not in message and "{" not in message
    assert broker.dbsize() == 0


def test_feedback_verdict_error_names_the_verdicts(ops_client, make_prediction):
    prediction = make_prediction()

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/feedback/",
        {"verdict": ["true_positive"]},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["message"] == "verdict: must be one of: true_positive, false_positive."


# --- 8. one verdict per person and prediction -------------------------------------------------
def test_a_second_verdict_from_the_same_user_replaces_the_first(
    ops_client, make_model, make_prediction
):
    model = make_model(model_type="error_classifier")
    prediction = make_prediction(model=model, probability=0.9)
    url = f"/api/ml/predictions/{prediction.prediction_id}/feedback/"

    first = ops_client.post(url, {"verdict": "false_positive"}, format="json")
    second = ops_client.post(url, {"verdict": "true_positive", "comment": "it did"}, format="json")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["feedback_id"] == first.json()["feedback_id"]
    stored = PredictionFeedback.objects.get(prediction_id=prediction.prediction_id)
    assert (stored.verdict, stored.comment) == ("true_positive", "it did")
    # the daily tracking sees one true positive, not also a false positive
    performance = ModelPerformanceTracking.objects.get(model=model)
    assert performance.false_positives == 0
    assert performance.predictions_correct == 1
    events = AuditEvent.objects.filter(action="prediction.feedback").order_by("created_at")
    assert [e.details.get("replaced_verdict") for e in events] == [None, "false_positive"]


def test_verdicts_of_different_users_are_kept(ops_client, readonly_user, make_prediction):
    from django.contrib.auth.models import Group

    from tests.conftest import _client_for

    readonly_user.groups.add(Group.objects.get(name="ops"))
    other = _client_for(readonly_user)
    prediction = make_prediction()
    url = f"/api/ml/predictions/{prediction.prediction_id}/feedback/"

    ops_client.post(url, {"verdict": "true_positive"}, format="json")
    response = other.post(url, {"verdict": "false_positive"}, format="json")

    assert response.status_code == 201
    assert PredictionFeedback.objects.filter(prediction_id=prediction.prediction_id).count() == 2


# --- 9. forecast point timestamps in the API's Z form -----------------------------------------
def test_forecast_point_timestamps_end_with_z(readonly_client, make_forecast):
    at = timezone.now().replace(microsecond=0)
    forecast = make_forecast(
        forecast_values=[
            {"timestamp": at.isoformat(), "value": 1.0, "lower": 0.5, "upper": 1.5},
            {"timestamp": (at + timedelta(hours=1)).isoformat(), "value": 2.0},
        ]
    )

    listed = readonly_client.get("/api/ml/forecasts/").json()["results"][0]
    detail = readonly_client.get(f"/api/ml/forecasts/{forecast.forecast_id}/").json()
    by_service = readonly_client.get("/api/ml/forecasts/by-service/django/").json()["results"][0]

    for row in (listed, detail, by_service):
        stamps = [point["timestamp"] for point in row["forecast_values"]]
        assert stamps == [
            at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ]
    assert listed["forecast_values"][0]["value"] == 1.0
