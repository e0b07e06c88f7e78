"""Admin for errors, metrics, rollups and ingest keys."""

from django.contrib import admin

from error_logging import models as m


@admin.register(m.IngestKey)
class IngestKeyAdmin(admin.ModelAdmin):
    list_display = ("service", "name", "project_id", "is_active", "created_at", "last_used_at")
    list_filter = ("service", "is_active")
    readonly_fields = ("public_key", "created_at", "last_used_at")


@admin.register(m.ErrorLog)
class ErrorLogAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "service", "severity", "category", "error_type", "endpoint")
    list_filter = ("service", "severity", "category", "environment")
    search_fields = ("error_type", "message", "fingerprint")
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(m.MetricSample)
class MetricSampleAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "service", "metric_name", "value")
    list_filter = ("service", "metric_name")
    show_full_result_count = False


@admin.register(m.ErrorRollup)
class ErrorRollupAdmin(admin.ModelAdmin):
    list_display = ("bucket", "service", "total_count", "critical_count", "timeout_count", "rt_max")
    list_filter = ("service",)
    date_hierarchy = "bucket"
    show_full_result_count = False
