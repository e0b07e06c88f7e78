"""The decision path behind a root cause reaches its reader: on the analysis summary and on the
episode's anomaly rows, kept by the quick runs that continue the episode (PostgreSQL).

Found in use: the engine walked the guide's decision path (error type → service → system state
→ similar past issues) and returned each step with its figures, and the product dropped it; the
API and the dashboard showed the one-sentence hypothesis only, so nobody could see why.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import (
    BOTH_DBS,
    episode_rows,
    floor_5min,
    load_traffic,
)
from tests.integration.orchestrator.test_rollback_names_the_release import (
    RELEASE,
    _release_errors_in_bucket,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_the_decision_path_is_on_the_summary_and_on_every_row_of_the_episode():
    from ml_prediction.services import PredictionOrchestrator

    # given a day of traffic and a new release failing every call in one bucket
    second = floor_5min(timezone.now()) - timedelta(minutes=5)
    first = second - timedelta(minutes=5)
    load_traffic("flutter", days=1, seed=12, end=second + timedelta(minutes=5))
    _release_errors_in_bucket(first)

    # when a quick run explains it
    summary = PredictionOrchestrator().run_full_analysis("flutter", "quick", as_of=second)

    # then the summary carries each step of the path, the release step among them
    cause = summary["root_cause"]
    path = cause["decision_path"]
    assert [step.split(":")[0] for step in path][:1] == ["error type"], path
    assert any(s.startswith(f"service: release {RELEASE} first seen") for s in path), path
    assert any(s.startswith("system state:") for s in path), path
    assert cause["similar_incidents"] == []  # no library trained yet
    # ... and the episode's row keeps the same path
    rows = episode_rows("flutter", first)
    assert rows[0].contributing_features["root_cause_path"] == path

    # when the burst goes on and the next quick run continues the episode (no root cause of
    # its own)
    _release_errors_in_bucket(second)
    later = PredictionOrchestrator().run_full_analysis(
        "flutter", "quick", as_of=second + timedelta(minutes=5)
    )

    # then the new bucket's row carries the path that explained the episode
    assert later["root_cause"] is None or later["root_cause"]["decision_path"] == path
    rows = episode_rows("flutter", first)
    assert [r.window_start for r in rows][:2] == [first, second]
    assert rows[1].contributing_features["root_cause_path"] == path
