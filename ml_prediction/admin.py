"""Admin for every ML table; the model registry gets filters and lifecycle actions."""

from __future__ import annotations

from django.contrib import admin, messages

from ml_prediction import models as m
from ml_prediction.services.cache import read_cache_bump


@admin.register(m.MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = (
        "model_name",
        "service",
        "model_type",
        "model_algorithm",
        "version",
        "status",
        "accuracy",
        "f1_score",
        "last_trained_at",
    )
    list_filter = ("service", "model_type", "status", "model_algorithm")
    search_fields = ("model_name", "model_algorithm")
    readonly_fields = ("model_id", "artifact_path", "artifact_sha256", "created_at", "updated_at")
    actions = ("activate", "deactivate", "archive")

    @admin.action(description="Activate (deactivates the other versions of the same service/type)")
    def activate(self, request, queryset) -> None:
        from ml_prediction.services.registry import model_activate

        for model in queryset:
            model_activate(model_id=model.model_id)
        self.message_user(request, f"Activated {queryset.count()} model(s).", messages.SUCCESS)

    @admin.action(description="Deactivate")
    def deactivate(self, request, queryset) -> None:
        count = queryset.update(status=m.MLModel.Status.INACTIVE)
        read_cache_bump()
        self.message_user(request, f"Deactivated {count} model(s).", messages.SUCCESS)

    @admin.action(description="Archive")
    def archive(self, request, queryset) -> None:
        count = queryset.update(status=m.MLModel.Status.ARCHIVED)
        read_cache_bump()
        self.message_user(request, f"Archived {count} model(s).", messages.SUCCESS)


@admin.register(m.AnomalyDetection)
class AnomalyDetectionAdmin(admin.ModelAdmin):
    list_display = (
        "service",
        "window_start",
        "anomaly_score",
        "is_anomaly",
        "severity_level",
        "anomaly_type",
        "acknowledged",
    )
    list_filter = ("service", "severity_level", "is_anomaly", "acknowledged", "anomaly_type")
    date_hierarchy = "detected_at"


@admin.register(m.ErrorPrediction)
class ErrorPredictionAdmin(admin.ModelAdmin):
    list_display = (
        "service",
        "predicted_error_type",
        "probability",
        "time_horizon_minutes",
        "predicted_timestamp",
        "alert_triggered",
        "actual_error_occurred",
    )
    list_filter = ("service", "predicted_severity", "alert_triggered", "actual_error_occurred")
    search_fields = ("predicted_error_type",)
    date_hierarchy = "created_at"


@admin.register(m.TimeSeriesForecast)
class TimeSeriesForecastAdmin(admin.ModelAdmin):
    list_display = ("service", "metric_name", "model_algorithm", "forecast_start", "is_at_risk")
    list_filter = ("service", "metric_name", "is_at_risk")


@admin.register(m.ModelTrainingHistory)
class ModelTrainingHistoryAdmin(admin.ModelAdmin):
    list_display = (
        "service",
        "model_type",
        "model_algorithm",
        "status",
        "started_at",
        "duration_seconds",
        "final_f1_score",
        "promoted",
    )
    list_filter = ("service", "model_type", "status", "promoted")


@admin.register(m.PreventiveAction)
class PreventiveActionAdmin(admin.ModelAdmin):
    list_display = ("service", "action_type", "title", "priority", "status", "can_be_automated")
    list_filter = ("service", "status", "priority", "action_type", "can_be_automated")
    search_fields = ("title", "description")


@admin.register(m.AIInsight)
class AIInsightAdmin(admin.ModelAdmin):
    list_display = ("service", "insight_type", "title", "severity", "status", "created_at")
    list_filter = ("service", "insight_type", "severity", "status")
    search_fields = ("title", "description")


@admin.register(m.ModelPerformanceTracking)
class ModelPerformanceTrackingAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "tracking_date",
        "accuracy_today",
        "predictions_made",
        "errors_prevented",
    )
    list_filter = ("tracking_date",)


@admin.register(m.PredictionFeedback)
class PredictionFeedbackAdmin(admin.ModelAdmin):
    list_display = ("prediction", "verdict", "created_by", "created_at")
    list_filter = ("verdict",)


@admin.register(m.AlertNotification)
class AlertNotificationAdmin(admin.ModelAdmin):
    list_display = ("kind", "channel", "service", "error_type", "status", "attempts", "created_at")
    list_filter = ("kind", "channel", "status", "service")


@admin.register(m.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_id", "outcome")
    list_filter = ("action", "outcome", "object_type")
    search_fields = ("actor", "object_id")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = ("completed_at", "service", "analysis_type", "as_of", "status", "duration_ms")
    list_filter = ("status", "analysis_type", "service")

    def has_change_permission(self, request, obj=None) -> bool:
        return False
