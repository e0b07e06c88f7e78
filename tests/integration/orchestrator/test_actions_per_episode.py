"""Each anomaly episode is explained and acted on with its own root cause; history pages nobody.

A deep analysis rescores the whole lookback. An earlier episode must keep the cause found on its
own window (never the cause of the current hour), its rows must say what to do
(``recommended_action``), and only episodes that are still current create pending actions, each
linked to an anomaly of its own episode. A backfill (``as_of`` in the past) stores and explains
what it finds but neither creates pending actions nor hands anything to alerting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, assert_actions_answer, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _burst(
    service: str, *, end: datetime, error_type: str, message: str, response_time_ms: float
) -> None:
    """400 critical errors of one type in the 20 minutes before ``end``."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    items = [
        {
            "error_type": error_type,
            "message": message,
            "severity": "critical",
            "endpoint": "/api/orders",
            "response_time_ms": response_time_ms,
            "occurred_at": (end - timedelta(seconds=60 + 3 * i)).isoformat(),
        }
        for i in range(400)
    ]
    with analysis_requests_suspended():
        ingest_errors(service=service, items=items)


def _pool_burst(service: str, *, end: datetime) -> None:
    _burst(
        service,
        end=end,
        error_type="OperationalError",
        message="could not obtain a connection from the pool",
        response_time_ms=5000.0,
    )


def _timeout_burst(service: str, *, end: datetime) -> None:
    _burst(
        service,
        end=end,
        error_type="UpstreamTimeoutError",
        message="upstream payment API timed out",
        response_time_ms=30000.0,
    )


@pytest.mark.parametrize("clock", ["now", "Fri 16:20"], indirect=True)
def test_deep_analysis_acts_on_each_episode_with_its_own_cause(
    clock, django_capture_on_commit_callbacks
):
    """At Fri 16:20 UTC (found by the clock sweep) the simulated day holds a small pool
    episode at 15:35, still current: its own actions and the burst's share "Scale up", one
    pending row answering both causes."""
    from ml_prediction.engines.actions import recommend_actions
    from ml_prediction.models import AnomalyDetection, PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given a day of traffic, a pool-exhaustion burst 15 hours ago and a timeout burst now
    now = timezone.now()
    load_traffic("django", days=1, seed=12)
    _pool_burst("django", end=now - timedelta(hours=15))
    _timeout_burst("django", end=now)

    # when a deep analysis rescores the whole lookback
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        result = PredictionOrchestrator().run_full_analysis("django", "deep")

    # then the burst of 15 hours ago keeps the cause of its own window
    flagged = AnomalyDetection.objects.filter(service="django", is_anomaly=True)
    old = flagged.filter(
        window_start__gte=now - timedelta(hours=15, minutes=25),
        window_start__lt=now - timedelta(hours=14, minutes=45),
    )
    assert old.exists()
    assert result["root_cause"]["cause_key"] == "upstream_timeout"
    assert all("connections are exhausted" in a.root_cause_hypothesis for a in old)
    pool_titles = "; ".join(
        r.title
        for r in recommend_actions(
            cause_key="db_pool_exhaustion", severity="critical", probability=1.0, service="django"
        )
    )
    assert {a.recommended_action for a in old} == {pool_titles}
    # every explained anomaly says what to do (the guide's recommended_action)
    assert all(a.recommended_action for a in flagged if a.root_cause_hypothesis)

    # and only current episodes have pending actions, each its own cause's, linked to it: the
    # timeout burst's; the old burst's none. (The simulated day may hold another episode that
    # ended within ML_ANOMALY_CURRENT_MINUTES, depending on the hour the test runs: it gets
    # its own cause's actions, linked to its own anomaly; an action both episodes call for is
    # one pending row that names both causes.)
    actions = PreventiveAction.objects.filter(service="django")
    assert actions.exists() and result["actions"]["created"] == actions.count()
    assert not actions.filter(anomaly__in=old).exists()
    burst = [a for a in actions if a.anomaly.window_end >= now - timedelta(minutes=21)]
    assert_actions_answer(burst, cause="upstream_timeout", service="django")
    linked = AnomalyDetection.objects.get(anomaly_id=burst[0].anomaly_id)
    assert {a.anomaly_id for a in burst} == {linked.anomaly_id}
    assert "time out" in linked.root_cause_hypothesis
    assert {a.title for a in burst} <= set(linked.recommended_action.split("; "))
    current = timedelta(minutes=settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"])
    for action in actions:
        assert action.anomaly.window_end >= now - current - timedelta(minutes=5)
        assert action.title in action.anomaly.recommended_action.split("; ")


def test_a_backfill_explains_the_past_but_creates_no_pending_action_and_pages_nobody(
    django_capture_on_commit_callbacks,
):
    from ml_prediction.models import AlertNotification, AnomalyDetection, PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given two days of traffic with a pool-exhaustion burst just before yesterday's as_of
    now = timezone.now()
    as_of = now - timedelta(days=1)
    load_traffic("django", days=2, seed=12)
    _pool_burst("django", end=as_of)

    # when a deep analysis runs as of yesterday (the demo's backfill)
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        result = PredictionOrchestrator().run_full_analysis("django", "deep", as_of=as_of)

    # then its anomalies are stored and explained, with what to do
    recent = AnomalyDetection.objects.filter(
        service="django", is_anomaly=True, window_start__gte=as_of - timedelta(minutes=30)
    )
    assert recent.filter(severity_level="critical").exists()
    assert all(a.root_cause_hypothesis and a.recommended_action for a in recent)
    # but nothing is pending for an incident that ended a day ago, and nobody is paged
    assert result["actions"]["created"] == 0
    assert not PreventiveAction.objects.exists()
    assert result["alerts"] == {"prediction_ids": [], "anomaly_ids": []}
    assert not AlertNotification.objects.exists()
