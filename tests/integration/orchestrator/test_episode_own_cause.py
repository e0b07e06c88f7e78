"""Each anomaly episode of the last hour gets its own root cause (real orchestrator, PostgreSQL).

Found measuring the incident library: the analysis explained every episode of the last hour with
the current root cause, so a blip that was over 40 minutes before a pool outage was stored, and
learnt by the library, as a pool exhaustion.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min
from tests.integration.orchestrator.test_root_cause_reads_messages import (
    _errors,
    _ingest,
    _pool_outage,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.mark.parametrize("analysis_type", ["quick", "full"])
def test_an_episode_that_is_over_keeps_its_own_cause_beside_the_current_one(analysis_type):
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator

    # given java's traffic, a pool outage going on now, and a burst of denied logins that
    # ended 35 minutes ago
    now = floor_5min(timezone.now())
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
