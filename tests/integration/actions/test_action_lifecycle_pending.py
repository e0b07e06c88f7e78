"""Pending preventive actions stay few and current (D7): no comeback of what was just done, one
row per (service, action type), expiry once the incident is over, and a Skip (API + dashboard).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.engines.types import ActionRecommendation
from ml_prediction.models import AnomalyDetection, AuditEvent, ErrorPrediction, PreventiveAction
from ml_prediction.services.actions import actions_expire
from ml_prediction.services.orchestrator import _PlannedAction, _store_actions
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

TITLES = {
    "scale_up": "Scale up java",
    "increase_timeout": "Increase the upstream timeout of java",
    "restart": "Rolling restart of java",
}


def plan(action_type: str, *, cause: str = "traffic_spike", priority: str = "high", **links):
    recommendation = ActionRecommendation(
        action_type=action_type,
        title=TITLES[action_type],
        description="",
        priority=priority,
        can_be_automated=True,
        cause_key=cause,
    )
    return _PlannedAction(
        recommendation, cause, links.get("prediction_id"), links.get("anomaly_id")
    )


def make_action(action_type: str, **values) -> PreventiveAction:
    defaults = {
        "service": "java",
        "action_type": action_type,
        "title": TITLES[action_type],
        "root_cause": "traffic_spike",
        "priority": "high",
        "can_be_automated": True,
    }
    return PreventiveAction.objects.create(**{**defaults, **values})


def anomaly(*, ended_minutes_ago: int, service: str = "java", metric: str = "error_count"):
    end = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=ended_minutes_ago)
    return AnomalyDetection.objects.create(
        service=service,
        metric_name=metric,
        window_start=end - timedelta(minutes=5),
        window_end=end,
        anomaly_score=0.9,
        is_anomaly=True,
        severity_level="high",
    )


def prediction(*, due_minutes_from_now: int) -> ErrorPrediction:
    now = timezone.now()
    return ErrorPrediction.objects.create(
        service="java",
        predicted_error_type="UpstreamTimeoutError",
        probability=0.9,
        time_horizon_minutes=30,
        prediction_bucket=now + timedelta(minutes=due_minutes_from_now - 30),
        predicted_timestamp=now + timedelta(minutes=due_minutes_from_now),
    )


def pending(service: str = "java") -> list[PreventiveAction]:
    return list(
        PreventiveAction.objects.filter(
            service=service, status__in=["recommended", "scheduled"]
        ).order_by("action_type")
    )


# --- no comeback ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["executed", "skipped"])
def test_an_action_done_within_the_incident_is_not_recommended_again(status):
    # given java's scale_up and increase_timeout done by a person 4 minutes ago
    done_at = timezone.now() - timedelta(minutes=4)
    for action_type in ("scale_up", "increase_timeout"):
        make_action(action_type, status=status, executed_by="ops", executed_at=done_at)
    current = anomaly(ended_minutes_ago=0)

    # when the next analysis plans them again, and a restart
    created = _store_actions(
        "java",
        [plan(t, anomaly_id=current.pk) for t in ("scale_up", "increase_timeout", "restart")],
    )

    # then only the restart is new
    assert [a.action_type for a in pending()] == ["restart"]
    assert len(created) == 1


def test_an_action_done_before_the_window_may_be_recommended_again(settings):
    minutes = settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"]
    make_action(
        "scale_up",
        status="executed",
        executed_by="ops",
        executed_at=timezone.now() - timedelta(minutes=minutes + 5),
    )
    current = anomaly(ended_minutes_ago=0)

    _store_actions("java", [plan("scale_up", anomaly_id=current.pk)])

    assert [a.action_type for a in pending()] == ["scale_up"]


def test_an_expired_action_does_not_block_a_new_incident():
    make_action(
        "scale_up",
        status="skipped",
        executed_by="ml_prediction",
        executed_at=timezone.now() - timedelta(minutes=1),
        execution_result={"mode": "expired", "reason": "the incident is over"},
    )
    current = anomaly(ended_minutes_ago=0)

    _store_actions("java", [plan("scale_up", anomaly_id=current.pk)])

    assert [a.action_type for a in pending()] == ["scale_up"]


# --- one pending row per (service, action type) -------------------------------------------------
def test_a_second_cause_extends_the_pending_row_instead_of_adding_a_twin():
    # given a pending "Scale up java" for a traffic spike, linked to an anomaly
    first = anomaly(ended_minutes_ago=10)
    row = make_action("scale_up", priority="medium", anomaly=first)
    newer = anomaly(ended_minutes_ago=0, metric="response_time_p95")
    risk = prediction(due_minutes_from_now=30)

    # when a later run recommends it for another cause, at a higher priority
    created = _store_actions(
        "java",
        [
            plan(
                "scale_up",
                cause="db_pool_exhaustion",
                priority="critical",
                anomaly_id=newer.pk,
                prediction_id=risk.pk,
            )
        ],
    )

    # then it is still one row, carrying both causes and the newest evidence
    assert created == []
    [only] = pending()
    assert only.pk == row.pk
    assert only.root_cause == "traffic_spike, db_pool_exhaustion"
    assert only.priority == "critical"
    assert (only.anomaly_id, only.prediction_id) == (newer.pk, risk.pk)


def test_two_causes_in_one_run_make_one_row():
    current = anomaly(ended_minutes_ago=0)
    risk = prediction(due_minutes_from_now=30)

    created = _store_actions(
        "java",
        [
            plan("scale_up", cause="traffic_spike", priority="medium", anomaly_id=current.pk),
            plan("scale_up", cause="db_pool_exhaustion", priority="high", prediction_id=risk.pk),
        ],
    )

    assert len(created) == 1
    [only] = pending()
    assert only.root_cause == "traffic_spike, db_pool_exhaustion"
    assert only.priority == "high"
    assert (only.anomaly_id, only.prediction_id) == (current.pk, risk.pk)


def test_existing_twins_are_merged_into_the_newest():
    current = anomaly(ended_minutes_ago=0)
    older = make_action("scale_up", created_at=timezone.now() - timedelta(minutes=20))
    newest = make_action("scale_up", root_cause="db_pool_exhaustion")

    _store_actions("java", [plan("scale_up", anomaly_id=current.pk)])

    assert [a.pk for a in pending()] == [newest.pk]
    older.refresh_from_db()
    assert older.status == "skipped"
    assert older.execution_result["mode"] == "merged"
    assert older.execution_result["merged_into"] == str(newest.pk)


# --- expiry -----------------------------------------------------------------------------------
def test_pending_actions_expire_when_their_incident_is_over(settings):
    minutes = settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"]
    # an episode that ended long ago, and a prediction whose moment is long past
    over_anomaly = anomaly(ended_minutes_ago=minutes + 30)
    over_prediction = prediction(due_minutes_from_now=-(minutes + 10))
    over = make_action("scale_up", anomaly=over_anomaly, prediction=over_prediction)
    # an episode whose last bucket is recent: the incident is still going on
    live = make_action("restart", anomaly=anomaly(ended_minutes_ago=minutes - 10))
    # an old anomaly but a prediction still ahead: the risk is current
    ahead = make_action(
        "increase_timeout",
        anomaly=anomaly(ended_minutes_ago=minutes + 30, service="java", metric="timeouts"),
        prediction=prediction(due_minutes_from_now=20),
    )

    expired = actions_expire(service="java")

    assert expired == [over.pk]
    over.refresh_from_db()
    assert over.status == "skipped" and over.executed_by == "ml_prediction"
    assert over.execution_result["mode"] == "expired"
    assert "incident is over" in over.execution_result["reason"]
    assert {a.pk for a in pending()} == {live.pk, ahead.pk}
    event = AuditEvent.objects.get(object_id=str(over.pk))
    assert (event.actor, event.action, event.details["mode"]) == (
        "ml_prediction",
        "action.skip",
        "expired",
    )


def test_an_episode_that_began_long_ago_but_goes_on_keeps_its_action(settings):
    minutes = settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"]
    # the action is linked to the episode's first bucket; the episode lasted until now
    first = anomaly(ended_minutes_ago=minutes + 30)
    for ago in range(minutes + 25, -1, -5):
        anomaly(ended_minutes_ago=ago)
    action = make_action("scale_up", anomaly=first)

    assert actions_expire(service="java") == []
    assert [a.pk for a in pending()] == [action.pk]


def test_an_analysis_run_expires_the_services_stale_actions(settings):
    """The orchestrator's write step expires, so stale rows leave even when nothing is planned."""
    minutes = settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"]
    stale = make_action("scale_up", anomaly=anomaly(ended_minutes_ago=minutes + 30))

    _store_actions("java", [])

    stale.refresh_from_db()
    assert stale.status == "skipped"


