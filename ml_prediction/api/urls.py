"""URLs of the ML API under /api/ml/ — the guide's paths exactly (note the mix of ``_`` and ``-``)."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.routers import DefaultRouter

from ml_prediction.api import views
from ml_prediction.api.serializers import ErrorEnvelopeSerializer, PredictForErrorInputSerializer
from ml_prediction.health_check import health_check
from ml_prediction.webhooks import predict_for_error

# The orchestrator's guide views are plain @api_view functions; describe them for the schema.
# Health: everyone gets status and timestamp; the rest only with a valid JWT (not required).
extend_schema(
    summary="ML system health (public status; the full report with a JWT)",
    description="Anyone (load balancers, probes) gets `{status, timestamp}`; a caller with a "
    "valid JWT gets the full report. An invalid or expired token is ignored (the anonymous "
    "answer), never a 401.",
    auth=[{"jwtAuth": []}, {}],
    responses={
        200: OpenApiResponse(
            inline_serializer(
                "HealthReport",
                fields={
                    "status": serializers.ChoiceField(choices=["healthy", "degraded", "critical"]),
                    "timestamp": serializers.DateTimeField(),
                    "health_score": serializers.IntegerField(required=False),
                    "health_deductions": serializers.ListField(
                        child=serializers.DictField(),
                        required=False,
                        help_text="What the score loses and why: [{points, reason}].",
                    ),
                    "active_models": serializers.IntegerField(required=False),
                    "recent_predictions_1h": serializers.IntegerField(required=False),
                    "recent_anomalies_1h": serializers.IntegerField(
                        required=False,
                        help_text="Anomalies (is_anomaly) in windows scored in the last hour.",
                    ),
                    "services_analysed_1h": serializers.IntegerField(
                        required=False, help_text="Services with an analysis in the last hour."
                    ),
                    "services_failing": serializers.ListField(
                        child=serializers.CharField(),
                        required=False,
                        help_text="Services whose latest analysis in the last hour failed; "
                        "with the stages in brackets (`vue (forecasts)`) when it completed "
                        "without them.",
                    ),
                    "checks": serializers.DictField(
                        required=False,
                        help_text="database_default, database_ml, redis: true or false (redis "
                        "null without Redis); celery_workers: how many answered the latest "
                        "ping, at most 20 s old (null when tasks run in-process, or while the "
                        "first count is being taken).",
                    ),
                    "down": serializers.ListField(child=serializers.CharField(), required=False),
                },
            ),
            description="Healthy or degraded. Without a valid JWT only `status` and "
            "`timestamp`; with one, every field.",
        ),
        503: OpenApiResponse(description="Critical: the same document, status critical."),
    },
)(health_check)
extend_schema(
    summary="The guide's predict_for_error webhook: analyse the error's service now (ops)",
    request=PredictForErrorInputSerializer,
    responses={
        200: OpenApiResponse(
            inline_serializer(
                "PredictForErrorResult",
                {
                    "success": serializers.BooleanField(),
                    "error_id": serializers.CharField(),
                    "analysis_results": serializers.JSONField(
                        help_text="The analysis summary (as trigger-analysis returns it)."
                    ),
                },
            ),
            description="The analysis finished within ML_WEBHOOK_WAIT_SECONDS (at most 2 s).",
        ),
        202: OpenApiResponse(
            inline_serializer(
                "PredictForErrorQueued",
                {
                    "success": serializers.BooleanField(),
                    "queued": serializers.BooleanField(),
                    "task_id": serializers.CharField(),
                    "error_id": serializers.CharField(),
                    "service": serializers.CharField(),
                    "analysis_type": serializers.CharField(),
                    "poll_url": serializers.CharField(
                        help_text="The analysis-runs list filtered to this service and type."
                    ),
                },
            ),
            description="Not finished within ML_WEBHOOK_WAIT_SECONDS (at most 2 s): the "
            "analysis goes on; poll `poll_url`.",
        ),
        400: OpenApiResponse(
            ErrorEnvelopeSerializer,
            description="Invalid body: unknown service or analysis_type, an error_id that is "
            "not a UUID, an unknown field, or a body that is not a JSON object.",
        ),
        **{code: views.ERRORS[code] for code in (401, 403, 500, 503)},
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
