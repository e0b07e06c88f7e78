"""A root cause says which hour its figures describe (real orchestrator, PostgreSQL).

Found on call: a quick run keeps the root cause an earlier run stored for the incident, and the
page and the dashboard labelled its "in the last hour" figures with the newest bucket's hour.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic
from tests.integration.orchestrator.test_actions_per_episode import _timeout_burst

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.mark.parametrize("clock", ["now", "Mon 09:05"], indirect=True)
def test_a_kept_root_cause_is_labelled_with_the_hour_it_was_computed_for(clock):
    """At Mon 09:05 UTC (found by the clock sweep) the simulated hour holds a small pool
    episode at 08:10, explained when it ended: its rows keep that hour, the burst's its own,
    which reads from 08:15 on ("since 08:15 UTC")."""
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.alerts import anomaly_payload
    from ml_prediction.services.selectors import cause_computed_at

    # given an outage explained by the quick run that first saw it
    now = floor_5min(timezone.now())
    earlier = now - timedelta(minutes=10)
    load_traffic("django", days=1, seed=12, end=earlier)
    _timeout_burst("django", end=earlier)
    PredictionOrchestrator().run_full_analysis("django", "quick", as_of=earlier)
    first = set(
        AnomalyDetection.objects.filter(service="django", is_anomaly=True).values_list(
            "pk", flat=True
        )
    )
    assert first

    # when it goes on and the next quick run keeps that explanation
    _timeout_burst("django", end=now)
    PredictionOrchestrator().run_full_analysis("django", "quick", as_of=now)

    # then every row of the outage, old and new, says the hour ending when the cause was
    # computed
    rows = list(AnomalyDetection.objects.filter(service="django", is_anomaly=True))
    new = [a for a in rows if a.pk not in first]
    assert new and all(a.root_cause_hypothesis for a in rows)
    outage = [a for a in rows if a.window_start >= earlier - timedelta(minutes=25)]
    assert set(new) <= set(outage)
    assert {cause_computed_at(a) for a in outage} == {earlier}
    assert all(cause_computed_at(a) <= a.window_end for a in rows if a not in outage)
    # and the page says it so, not "in the last hour" of a bucket 10 minutes later
    newest = max(new, key=lambda a: a.window_start)
    text = anomaly_payload(newest, [newest], 2)["root_cause_hypothesis"]
    assert "the last hour" not in text
    if "the last hour" in newest.root_cause_hypothesis:
        assert f"the hour before {earlier:%b %d %H:%M} UTC" in text
    else:  # explained since an earlier episode ended: a span that already says its time
        assert re.search(r" since \d{2}:\d{2} UTC", text) and text == newest.root_cause_hypothesis


def test_rows_stored_before_the_hour_was_kept_fall_back_to_their_bucket():
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services.selectors import cause_computed_at

    start = floor_5min(timezone.now())
    row = AnomalyDetection(
        service="django",
        metric_name="error_count",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        contributing_features={"root_cause_key": "upstream_timeout"},
    )

    assert cause_computed_at(row) == row.window_end
    row.contributing_features["root_cause_as_of"] = "not a time"
    assert cause_computed_at(row) == row.window_end
