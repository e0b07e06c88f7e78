"""A slow or unreachable dependency is named, in every run that explains or continues it.

"The network path to a dependency is failing" sends on-call looking for which one; the errors
say it ("Connection refused: inventory-service:8080"). The analysis summary, the episode's
rows and the actions towards the dependency must name it, and a quick run that continues the
episode (no root cause of its own) must word its actions the same way (PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import (
    BOTH_DBS,
    burst_in_bucket,
    episode_rows,
    floor_5min,
    load_traffic,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

HOST = "inventory-service"


def _refused_in_bucket(start: datetime) -> None:
    """300 critical "connection refused" errors towards HOST in the 5-minute bucket at ``start``
    (each from its own address and port, as the real messages are)."""
    burst_in_bucket(
        "java",
        start,
        message=lambda i: f"Connection refused: {HOST}/10.0.3.{i % 250}:{8080 + i % 3}",
        error_type="ConnectException",
        severity="critical",
    )


def test_the_refused_dependency_is_named_by_the_cause_the_rows_and_the_actions():
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given a day of traffic and a dependency refusing every call in one bucket
    second = floor_5min(timezone.now()) - timedelta(minutes=5)
    first = second - timedelta(minutes=5)
    load_traffic("java", days=1, seed=12, end=second + timedelta(minutes=5))
    _refused_in_bucket(first)

    # when a quick run explains the lone bucket
    summary = PredictionOrchestrator().run_full_analysis("java", "quick", as_of=second)

    # then the cause names the dependency and says it refuses connections
    cause = summary["root_cause"]
    assert cause["cause_key"] == "network_partition", cause
    assert cause["suspect_dependency"] == HOST
    assert f"{HOST} refuses connections" in cause["hypothesis"]
    assert any(step.startswith("dependency: ") and HOST in step for step in cause["decision_path"])
    rows = episode_rows("java", first)
    assert rows[0].window_start == first
    assert rows[0].contributing_features["root_cause_dependency"] == HOST
    assert f"Check {HOST} and the network between java and it" in rows[0].recommended_action

    # when the refusals go on into the next bucket and the next quick run continues the episode
    _refused_in_bucket(second)
    PredictionOrchestrator().run_full_analysis("java", "quick", as_of=second + timedelta(minutes=5))

    # then its pending actions name the dependency, as the run that explained it did
    rows = episode_rows("java", first)
    assert [r.window_start for r in rows][:2] == [first, second]
    breaker = PreventiveAction.objects.get(anomaly__in=rows, action_type="enable_circuit_breaker")
    assert breaker.title == f"Open the circuit breaker from java towards {HOST}"
    assert HOST in breaker.description
    assert all(r.contributing_features.get("root_cause_dependency") == HOST for r in rows[:2])
