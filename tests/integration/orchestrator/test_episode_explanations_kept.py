"""An anomaly episode's explanation survives quick runs and reaches the root-cause library.

B3: the quick run an ingested error triggers about every minute scores anomalies only; it used to
rewrite the live incident's rows with an empty hypothesis, confidence and recommended action, so
the dashboard's "Likely cause" was blank while the burst ran. B4: the root-cause library read an
episode's cause from actions linked to its first bucket (actions go to its top bucket, and past
episodes create none), so every learned incident had the cause "".
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic
from tests.integration.orchestrator.test_actions_per_episode import _pool_burst, _timeout_burst

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _explained(service: str) -> dict:
    from ml_prediction.models import AnomalyDetection

    return {
        a.window_start: (
            a.root_cause_hypothesis,
            a.root_cause_confidence,
            a.recommended_action,
            a.contributing_features.get("root_cause_key"),
        )
        for a in AnomalyDetection.objects.filter(service=service, is_anomaly=True)
    }


@pytest.mark.parametrize("clock", ["now", "Fri 16:20"], indirect=True)
def test_a_quick_run_keeps_the_root_cause_a_full_run_stored(
    clock, django_capture_on_commit_callbacks
):
    """At Fri 16:20 UTC (found by the clock sweep) the simulated hour holds a small pool
    episode at 15:35 besides the burst: it keeps its own cause, and its explanation too."""
    from ml_prediction.services import PredictionOrchestrator

    # given a timeout burst going on, explained by a full analysis five minutes ago
    now = floor_5min(timezone.now())
    load_traffic("django", days=1, seed=12, end=now)
    _timeout_burst("django", end=now)
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        PredictionOrchestrator().run_full_analysis(
            "django", "full", as_of=now - timedelta(minutes=5)
        )
    before = _explained("django")
    burst = [e for w, e in before.items() if w >= now - timedelta(minutes=25)]
    assert burst and all(h and "time out" in h for h, _, _, _ in burst)
    assert all(h and c is not None and a for h, c, a, _ in before.values())

    # when the next ingested error triggers a quick analysis (anomalies only)
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        PredictionOrchestrator().run_full_analysis("django", "quick", as_of=now)

    # then the rows the full run explained still say so
    after = _explained("django")
    for window_start, explanation in before.items():
        assert after[window_start] == explanation
    # and the bucket only the quick run has scored continues its episode's explanation
    new = set(after) - set(before)
    assert new, "the quick run scored a newer anomalous bucket"
    assert all(after[w] == before[max(before)] for w in new)


@pytest.mark.parametrize("hour, minute", [(18, 0), (23, 55)])
def test_the_root_cause_library_learns_each_incident_with_its_cause(
    hour, minute, django_capture_on_commit_callbacks
):
    """At 23:52-23:55 UTC (the pool burst at 08:52-08:55) the library labelled the pool
    burst "unknown" (seen in CI at midnight): the deep run explained it at its first bucket,
    where the pool's errors were a few among the hour's usual ones. Episodes are now explained
    15 minutes in (`root_cause.episode_explained_at`)."""
    now = timezone.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
    if now > timezone.now():
        now -= timedelta(days=1)
    _assert_library_learns_both_causes(now, django_capture_on_commit_callbacks)


def _assert_library_learns_both_causes(now, capture) -> None:
    from ml_prediction.models import MLModel
    from ml_prediction.services import PredictionOrchestrator, registry, training

    # given a pool-exhaustion burst 15 hours ago and a timeout burst now, deep-analysed now
    load_traffic("django", days=1, seed=12, end=now)
    _pool_burst("django", end=now - timedelta(hours=15))
    _timeout_burst("django", end=now)
    with capture(using="ml_prediction", execute=True):
        PredictionOrchestrator().run_full_analysis("django", "deep", as_of=now)

    # when the root-cause model is trained
    (history,) = training.training_run_for_service(
        service="django", model_types=[MLModel.ModelType.ROOT_CAUSE], as_of=now
    )
    history.refresh_from_db()
    assert history.status == "completed", history.failure_reason

    # then every incident of the library carries its own cause
    incidents = registry.registry_load_active(
        service="django", model_type=MLModel.ModelType.ROOT_CAUSE
    ).artifact.incidents
    assert incidents and all(i["cause_key"] for i in incidents)
    causes = {i["cause_key"] for i in incidents}
    assert {"db_pool_exhaustion", "upstream_timeout"} <= causes
    # read from the key the analysis keeps on the episode's rows
    keys = {k for *_, k in _explained("django").values()}
    assert {"db_pool_exhaustion", "upstream_timeout"} <= keys
