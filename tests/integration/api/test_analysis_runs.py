"""GET /api/ml/analysis-runs/: when each service was analysed, how long it took, why it failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_runs_are_listed_newest_first_and_filtered(readonly_client, make_run):
    now = timezone.now()
    older = make_run(service="java", completed_at=now - timedelta(minutes=10))
    failed = make_run(
        service="java",
        status="failed",
        predicted=False,
        completed_at=now - timedelta(minutes=5),
        error="OperationalError: the ML database is in recovery mode",
    )
    make_run(service="vue", analysis_type="quick", predicted=False, completed_at=now)

    java = readonly_client.get("/api/ml/analysis-runs/?service=java").json()["results"]
    failures = readonly_client.get("/api/ml/analysis-runs/?status=failed").json()["results"]

    assert [r["run_id"] for r in java] == [str(failed.run_id), str(older.run_id)]
    assert [r["run_id"] for r in failures] == [str(failed.run_id)]
    assert failures[0]["error"].startswith("OperationalError")
    assert set(java[0]) >= {"as_of", "analysis_type", "duration_ms", "summary", "predicted"}


def test_one_run_and_unknown_ids(readonly_client, make_run):
    run = make_run()

    assert readonly_client.get(f"/api/ml/analysis-runs/{run.run_id}/").json()["service"] == "django"
    assert readonly_client.get("/api/ml/analysis-runs/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("query", ["status=running", "analysis_type=slow", "service=cobol"])
def test_unknown_filter_values_are_400(readonly_client, query):
    assert readonly_client.get(f"/api/ml/analysis-runs/?{query}").status_code == 400


def test_the_list_needs_a_token(anon_client):
    assert anon_client.get("/api/ml/analysis-runs/").status_code == 401


def test_a_refused_state_change_is_audited_with_who_and_what(readonly_client, ops_client, make_run):
    """A signed-in user without the ops permission trying a state change is a security event."""
    make_run()

    refused = readonly_client.post("/api/ml/trigger-analysis/", {"service": "java"}, format="json")
    readonly_client.get("/api/ml/analysis-runs/")  # reads are not events

    assert refused.status_code == 403
    events = ops_client.get("/api/ml/audit/?action=api.denied").json()["results"]
    assert len(events) == 1
    event = events[0]
    assert event["outcome"] == "denied" and event["object_id"] == "/api/ml/trigger-analysis/"
    assert event["actor"] != "anonymous" and event["details"]["method"] == "POST"
