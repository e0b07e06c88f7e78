"""A front end's errors during its API's outage are that outage (PostgreSQL).

One failure seen from several services is one incident: the root cause of react's burst of
500s is django's incident, which began minutes before, so on-call looks at django instead of
rolling back react. The other service's incident is read from the anomaly rows the analyses
stored (its episode's first flagged bucket and the cause kept on its rows).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import (
    BOTH_DBS,
    burst_in_bucket,
    floor_5min,
    load_traffic,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _flag(service: str, start, cause_key: str = "") -> None:
    from ml_prediction.models import AnomalyDetection

    AnomalyDetection.objects.create(
        service=service,
        window_start=start,
        window_end=start + timedelta(minutes=5),
        observed_value=120.0,
        expected_value=3.0,
        anomaly_score=0.99,
        is_anomaly=True,
        severity_level="critical",
        anomaly_type="spike",
        contributing_features={"root_cause_key": cause_key} if cause_key else {},
    )


def test_a_front_ends_burst_names_the_back_end_incident_that_began_before_it():
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.selectors import fleet_incidents

    # given react's ordinary day, and django's incident flagged from two buckets before
    second = floor_5min(timezone.now()) - timedelta(minutes=5)
    first = second - timedelta(minutes=5)
    load_traffic("react", days=1, seed=12, end=second + timedelta(minutes=5))
    _flag("django", first - timedelta(minutes=10))
    _flag("django", first - timedelta(minutes=5), "db_pool_exhaustion")
    _flag("django", first)
    _flag("java", first - timedelta(hours=3))  # an earlier, unrelated one

    # then the fleet reads one incident per run of flagged buckets, with its kept cause
    incidents = fleet_incidents(
        exclude_service="react", start=first - timedelta(hours=4), end=second
    )
    assert [(i.service, i.began_at, i.cause_key) for i in incidents] == [
        ("django", first - timedelta(minutes=10), "db_pool_exhaustion"),
        ("java", first - timedelta(hours=3), ""),
    ]

    # when react's API calls fail in one bucket and a quick run explains it
    burst_in_bucket(
        "react",
        first,
        message=lambda i: f"Request failed with status code 500 ({i})",
        error_type="AxiosError",
        severity="critical",
    )
    summary = PredictionOrchestrator().run_full_analysis("react", "quick", as_of=second)

    # then its root cause is django's incident (not react's own release), and not java's
    cause = summary["root_cause"]
    assert cause["cause_key"] == "upstream_failure", cause
    assert cause["suspect_dependency"] == "django"
    assert cause["hypothesis"].startswith("react: django, which it calls, is failing (")
    assert (
        "service: django's incident began 10 min before these errors rose "
        "(database connections are exhausted) → upstream_failure"
    ) in cause["decision_path"], cause
    assert "django's incident began 10 min before" in cause["hypothesis"]
    assert not any("java" in step for step in cause["decision_path"])
    assert "fleet" in summary["timings_ms"]

    # and the first recommended action sends on-call to django's incident, not to a rollback
    row = AnomalyDetection.objects.get(service="react", is_anomaly=True, window_start=first)
    assert row.recommended_action.startswith("Work on django's incident first"), row
    assert "Roll back" not in row.recommended_action
    assert row.contributing_features["root_cause_dependency"] == "django"
