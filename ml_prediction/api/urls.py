"""URLs of the ML API under /api/ml/ — the guide's paths exactly (note the mix of ``_`` and ``-``)."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.routers import DefaultRouter

from ml_prediction.api import views
from ml_prediction.api.serializers import PredictForErrorInputSerializer
from ml_prediction.health_check import health_check
from ml_prediction.webhooks import predict_for_error

# The orchestrator's guide views are plain @api_view functions; describe them for the schema.
extend_schema(
    summary="ML system health (public: counts and up/down states, no secrets)",
    auth=[],
    responses={
        200: OpenApiResponse(
            inline_serializer(
                "HealthReport",
                fields={
                    "status": serializers.ChoiceField(choices=["healthy", "degraded", "critical"]),
                    "health_score": serializers.IntegerField(),
                    "health_deductions": serializers.ListField(
                        child=serializers.DictField(),
                        help_text="What the score loses and why: [{points, reason}].",
                    ),
                    "active_models": serializers.IntegerField(),
                    "recent_predictions_1h": serializers.IntegerField(),
                    "recent_anomalies_1h": serializers.IntegerField(
                        help_text="Anomalies (is_anomaly) in windows scored in the last hour."
                    ),
                    "services_analysed_1h": serializers.IntegerField(
                        help_text="Services with an analysis in the last hour."
                    ),
                    "services_failing": serializers.ListField(
                        child=serializers.CharField(),
                        help_text="Services whose latest analysis in the last hour failed; "
                        "with the stages in brackets (`vue (forecasts)`) when it completed "
                        "without them.",
                    ),
                    "timestamp": serializers.DateTimeField(),
                    "checks": serializers.DictField(),
                    "down": serializers.ListField(child=serializers.CharField()),
                },
            )
        ),
        503: OpenApiResponse(description="Critical: same document, status critical."),
    },
)(health_check)
extend_schema(
    summary="The guide's predict_for_error webhook: analyse the error's service now (ops)",
    request=PredictForErrorInputSerializer,
    responses={
        200: OpenApiResponse(description="{success, error_id, analysis_results}"),
        202: OpenApiResponse(description="An analysis was running: queued {task_id}."),
        400: OpenApiResponse(
            description="Invalid body: unknown service or analysis_type, an error_id that is "
            "not a UUID, an unknown field, or a body that is not a JSON object."
        ),
        401: OpenApiResponse(description="No or invalid JWT."),
        403: OpenApiResponse(description="The user lacks the ops permission."),
        503: OpenApiResponse(description="The task queue is unavailable."),
    },
)(predict_for_error)

router = DefaultRouter()
router.register("models", views.MLModelViewSet, basename="ml-model")
router.register("predictions", views.PredictionViewSet, basename="prediction")
router.register("anomalies", views.AnomalyViewSet, basename="anomaly")
router.register("forecasts", views.ForecastViewSet, basename="forecast")
router.register("actions", views.ActionViewSet, basename="action")
router.register("insights", views.InsightViewSet, basename="insight")
router.register("audit", views.AuditViewSet, basename="audit")
router.register("analysis-runs", views.AnalysisRunViewSet, basename="analysis-run")


urlpatterns = [
    path("trigger-analysis/", views.TriggerAnalysisView.as_view(), name="trigger-analysis"),
    path(
        "trigger-all-services-analysis/",
        views.TriggerAllServicesAnalysisView.as_view(),
        name="trigger-all-services-analysis",
    ),
    path("dashboard/summary/", views.DashboardSummaryView.as_view(), name="dashboard-summary"),
    path("health/", health_check, name="ml-health"),
    path("webhooks/predict-for-error/", predict_for_error, name="predict-for-error"),
    path("", include(router.urls)),
]
