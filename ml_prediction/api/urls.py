"""URLs of the ML API under /api/ml/ — the guide's paths exactly (note the mix of ``_`` and ``-``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.routers import DefaultRouter

from ml_prediction.api import views

router = DefaultRouter()
router.register("models", views.MLModelViewSet, basename="ml-model")
router.register("predictions", views.PredictionViewSet, basename="prediction")
router.register("anomalies", views.AnomalyViewSet, basename="anomaly")
router.register("forecasts", views.ForecastViewSet, basename="forecast")
router.register("actions", views.ActionViewSet, basename="action")
router.register("insights", views.InsightViewSet, basename="insight")
router.register("audit", views.AuditViewSet, basename="audit")


@csrf_exempt
def health(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The orchestrator's guide health check, imported on first use."""
    return views.health_view()(request, *args, **kwargs)


@csrf_exempt
def predict_for_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The orchestrator's guide webhook, imported on first use."""
    return views.webhook_view()(request, *args, **kwargs)


urlpatterns = [
    path("trigger-analysis/", views.TriggerAnalysisView.as_view(), name="trigger-analysis"),
    path(
        "trigger-all-services-analysis/",
        views.TriggerAllServicesAnalysisView.as_view(),
        name="trigger-all-services-analysis",
    ),
    path("dashboard/summary/", views.DashboardSummaryView.as_view(), name="dashboard-summary"),
    path("health/", health, name="ml-health"),
    path("webhooks/predict-for-error/", predict_for_error, name="predict-for-error"),
    path("", include(router.urls)),
]