# --- skip: API and dashboard ------------------------------------------------------------------
def test_skip_endpoint_skips_with_a_reason_and_audits(ops_client):
    action = make_action("scale_up")

    response = ops_client.post(
        f"/api/ml/actions/{action.action_id}/skip/",
        {"reason": "capacity already added"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "skipped"
    assert response.json()["execution_result"] == {
        "mode": "skipped",
        "reason": "capacity already added",
    }
    event = AuditEvent.objects.get(action="action.skip", object_id=str(action.action_id))
    assert (event.actor, event.outcome) == ("ops", "ok")


def test_skip_without_a_body_works_and_a_second_skip_is_409(ops_client):
    action = make_action("scale_up")
    url = f"/api/ml/actions/{action.action_id}/skip/"

    first = ops_client.post(url)
    second = ops_client.post(url)
    execute = ops_client.post(
        f"/api/ml/actions/{action.action_id}/execute/", {"result": {}}, format="json"
    )

    assert first.status_code == 200
    assert second.status_code == 409 and "already skipped" in second.json()["error"]["message"]
    assert execute.status_code == 409
    outcomes = AuditEvent.objects.filter(action="action.skip").values_list("outcome", flat=True)
    assert sorted(outcomes) == ["ok", "rejected"]


def test_skip_needs_ops_and_refuses_unknown_fields(readonly_client, ops_client):
    action = make_action("scale_up")
    url = f"/api/ml/actions/{action.action_id}/skip/"

    assert readonly_client.post(url, {}, format="json").status_code == 403
    typo = ops_client.post(url, {"reasn": "x"}, format="json")
    assert typo.status_code == 400
    assert ops_client.post("/api/ml/actions/not-a-uuid/skip/").status_code == 404
    action.refresh_from_db()
    assert action.status == "recommended"


def test_dashboard_skip_button(client, ops_user, readonly_user):
    action = make_action("scale_up")
    row_marker = f'data-action-id="{action.action_id}"'

    # a read-only user sees the action but no buttons
    client.force_login(readonly_user)
    panels = client.get("/dashboard/panels/").content.decode()
    row = panels[panels.index(row_marker) :]
    assert "Skip" not in row[: row.index("</tr>")]
    assert client.post(f"/dashboard/actions/{action.action_id}/skip/").status_code == 403

    # an ops user sees Skip next to the execute button, with a confirmation
    client.force_login(ops_user)
    panels = client.get("/dashboard/panels/").content.decode()
    row = panels[panels.index(row_marker) :]
    row = row[: row.index("</tr>")]
    assert f'action="/dashboard/actions/{action.action_id}/skip/"' in row
    assert 'data-confirm="Skip &quot;Scale up java&quot; on java?' in row

    response = client.post(f"/dashboard/actions/{action.action_id}/skip/", follow=True)

    assert [str(m) for m in response.context["messages"]] == ["Skipped: Scale up java (java)."]
    action.refresh_from_db()
    assert action.status == "skipped" and action.executed_by == "ops"
    assert action.execution_result == {"mode": "skipped", "reason": "skipped on the dashboard"}
