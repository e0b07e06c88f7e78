"""Every read of the ML API: base querysets for the list endpoints and the aggregate views.

Selectors decide *which* rows an endpoint means (the window of a list, what "high risk" or
"pending" is); the API's filter sets narrow them further by the query parameters. Aggregates
use a fixed, small number of queries whatever the table sizes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Max, Q, QuerySet
from django.utils import timezone

from feeding_hearts.catalog import SERVICES
from ml_prediction.models import (
    AIInsight,
    AnomalyDetection,
    AuditEvent,
    ErrorPrediction,
    MLModel,
    ModelPerformanceTracking,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.services.errors import NotFound

DEFAULT_PREDICTION_HOURS = 24
DASHBOARD_WINDOW_DAYS = 7
PENDING_ACTION_STATUSES = (PreventiveAction.Status.RECOMMENDED, PreventiveAction.Status.SCHEDULED)
UNRESOLVED_INSIGHT_STATUSES = (AIInsight.Status.ACTIVE, AIInsight.Status.ACKNOWLEDGED)
PRIORITY_ORDER = ("critical", "high", "medium", "low")


def _config(key: str) -> Any:
    return settings.ML_PREDICTION_CONFIG[key]


def parse_uuid(value: Any, *, what: str) -> uuid.UUID:
    """A UUID from a URL segment; anything else is ``NotFound`` (an invalid id names nothing)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"No {what} with id {value!r} (not a UUID).") from None


def _get(queryset: QuerySet, *, pk: Any, what: str) -> Any:
    found = queryset.filter(pk=parse_uuid(pk, what=what)).first()
    if found is None:
        raise NotFound(f"No {what} with id {pk}.")
    return found


# --- models ----------------------------------------------------------------------------------
def model_list() -> QuerySet[MLModel]:
    return MLModel.objects.all()


def model_get(*, model_id: Any) -> MLModel:
    return _get(MLModel.objects.all(), pk=model_id, what="model")


def model_performance(*, model_id: Any, days: int = 30) -> dict[str, Any]:
    """The guide's performance shape: current metrics and the daily trend, newest first."""
    model = model_get(model_id=model_id)
    since = timezone.now().date() - timedelta(days=days)
    rows = ModelPerformanceTracking.objects.filter(
        model_id=model.model_id, tracking_date__gte=since
    ).order_by("-tracking_date")
    return {
        "model_id": model.model_id,
        "model_name": model.model_name,
        "current_metrics": {
            "accuracy": model.accuracy,
            "precision": model.precision,
            "recall": model.recall,
            "f1_score": model.f1_score,
        },
        "recent_trend": [
            {
                "date": row.tracking_date,
                "accuracy": row.accuracy_today,
                "precision": row.precision_today,
                "recall": row.recall_today,
                "predictions_made": row.predictions_made,
                "predictions_correct": row.predictions_correct,
                "false_positives": row.false_positives,
                "errors_prevented": row.errors_prevented,
            }
            for row in rows
        ],
    }


def model_features(*, model_id: Any) -> dict[str, Any]:
    """Feature names with their importances, most important first (unknown importance last)."""
    model = model_get(model_id=model_id)
    importances = model.feature_importances or {}
    names = list(model.feature_names or []) or list(importances)
    features = [{"name": name, "importance": importances.get(name)} for name in names]
    features.sort(key=lambda f: (f["importance"] is None, -(f["importance"] or 0.0)))
    return {
        "model_id": model.model_id,
        "model_name": model.model_name,
        "features_count": model.features_count or len(features),
        "features": features,
    }


# --- predictions -----------------------------------------------------------------------------
def prediction_list(*, hours: float = DEFAULT_PREDICTION_HOURS) -> QuerySet[ErrorPrediction]:
    """Predictions made in the last ``hours`` hours, newest first."""
    since = timezone.now() - timedelta(hours=hours)
    return ErrorPrediction.objects.filter(created_at__gte=since).order_by("-created_at")


