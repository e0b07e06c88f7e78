"""Retention: cleanup deletes old closed results and never what still needs a person —
open insights, unacknowledged critical anomalies, unexecuted high/critical actions (and the
prediction or anomaly behind such an action) — whatever their age.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import (
    AIInsight,
    AnomalyDetection,
    ErrorPrediction,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.tasks import cleanup_old_predictions

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

KEEP_DAYS = 30
OLD = timedelta(days=400)
_minute = itertools.count()


def _old() -> datetime:
    return timezone.now() - OLD - timedelta(minutes=5 * next(_minute))


def old_prediction(label: str) -> ErrorPrediction:
    at = _old()
    return ErrorPrediction.objects.create(
        service="vue",
        predicted_error_type=label,
        probability=0.8,
        time_horizon_minutes=30,
        prediction_bucket=at,
        predicted_timestamp=at,
        created_at=at,
    )


def old_anomaly(severity: str, *, acknowledged: bool) -> AnomalyDetection:
    at = _old()
    return AnomalyDetection.objects.create(
        service="vue",
        window_start=at,
        window_end=at + timedelta(minutes=5),
        detected_at=at,
        anomaly_score=0.95,
        is_anomaly=True,
        severity_level=severity,
        acknowledged=acknowledged,
    )


def old_action(priority: str, status: str, **links) -> PreventiveAction:
    return PreventiveAction.objects.create(
        service="vue",
        action_type="increase_pool",
        title=f"{priority} {status}",
        priority=priority,
        status=status,
        created_at=_old(),
        **links,
    )


def old_insight(status: str) -> AIInsight:
    insight = AIInsight.objects.create(
        service="vue",
        insight_type="error_trend",
        title=status,
        description="d",
        status=status,
        dedup_key=f"retention-{status}",
    )
    AIInsight.objects.filter(pk=insight.pk).update(created_at=_old(), updated_at=_old())
    return insight


def _exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def test_an_unacknowledged_critical_anomaly_survives_any_age():
    kept = old_anomaly("critical", acknowledged=False)

    deleted = cleanup_old_predictions(days=KEEP_DAYS)

    assert _exists(kept)
    assert deleted["anomalies"] == 0


@pytest.mark.parametrize(
    ("severity", "acknowledged"),
    [("critical", True), ("high", False), ("medium", False), ("low", True)],
)
def test_old_acknowledged_or_non_critical_anomalies_are_deleted(severity, acknowledged):
    gone = old_anomaly(severity, acknowledged=acknowledged)

    deleted = cleanup_old_predictions(days=KEEP_DAYS)

    assert not _exists(gone)
    assert deleted["anomalies"] == 1


@pytest.mark.parametrize(
    ("priority", "status"),
    [
        ("high", "recommended"),
        ("high", "scheduled"),
        ("critical", "recommended"),
        ("critical", "scheduled"),
    ],
)
def test_an_unexecuted_urgent_action_and_its_evidence_survive(priority, status):
    prediction = old_prediction("behind-open-action")
    anomaly = old_anomaly("high", acknowledged=True)
    action = old_action(priority, status, prediction=prediction, anomaly=anomaly)
    stale = old_prediction("stale")

    deleted = cleanup_old_predictions(days=KEEP_DAYS)

    action.refresh_from_db()
    assert (action.prediction_id, action.anomaly_id) == (prediction.pk, anomaly.pk)
    assert _exists(prediction) and _exists(anomaly)
    assert not _exists(stale)
    assert deleted == {"predictions": 1, "anomalies": 0, "forecasts": 0, "analysis_runs": 0}


@pytest.mark.parametrize(
    ("priority", "status"),
    [
        ("high", "executed"),
        ("critical", "skipped"),
        ("medium", "recommended"),
        ("low", "scheduled"),
    ],
)
def test_the_evidence_of_done_or_minor_actions_is_deleted(priority, status):
    prediction = old_prediction("behind-closed-action")
    anomaly = old_anomaly("high", acknowledged=False)
    action = old_action(priority, status, prediction=prediction, anomaly=anomaly)

    deleted = cleanup_old_predictions(days=KEEP_DAYS)

    action.refresh_from_db()
    assert (action.prediction_id, action.anomaly_id) == (None, None)
    assert deleted == {"predictions": 1, "anomalies": 1, "forecasts": 0, "analysis_runs": 0}


def test_insights_and_actions_are_never_deleted_by_cleanup():
    insights = [old_insight(s) for s in ("active", "acknowledged", "resolved", "dismissed")]
    actions = [old_action("high", "recommended"), old_action("critical", "executed")]

    cleanup_old_predictions(days=KEEP_DAYS)

    assert all(_exists(row) for row in insights + actions)


def test_old_closed_results_go_and_recent_ones_stay():
    old_prediction("old")
    old_anomaly("critical", acknowledged=True)
    at = _old()
    TimeSeriesForecast.objects.create(
        service="vue", forecast_start=at, forecast_end=at + timedelta(hours=1), created_at=at
    )
    now = timezone.now()
    recent = ErrorPrediction.objects.create(
        service="vue",
        predicted_error_type="recent",
        probability=0.8,
        time_horizon_minutes=30,
        prediction_bucket=now,
        predicted_timestamp=now,
        created_at=now - timedelta(days=KEEP_DAYS - 1),
    )

    deleted = cleanup_old_predictions(days=KEEP_DAYS)

    assert deleted == {"predictions": 1, "anomalies": 1, "forecasts": 1, "analysis_runs": 0}
    assert list(ErrorPrediction.objects.values_list("pk", flat=True)) == [recent.pk]
