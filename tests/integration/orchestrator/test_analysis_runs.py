"""Every analysis leaves an AnalysisRun row: completed ones with what they stored, failed ones
with why; retention prunes old ones; the API lists them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_a_quick_run_is_recorded_as_one_that_did_not_predict():
    from ml_prediction.models import AnalysisRun
    from ml_prediction.services import PredictionOrchestrator

    load_traffic("vue", days=0.5, seed=5)

    summary = PredictionOrchestrator().run_full_analysis("vue", "quick")

    run = AnalysisRun.objects.get(service="vue")
    assert (run.status, run.analysis_type, run.predicted) == ("completed", "quick", False)
    assert run.as_of.isoformat() == summary["as_of"]
    assert run.summary["anomalies_detected"] == summary["anomalies"]["detected"]
    assert run.summary["learning"] is True  # half a day of history
    assert run.error == ""


def test_a_failed_run_is_recorded_with_its_reason_and_still_raises(monkeypatch):
    from ml_prediction.models import AnalysisRun
    from ml_prediction.services import PredictionOrchestrator, orchestrator

    def broken(**kwargs):
        raise RuntimeError("rollup table is locked")

    monkeypatch.setattr(orchestrator, "bucket_frame_for_service", broken)

    with pytest.raises(RuntimeError):
        PredictionOrchestrator().run_full_analysis("java", "full")

    run = AnalysisRun.objects.get(service="java")
    assert run.status == "failed" and not run.predicted
    assert run.error == "RuntimeError: rollup table is locked"
    assert run.duration_ms is not None


def test_a_crashing_later_stage_costs_only_itself(monkeypatch):
    """An engine bug in one stage (here the forecasts) must not cost the anomalies, their
    alerts, or the other stages; the run names what failed."""
    from ml_prediction.models import AnalysisRun, AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator, orchestrator

    load_traffic("react", days=0.5, seed=6)

    def broken(self, frame, *, start, end):
        raise ValueError("forecast artifact has an unexpected shape")

    monkeypatch.setattr(orchestrator._Run, "_forecasts", broken)

    summary = PredictionOrchestrator().run_full_analysis("react", "full")

    assert summary["status"] == "completed"
    assert summary["failed_stages"] == ["forecasts"]
    assert summary["skipped"]["forecasts"].startswith("failed: ValueError: forecast artifact")
    assert (
        AnomalyDetection.objects.filter(service="react").count()
        == summary["anomalies"]["scored"]
        > 0
    )
    run = AnalysisRun.objects.get(service="react")
    assert run.status == "completed" and run.summary["failed_stages"] == ["forecasts"]


def test_retention_prunes_old_runs():
    from ml_prediction.models import AnalysisRun
    from ml_prediction.services.orchestrator import results_cleanup

    now = timezone.now()
    old = AnalysisRun.objects.create(
        service="java",
        analysis_type="full",
        as_of=now - timedelta(days=40),
        status="completed",
        completed_at=now - timedelta(days=40),
    )
    recent = AnalysisRun.objects.create(
        service="java", analysis_type="full", as_of=now, status="completed"
    )

    removed = results_cleanup(older_than=now - timedelta(days=30))

    assert removed["analysis_runs"] == 1
    assert list(AnalysisRun.objects.values_list("run_id", flat=True)) == [recent.run_id]
    assert not AnalysisRun.objects.filter(pk=old.pk).exists()
