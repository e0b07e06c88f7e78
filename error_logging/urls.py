"""Ingestion URLs: native JSON, Sentry-compatible and OTLP endpoints."""

from django.urls import path

from error_logging.ingest import views

urlpatterns = [
    path("api/errors/", views.ErrorIngestView.as_view(), name="ingest-errors"),
    path("api/metrics/", views.MetricIngestView.as_view(), name="ingest-metrics"),
    path(
        "api/<int:project_id>/envelope/", views.SentryEnvelopeView.as_view(), name="sentry-envelope"
    ),
    path("api/<int:project_id>/store/", views.SentryStoreView.as_view(), name="sentry-store"),
    path("v1/logs", views.OtlpLogsView.as_view(), name="otlp-logs"),
]
