"""Rollups → features → training → full analysis → rows, in one process on PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, assert_actions_answer, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_bucket_frame_follows_the_engine_convention_and_matches_the_simulation():
    from django.utils import timezone

    from ml_prediction.services.features import bucket_frame_for_service

    on_the_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    from ml_prediction.engines.catalog import CATEGORIES
    from ml_prediction.evaluation.prediction import product_category

    sim = load_traffic("vue", days=0.5, seed=3, end=on_the_hour)
    expected = sim.bucket_frames(5, categorize=product_category)["vue"]

    frame = bucket_frame_for_service(service="vue", start=sim.start, end=sim.end)

    assert frame.index.equals(expected.index)
    # every category as ingestion classified it: what the evaluations score is what is stored
    for column in (
        "total_count",
        "critical_count",
        "rt_count",
        "user_error_count",
        *(f"{category}_count" for category in CATEGORIES),
    ):
        assert (frame[column] == expected[column]).all(), column
    assert (frame["rt_mean"] - expected["rt_mean"]).abs().max() < 0.06
    # p95 from merged rollup histograms lies in the 5%-wide histogram bucket of the order
    # statistic at rank ceil(0.95 n), i.e. within 5% of the inverted-CDF quantile
    hourly = bucket_frame_for_service(
        service="vue", start=sim.start, end=sim.end, bucket_minutes=60
    )
    errors = pd.DataFrame(sim.errors)
    errors["hour"] = pd.to_datetime(errors["occurred_at"], utc=True, format="ISO8601").dt.floor(
        "1h"
    )
    exact = errors.groupby("hour")["response_time_ms"].agg(
        lambda values: np.quantile(values, 0.95, method="inverted_cdf")
    )
    exact = exact[exact >= 1.0]
    relative = (hourly["rt_p95"].reindex(exact.index) - exact).abs() / exact
    assert len(relative) >= 10 and relative.max() <= 0.051
    metric_columns = [c for c in expected.columns if c.startswith("metric_")]
    assert metric_columns and set(metric_columns) <= set(frame.columns)


def test_training_then_full_analysis_stores_results_once_per_bucket():
    from ml_prediction.models import (
        AnomalyDetection,
        ErrorPrediction,
        MLModel,
        ModelTrainingHistory,
        TimeSeriesForecast,
    )
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.training import training_run_for_service

    load_traffic("django", days=4, seed=11, errors_per_minute=2.0, incidents_per_week=10)

    histories = training_run_for_service(service="django")

    statuses = {}
    for h in histories:
        statuses.setdefault(h.model_type, []).append(h.status)
    assert statuses["anomaly_detection"] == ["completed"]
    assert statuses["error_classifier"] == ["completed", "completed"]  # xgboost, random forest
    assert statuses["time_series_forecast"] == ["completed"]
    assert statuses["root_cause"] == ["skipped"]  # no analysed incidents yet
    assert {m.model_type for m in MLModel.objects.filter(service="django", status="active")} == {
        "anomaly_detection",
        "error_classifier",
        "time_series_forecast",
    }

    first = PredictionOrchestrator().run_full_analysis("django", "full")
    counts = (
        AnomalyDetection.objects.count(),
        ErrorPrediction.objects.count(),
        TimeSeriesForecast.objects.count(),
    )
    second = PredictionOrchestrator().run_full_analysis("django", "full")

    assert first["status"] == second["status"] == "completed"
    assert first["anomalies"]["scored"] == 12 and first["anomalies"]["state"] == "active"
    assert first["forecasts"]["stored"] >= 1
    assert (
        AnomalyDetection.objects.count(),
        ErrorPrediction.objects.count(),
        TimeSeriesForecast.objects.count(),
    ) == counts
    assert sorted(first["anomalies"]["ids"]) == sorted(second["anomalies"]["ids"])
    assert ModelTrainingHistory.objects.filter(status="running").count() == 0
    # each run is recorded, as of the analysed window's end
    from ml_prediction.models import AnalysisRun

    runs = list(AnalysisRun.objects.filter(service="django").order_by("completed_at"))
    assert [(r.status, r.analysis_type, r.predicted) for r in runs] == [
        ("completed", "full", True),
        ("completed", "full", True),
    ]
    assert runs[0].as_of.isoformat() == first["as_of"]
    assert runs[0].summary["forecasts_stored"] == first["forecasts"]["stored"]
    assert runs[0].summary["predictions_stored"] == first["predictions"]["stored"]
    assert 0 < runs[0].duration_ms <= first["duration_ms"]
    # every forecast of one analysis covers the same hours: the next full hours, exactly the
    # horizon (25 or 26 points, and metrics starting an hour apart, confused users)
    from datetime import datetime, timedelta

    as_of = datetime.fromisoformat(first["as_of"])
    hour = as_of.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    forecasts = TimeSeriesForecast.objects.filter(service="django")
    assert forecasts and {f.forecast_start for f in forecasts} == {hour}
    assert {len(f.forecast_values) for f in forecasts} == {24}


def _burst(service: str, *, count: int, minutes: int, error_type: str = "OperationalError") -> None:
    from datetime import timedelta

    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    now = timezone.now()
    items = [
        {
            "error_type": error_type,
            "message": "could not obtain a connection from the pool",
            "severity": "critical",
            "endpoint": "/api/orders",
            "response_time_ms": 5000.0,
            "occurred_at": (now - timedelta(seconds=60 + (i * 60 * minutes) // count)).isoformat(),
        }
        for i in range(count)
    ]
    with analysis_requests_suspended():
        ingest_errors(service=service, items=items)


@pytest.mark.parametrize("clock", ["now", "Mon 13:25"], indirect=True)
def test_deep_analysis_explains_a_burst_and_recommends_actions_once(clock):
    """At Mon 13:25 UTC (found by the clock sweep) another current episode shares an action
    with the burst: one row names both causes."""
    from ml_prediction.models import AnomalyDetection, PreventiveAction
    from ml_prediction.services import PredictionOrchestrator

    load_traffic("laravel", days=0.5, seed=12)
    _burst("laravel", count=400, minutes=20)

    first = PredictionOrchestrator().run_full_analysis("laravel", "deep")
    second = PredictionOrchestrator().run_full_analysis("laravel", "deep")

    assert first["learning"] is True and first["anomalies"]["detected"] >= 1
    assert first["root_cause"]["cause_key"] and first["root_cause"]["hypothesis"]
    assert first["actions"]["created"] >= 1 and second["actions"]["created"] == 0
    assert first["anomalies"]["scored"] == 288  # deep rescores the whole 24 h lookback
    flagged = AnomalyDetection.objects.filter(service="laravel", is_anomaly=True)
    assert all(a.root_cause_hypothesis for a in flagged)
    actions = PreventiveAction.objects.filter(service="laravel")
    assert actions.count() == first["actions"]["created"]
    # each action belongs to a recent anomaly episode and carries that episode's cause: the
    # burst's is the current root cause; an earlier episode of the last two hours (the
    # simulated half day may hold one, depending on the hour the test runs) has its own
    assert all(a.anomaly_id for a in actions)
    burst_actions = [a for a in actions if a.anomaly.window_start >= _minutes_ago(25)]
    assert_actions_answer(burst_actions, cause=first["root_cause"]["cause_key"], service="laravel")
    for action in actions:
        assert action.anomaly.root_cause_hypothesis
    assert first["alerts"]["anomaly_ids"]  # high-risk anomalies handed to alerting


def test_a_quick_run_explains_the_outage_it_finds_so_the_first_page_says_what_to_do():
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator

    load_traffic("laravel", days=0.5, seed=12)
    _burst("laravel", count=400, minutes=20)

    summary = PredictionOrchestrator().run_full_analysis("laravel", "quick")

    assert summary["anomalies"]["detected"] >= 1
    assert summary["root_cause"] and summary["root_cause"]["hypothesis"]
    assert summary["actions"]["created"] >= 1
    flagged = AnomalyDetection.objects.filter(
        service="laravel", is_anomaly=True, window_start__gte=_minutes_ago(25)
    )
    assert flagged and all(a.root_cause_hypothesis and a.recommended_action for a in flagged)
    assert summary["forecasts"]["stored"] == 0 and summary["predictions"]["stored"] == 0


def _minutes_ago(minutes: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(minutes=minutes)


def test_retraining_labels_come_from_feedback_and_outcomes():
    from datetime import timedelta

    from django.utils import timezone

    from ml_prediction.models import ErrorPrediction, PredictionFeedback
    from ml_prediction.services.training import feedback_frame_for_service

    now = timezone.now()

    def prediction(name: str, **fields) -> ErrorPrediction:
        return ErrorPrediction.objects.create(
            service="java",
            predicted_error_type=name,
            predicted_category="database",
            probability=0.8,
            time_horizon_minutes=30,
            prediction_bucket=now - timedelta(hours=1),
            predicted_timestamp=now,
            **fields,
        )

    confirmed, refuted = prediction("A"), prediction("B")
    # an outcome recorded by mark_occurred
    prediction("C", actual_error_occurred=True, actual_outcome_source="person")
    # one the data resolved: the training's own label again, not feedback
    prediction("E", actual_error_occurred=False, actual_outcome_source="data")
    prediction("D")  # not judged yet: no label
    PredictionFeedback.objects.create(
        prediction=confirmed, verdict="true_positive", created_by="ops"
    )
    PredictionFeedback.objects.create(
        prediction=refuted, verdict="false_positive", created_by="ops"
    )

    frame = feedback_frame_for_service(service="java", since=now - timedelta(days=1))

    assert sorted(frame["occurred"].tolist()) == [False, True, True]
    assert set(frame.columns) == {"timestamp", "target", "horizon_minutes", "occurred"}
    assert set(frame["target"]) == {"database"} and str(frame["timestamp"].dt.tz) == "UTC"


def test_run_all_services_analyses_each_service_and_reports_failures(monkeypatch):
    from feeding_hearts.catalog import SERVICES
    from ml_prediction.services import PredictionOrchestrator, orchestrator

    original = orchestrator._Run.execute

    def broken_for_java(run):
        if run.service == "java":
            raise RuntimeError("disk full")
        return original(run)

    monkeypatch.setattr(orchestrator._Run, "execute", broken_for_java)

    result = PredictionOrchestrator().run_all_services("quick")

    assert set(result["services"]) == set(SERVICES)
    assert result["failed"] == ["java"] and result["services"]["java"]["error"] == "disk full"
    assert all(
        r["status"] == "completed" and r["learning"]
        for name, r in result["services"].items()
        if name != "java"
    )


def test_the_error_predictor_also_learns_from_the_other_services_histories(settings, monkeypatch):
    from ml_prediction.engines import predictor
    from ml_prediction.services.training import fleet_frames_for_service, training_run_for_service

    fits: list[tuple[str, int]] = []
    real_fit = predictor.fit_error_predictor

    def spy(frame, *, algorithm, fleet_frames=(), **kwargs):
        fits.append((algorithm, len(fleet_frames)))
        return real_fit(frame, algorithm=algorithm, fleet_frames=fleet_frames, **kwargs)

    monkeypatch.setattr(predictor, "fit_error_predictor", spy)

    # one end for both: a 5-minute boundary passing between two calls shifted java's window
    from django.utils import timezone

    from tests.integration.orchestrator.conftest import floor_5min

    end = floor_5min(timezone.now())
    django = load_traffic(
        "django", days=4, seed=11, end=end, errors_per_minute=2.0, incidents_per_week=10
    )
    java = load_traffic(
        "java", days=4, seed=12, end=end, errors_per_minute=2.0, incidents_per_week=10
    )

    frames = fleet_frames_for_service(service="django", start=django.start, end=django.end)
    # only java: django is the service itself, the others have no errors in the window
    assert len(frames) == 1
    assert frames[0]["total_count"].sum() == java.error_count("java")

    messages: list[str] = []
    histories = training_run_for_service(
        service="django", model_types=["error_classifier"], progress=messages.append
    )
    assert [h.status for h in histories] == ["completed", "completed"]
    assert any("1 other services' histories for the error predictor" in m for m in messages)
    # the XGBoost champion learns from the fleet; the RandomForest challenger from django alone
    assert fits == [("xgboost", 1), ("random_forest", 0)]

    settings.ML_PREDICTION_CONFIG = {
        **settings.ML_PREDICTION_CONFIG,
        "PREDICTION_FLEET_TRAINING": False,
    }
    messages.clear()
    training_run_for_service(
        service="django", model_types=["error_classifier"], progress=messages.append
    )
    assert not any("other services' histories" in m for m in messages)
    assert fits[2:] == [("xgboost", 0), ("random_forest", 0)]
