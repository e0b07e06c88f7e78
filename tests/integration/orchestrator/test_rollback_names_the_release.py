"""The rollback a bad release calls for names the release, in every run that recommends it.

On a service that deploys several times a day "Roll back the latest release" may roll back the
wrong one; the root cause dates the release behind the errors, so its action says which. A
quick run that continues an explained episode has no root cause of its own and recommends from
the stored explanation: it must name the same release (PostgreSQL).
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

RELEASE = "flutter@9.0.0"


def _release_errors_in_bucket(start: datetime) -> None:
    """300 critical "connection closed" errors of RELEASE in the 5-minute bucket at ``start``."""
    burst_in_bucket(
        "flutter",
        start,
        message=lambda i: f"Connection closed before full header was received ({30000 + i})",
        error_type="HttpException",
        severity="critical",
        release=RELEASE,
    )


@pytest.mark.parametrize("clock", ["Sat 15:48", "now"], indirect=True)
def test_the_rollback_of_a_continued_episode_names_the_release(clock):
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given a day of traffic and a new release failing every call in one bucket
    second = floor_5min(timezone.now()) - timedelta(minutes=5)
    first = second - timedelta(minutes=5)
    load_traffic("flutter", days=1, seed=12, end=second + timedelta(minutes=5))
    _release_errors_in_bucket(first)

    # when a quick run explains the lone bucket
    summary = PredictionOrchestrator().run_full_analysis("flutter", "quick", as_of=second)

    # then the cause names the release, on the summary and on the bucket's row
    assert summary["root_cause"]["suspect_release"] == RELEASE, summary["root_cause"]
    rows = episode_rows("flutter", first)
    assert rows[0].window_start == first
    assert rows[0].contributing_features["root_cause_release"] == RELEASE
    assert f"Roll back release {RELEASE} of flutter" in rows[0].recommended_action

    # when the burst goes on into the next bucket and the next quick run continues the episode
    _release_errors_in_bucket(second)
    PredictionOrchestrator().run_full_analysis(
        "flutter", "quick", as_of=second + timedelta(minutes=5)
    )

    # then its pending rollback names the release, as the run that explained it did
    rows = episode_rows("flutter", first)
    assert [r.window_start for r in rows][:2] == [first, second]
    rollback = PreventiveAction.objects.get(anomaly__in=rows, action_type="rollback_release")
    assert rollback.title == f"Roll back release {RELEASE} of flutter"
    assert RELEASE in rollback.description
    assert all(r.contributing_features.get("root_cause_release") == RELEASE for r in rows[:2])