def prediction_high_risk() -> QuerySet[ErrorPrediction]:
    """Predictions at or above HIGH_PROBABILITY_THRESHOLD whose predicted time has not passed."""
    return ErrorPrediction.objects.filter(
        probability__gte=_config("HIGH_PROBABILITY_THRESHOLD"),
        predicted_timestamp__gte=timezone.now(),
    ).order_by("-probability", "-created_at")


def prediction_get(*, prediction_id: Any) -> ErrorPrediction:
    return _get(ErrorPrediction.objects.all(), pk=prediction_id, what="prediction")


# --- anomalies -------------------------------------------------------------------------------
def anomaly_list() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.order_by("-detected_at")


def anomaly_unacknowledged() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.filter(is_anomaly=True, acknowledged=False).order_by(
        "-detected_at"
    )


def anomaly_critical() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.filter(is_anomaly=True, severity_level="critical").order_by(
        "-detected_at"
    )


def anomaly_get(*, anomaly_id: Any) -> AnomalyDetection:
    return _get(AnomalyDetection.objects.all(), pk=anomaly_id, what="anomaly")


# --- forecasts -------------------------------------------------------------------------------
def forecast_list() -> QuerySet[TimeSeriesForecast]:
    return TimeSeriesForecast.objects.order_by("-created_at")


def forecast_latest_for_service(*, service: str) -> list[TimeSeriesForecast]:
    """The newest forecast of each metric of one service (two queries)."""
    if service not in SERVICES:
        raise NotFound(f"Unknown service {service!r}; one of: {', '.join(SERVICES)}.")
    latest = (
        TimeSeriesForecast.objects.filter(service=service)
        .values("metric_name")
        .annotate(newest=Max("created_at"))
    )
    wanted = Q(pk__in=[])
    for row in latest:
        wanted |= Q(metric_name=row["metric_name"], created_at=row["newest"])
    return list(TimeSeriesForecast.objects.filter(wanted, service=service).order_by("metric_name"))


def forecast_at_risk() -> QuerySet[TimeSeriesForecast]:
    """Forecasts that cross their capacity limit and whose horizon has not ended."""
    return TimeSeriesForecast.objects.filter(
        is_at_risk=True, forecast_end__gte=timezone.now()
    ).order_by("-created_at")


# --- actions ---------------------------------------------------------------------------------
def action_list() -> QuerySet[PreventiveAction]:
    return PreventiveAction.objects.order_by("-created_at")


def action_pending() -> QuerySet[PreventiveAction]:
    return PreventiveAction.objects.filter(status__in=PENDING_ACTION_STATUSES).order_by(
        "-created_at"
    )


def action_by_priority(*, per_priority: int = 50) -> list[dict[str, Any]]:
    """Pending actions grouped by priority, critical first; each group capped (5 queries)."""
    counts = dict(
        action_pending().order_by().values_list("priority").annotate(n=Count("action_id"))
    )
    groups = []
    for priority in PRIORITY_ORDER:
        rows = list(action_pending().filter(priority=priority)[:per_priority])
        groups.append({"priority": priority, "count": counts.get(priority, 0), "results": rows})
    return groups


def action_get(*, action_id: Any) -> PreventiveAction:
    return _get(PreventiveAction.objects.all(), pk=action_id, what="action")


# --- insights --------------------------------------------------------------------------------
def insight_list() -> QuerySet[AIInsight]:
    return AIInsight.objects.order_by("-created_at")


def insight_active() -> QuerySet[AIInsight]:
    return AIInsight.objects.filter(status=AIInsight.Status.ACTIVE).order_by("-created_at")


def insight_summary_by_service() -> dict[str, Any]:
    """The guide's ``{"summary": [{service, total, critical, warning, unresolved}]}`` (1 query)."""
    rows = (
        AIInsight.objects.order_by()
        .values("service")
        .annotate(
            total=Count("insight_id"),
            critical=Count("insight_id", filter=Q(severity=AIInsight.Severity.CRITICAL)),
            warning=Count("insight_id", filter=Q(severity=AIInsight.Severity.WARNING)),
            unresolved=Count("insight_id", filter=Q(status__in=UNRESOLVED_INSIGHT_STATUSES)),
        )
        .order_by("service")
    )
    return {"summary": list(rows)}


