"""Site-root URLs: ingestion (native JSON, Sentry-compatible, OTLP) and /favicon.ico.

This is the URLconf mounted at the site root, hence /favicon.ico here: browsers ask for it on
every page without a ``<link rel="icon">`` (the admin's), and a 404 there is a console error.
"""

from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from error_logging.ingest import views

urlpatterns = [
    path("api/errors/", views.ErrorIngestView.as_view(), name="ingest-errors"),
    path("api/metrics/", views.MetricIngestView.as_view(), name="ingest-metrics"),
    path(
        "api/<int:project_id>/envelope/", views.SentryEnvelopeView.as_view(), name="sentry-envelope"
    ),
    path("api/<int:project_id>/store/", views.SentryStoreView.as_view(), name="sentry-store"),
    path("v1/logs", views.OtlpLogsView.as_view(), name="otlp-logs"),
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("dashboard/favicon.svg"), permanent=True),
        name="favicon",
    ),
]
