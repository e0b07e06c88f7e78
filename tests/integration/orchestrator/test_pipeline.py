"""Rollups → features → training → full analysis → rows, in one process on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_bucket_frame_follows_the_engine_convention_and_matches_the_simulation():
    from django.utils import timezone

    from ml_prediction.services.features import bucket_frame_for_service

    on_the_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    sim = load_traffic("vue", days=0.5, seed=3, end=on_the_hour)
    expected = sim.bucket_frames(5)["vue"]

    frame = bucket_frame_for_service(service="vue", start=sim.start, end=sim.end)

    assert frame.index.equals(expected.index)
    for column in ("total_count", "critical_count", "timeout_count", "rt_count", "user_error_count"):
        assert (frame[column] == expected[column]).all(), column
    assert (frame["rt_mean"] - expected["rt_mean"]).abs().max() < 0.06
    # p95 from merged rollup histograms: close to the exact quantile once a bucket holds
    # enough errors (hourly buckets here; the histogram's resolution is ~5%)
    hourly = bucket_frame_for_service(service="vue", start=sim.start, end=sim.end, bucket_minutes=60)
    exact = sim.bucket_frames(60)["vue"]["rt_p95"]
    relative = ((hourly["rt_p95"] - exact).abs() / exact).dropna()
    assert len(relative) >= 10 and relative.median() < 0.1
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
    assert {
        m.model_type for m in MLModel.objects.filter(service="django", status="active")
    } == {"anomaly_detection", "error_classifier", "time_series_forecast"}

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
