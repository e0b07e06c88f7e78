"""A lone anomalous bucket is explained but creates no pending action; its second bucket does.

Found by the clock sweep: at several hours of the week the simulated traffic holds a single
flagged bucket (a service's first week is scored by robust rules that flagged about 2.7 such blips
a day then, 1.3 now), and each put "Increase the database connection pool" and "Cancel long-running queries"
in the pending list for two hours. A page needs ANOMALY_ALERT_MIN_BUCKETS buckets; a to-do now
needs the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, episode_rows, floor_5min, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _pool_errors_in_bucket(service: str, start: datetime) -> None:
    """150 critical pool errors in the 5-minute bucket starting at ``start``."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    items = [
        {
            "error_type": "OperationalError",
            "message": "could not obtain a connection from the pool",
            "severity": "critical",
            "endpoint": "/api/orders",
            "response_time_ms": 5000.0,
            "occurred_at": (start + timedelta(seconds=5 + 1.9 * i)).isoformat(),
        }
        for i in range(150)
    ]
    with analysis_requests_suspended():
        ingest_errors(service=service, items=items)


@pytest.mark.parametrize("clock", ["Sat 15:48"], indirect=True)
@pytest.mark.parametrize("analysis_type", ["quick", "full"])
def test_a_second_bucket_turns_an_explained_blip_into_pending_actions(analysis_type, clock):
    """Pinned to a moment: the simulated traffic's own blips move with the time of day, and
    one next to the burst's bucket would make the burst a two-bucket episode from the start."""
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    # given a day of traffic and a pool burst filling one bucket
    second = floor_5min(timezone.now()) - timedelta(minutes=5)
    first = second - timedelta(minutes=5)
    load_traffic("django", days=1, seed=12, end=second + timedelta(minutes=5))
    _pool_errors_in_bucket("django", first)

    # when the analysis runs after that bucket
    result = PredictionOrchestrator().run_full_analysis("django", analysis_type, as_of=second)

    # then the bucket is flagged and says its cause and what to do, but nothing is pending
    rows = episode_rows("django", first)
    assert [r.window_start for r in rows] == [first]
    assert "connections are exhausted" in rows[0].root_cause_hypothesis
    assert "Increase the database connection pool" in rows[0].recommended_action
    assert not PreventiveAction.objects.filter(anomaly__in=rows).exists()
    assert not PreventiveAction.objects.filter(root_cause__contains="db_pool").exists()

    # when the burst goes on into the next bucket and the next quick run sees it
    _pool_errors_in_bucket("django", second)
    result = PredictionOrchestrator().run_full_analysis(
        "django", "quick", as_of=second + timedelta(minutes=5)
    )

    # then the episode's actions are pending, linked to it, with its cause and its titles
    rows = episode_rows("django", first)
    assert [r.window_start for r in rows] == [first, second]
    actions = list(PreventiveAction.objects.filter(anomaly__in=rows))
    assert actions and result["actions"]["created"] >= len(actions)
    assert all("db_pool_exhaustion" in a.root_cause for a in actions)
    titles = {a.title for a in actions}
    assert "Increase the database connection pool of django" in titles
    assert titles <= set(rows[0].recommended_action.split("; "))

    # and the next quick run of the same state adds none
    again = PredictionOrchestrator().run_full_analysis(
        "django", "quick", as_of=second + timedelta(minutes=5)
    )
    assert again["actions"]["created"] == 0
    assert PreventiveAction.objects.filter(anomaly__in=rows).count() == len(actions)
