"""Each anomaly episode of the last hour gets its own root cause (real orchestrator, PostgreSQL).

Found measuring the incident library: the analysis explained every episode of the last hour with
the current root cause, so a blip that was over 40 minutes before a pool outage was stored, and
learnt by the library, as a pool exhaustion.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS
from tests.integration.orchestrator.test_root_cause_reads_messages import (
    _errors,
    _ingest,
    _pool_outage,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.mark.parametrize("hour, minute", [(3, 45), (18, 0)])
@pytest.mark.parametrize("analysis_type", ["quick", "full"])
def test_an_episode_that_is_over_keeps_its_own_cause_beside_the_current_one(
    analysis_type, hour, minute
):
    """At 03:45 UTC (seen in CI) the outage itself read as a slow dependency: it was explained
    on the whole last hour, which held the denied logins too, so its pool's errors were 56% of
    the hour's (97% of its own) and the timeout category and latency outvoted them. An ongoing
    episode is now explained from the end of the one before it (`anomaly.previous_run_end`)."""
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator

    # given java's traffic, a pool outage going on now, and a burst of denied logins that
    # ended 35 minutes ago
    now = _moment(hour, minute)
    blip_end = _outage_after_denied_logins(now)

    # when the analysis runs
    PredictionOrchestrator().run_full_analysis("java", analysis_type, as_of=now)

    # then the outage is a pool exhaustion and the denied logins are not
    causes = {
        a.window_start: a.contributing_features.get("root_cause_key")
        for a in AnomalyDetection.objects.filter(service="java", is_anomaly=True)
    }
    blip = {k for t, k in causes.items() if t < blip_end}
    outage = {k for t, k in causes.items() if t >= now - timedelta(minutes=20)}
    assert outage == {"db_pool_exhaustion"}
    assert blip and "db_pool_exhaustion" not in blip, causes
    # ... and says which span it read: not "the last hour", which held the logins too
    hypothesis = (
        AnomalyDetection.objects.filter(service="java", is_anomaly=True)
        .latest("window_start")
        .root_cause_hypothesis
    )
    assert "last hour" not in hypothesis and " per 5 min since " in hypothesis, hypothesis


def _moment(hour: int, minute: int):
    now = timezone.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
    return now - timedelta(days=1) if now > timezone.now() else now


def _outage_after_denied_logins(now):
    """java's traffic, a pool outage going on at ``now``, and a burst of denied logins that
    ended 35 minutes before; returns the end of the logins."""
    _pool_outage(now)
    blip_end = now - timedelta(minutes=35)
    _ingest(
        "java",
        _errors(
            "org.springframework.security.authentication.BadCredentialsException",
            "Bad credentials for user {n}",
            count=300,
            minutes=10,
            now=blip_end,
            severity="error",
        ),
    )
    return blip_end


def test_the_library_signs_an_episode_from_where_the_one_before_it_ended():
    """The incident library signs each episode on the span its analysis explained it on: an
    outage stored with the hour's denied logins in its signature would not look like the same
    outage the next time it comes alone."""
    from ml_prediction.models import MLModel
    from ml_prediction.services import PredictionOrchestrator, registry
    from ml_prediction.services.training import training_run_for_service

    # given the outage after the logins, analysed
    now = _moment(3, 45)
    _outage_after_denied_logins(now)
    PredictionOrchestrator().run_full_analysis("java", "full", as_of=now)

    # when the root-cause library is trained
    training_run_for_service(service="java", model_types=["root_cause"], as_of=now)

    # then the outage is stored as a pool exhaustion whose signature holds none of the logins
    library = registry.registry_load_active(
        service="java", model_type=MLModel.ModelType.ROOT_CAUSE
    ).artifact
    outage = max(library.incidents, key=lambda i: i["occurred_at"])
    assert outage["cause_key"] == "db_pool_exhaustion"
    signature = outage["signature"]
    assert signature["share_auth"] < 0.05, signature
    assert not any("bad credentials" in k for k in signature), signature
