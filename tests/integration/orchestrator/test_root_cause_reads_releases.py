"""Root cause dates the errors' releases against the rise of errors (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic
from tests.integration.orchestrator.test_root_cause_reads_messages import _errors, _ingest

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

CLOSED = "Connection closed before full header was received ({n})"


def test_each_release_has_its_share_of_the_hour_and_its_first_error():
    from django.utils import timezone

    from ml_prediction.services.features import release_errors_for_service

    now = timezone.now()
    # given release 1.0 all day, 1.1 out 20 minutes ago, and errors without a release
    _ingest(
        "flutter",
        _errors(
            "FlutterError",
            "overflow ({n})",
            count=60,
            minutes=600,
            now=now,
            release="flutter@1.0.0",
        )
        + _errors("HttpException", CLOSED, count=90, minutes=20, now=now, release="flutter@1.1.0")
        + _errors("FlutterError", "no release ({n})", count=10, minutes=30, now=now),
    )
    end = now + timedelta(minutes=1)

    # when the releases of the last hour are read
    seen = {
        r.release: r
        for r in release_errors_for_service(
            service="flutter", start=end - timedelta(hours=1), end=end
        )
    }

    # then each carries its count in the hour and its first error of the look-back
    assert {name: r.errors for name, r in seen.items()} == {
        "flutter@1.0.0": 6,
        "flutter@1.1.0": 90,
        "": 10,
    }
    assert seen["flutter@1.0.0"].first_seen < end - timedelta(hours=9)
    assert end - timedelta(minutes=22) <= seen["flutter@1.1.0"].first_seen
    assert seen["flutter@1.1.0"].first_seen <= end - timedelta(minutes=19)
    # no error of the hour: no release
    assert (
        release_errors_for_service(service="react", start=end - timedelta(hours=1), end=end) == []
    )


def test_an_outage_that_a_new_release_brought_is_explained_as_the_release():
    """Found in the evaluation: a Flutter release failing every API call with "Connection closed
    before full header was received" read as a network partition, and the first action was to
    check the network path, not to roll the release back."""
    from django.utils import timezone

    from ml_prediction.services import PredictionOrchestrator

    now = timezone.now()
    load_traffic("flutter", days=0.5, seed=12, end=now)
    _ingest(
        "flutter",
        _errors(
            "HttpException",
            CLOSED,
            count=500,
            minutes=20,
            now=now,
            severity="critical",
            release="flutter@9.0.0",
        ),
    )

    summary = PredictionOrchestrator().run_full_analysis("flutter", "quick")

    assert summary["anomalies"]["detected"] >= 1
    assert summary["root_cause"]["cause_key"] == "bad_release", summary["root_cause"]
    assert "flutter@9.0.0" in summary["root_cause"]["hypothesis"]
    # and the pending actions roll the release back
    from ml_prediction.models import PreventiveAction

    kinds = set(
        PreventiveAction.objects.filter(service="flutter").values_list("action_type", flat=True)
    )
    assert "rollback_release" in kinds, summary
    assert summary["root_cause"]["suspect_release"] == "flutter@9.0.0"
    rollback = PreventiveAction.objects.get(service="flutter", action_type="rollback_release")
    assert rollback.title == "Roll back release flutter@9.0.0 of flutter"