# --- audit -----------------------------------------------------------------------------------
def audit_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-created_at")


# --- dashboard -------------------------------------------------------------------------------
def _health_score(*, active_models: int, predictions_1h: int, critical_unacked: int) -> int:
    """The guide's health check score, less 5 per unacknowledged critical anomaly (max 25)."""
    score = 100
    if active_models == 0:
        score -= 50
    if predictions_1h == 0:
        score -= 25
    score -= min(25, 5 * critical_unacked)
    return max(0, score)


def dashboard_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """The guide's dashboard summary, in four aggregate queries.

    ``predictions`` and ``anomalies`` cover the last DASHBOARD_WINDOW_DAYS days (an all-time
    total grows without bound and stops meaning anything); ``recent_activity`` the last 24 h.
    """
    now = now or timezone.now()
    window_start = now - timedelta(days=DASHBOARD_WINDOW_DAYS)
    day_ago = now - timedelta(hours=24)
    hour_ago = now - timedelta(hours=1)
    high = _config("HIGH_PROBABILITY_THRESHOLD")

    predictions = (
        ErrorPrediction.objects.filter(created_at__gte=window_start)
        .order_by()
        .aggregate(
            total=Count("prediction_id"),
            high_probability=Count("prediction_id", filter=Q(probability__gte=high)),
            alerts_triggered=Count("prediction_id", filter=Q(alert_triggered=True)),
            accurate=Count("prediction_id", filter=Q(actual_error_occurred=True)),
            last_24h=Count("prediction_id", filter=Q(created_at__gte=day_ago)),
            last_1h=Count("prediction_id", filter=Q(created_at__gte=hour_ago)),
        )
    )
    anomalies = (
        AnomalyDetection.objects.filter(detected_at__gte=window_start, is_anomaly=True)
        .order_by()
        .aggregate(
            total=Count("anomaly_id"),
            critical=Count("anomaly_id", filter=Q(severity_level="critical")),
            unacknowledged=Count("anomaly_id", filter=Q(acknowledged=False)),
            critical_unacknowledged=Count(
                "anomaly_id", filter=Q(severity_level="critical", acknowledged=False)
            ),
            last_24h=Count("anomaly_id", filter=Q(detected_at__gte=day_ago)),
        )
    )
    by_service = list(
        MLModel.objects.filter(status=MLModel.Status.ACTIVE)
        .order_by()
        .values("service")
        .annotate(
            active=Count("model_id"),
            avg_accuracy=Avg("accuracy"),
            last_trained_at=Max("last_trained_at"),
        )
        .order_by("service")
    )
    actions_executed_24h = PreventiveAction.objects.filter(
        status=PreventiveAction.Status.EXECUTED, executed_at__gte=day_ago
    ).count()
    active_models = sum(row["active"] for row in by_service)
    return {
        "timestamp": now,
        "health_score": _health_score(
            active_models=active_models,
            predictions_1h=predictions["last_1h"],
            critical_unacked=anomalies["critical_unacknowledged"],
        ),
        "window_days": DASHBOARD_WINDOW_DAYS,
        "predictions": {
            "total": predictions["total"],
            "high_probability": predictions["high_probability"],
            "alerts_triggered": predictions["alerts_triggered"],
            "accurate": predictions["accurate"],
        },
        "anomalies": {
            "total": anomalies["total"],
            "critical": anomalies["critical"],
            "unacknowledged": anomalies["unacknowledged"],
        },
        "models": {"active": active_models, "by_service": by_service},
        "recent_activity": {
            "predictions_24h": predictions["last_24h"],
            "anomalies_24h": anomalies["last_24h"],
            "actions_executed_24h": actions_executed_24h,
        },
    }
