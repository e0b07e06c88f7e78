"""The ML API's views: thin wrappers that validate input, call selectors/services, serialize.

Reads: any authenticated user. State changes (trigger_alert, mark_occurred, feedback,
acknowledge, execute, skip, dismiss, trigger-analysis) and the audit trail: the ``ops``
permission. A query parameter an endpoint does not read is a 400 (``StrictQueryParameters``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from feeding_hearts.catalog import SERVICES
from ml_prediction.api import filters
from ml_prediction.api import serializers as s
from ml_prediction.api.errors import AnalysisFailed
from ml_prediction.api.permissions import IsOpsUser
from ml_prediction.api.renderers import FastJSONRenderer
from ml_prediction.services import feedback, selectors
from ml_prediction.services.audit import audit_record
from ml_prediction.services.cache import cache_lookup, cache_store

logger = logging.getLogger(__name__)

OPS = [IsAuthenticated, IsOpsUser]
RENDERERS = [FastJSONRenderer, BrowsableAPIRenderer]


def _error(description: str) -> OpenApiResponse:
    """An error response of the schema: the one envelope, ``{"error": {code, message, details}}``."""
    return OpenApiResponse(s.ErrorEnvelopeSerializer, description=description)


ERRORS = {
    400: _error(
        "Invalid input (`invalid`): the message names the parameter or field, and the accepted "
        "values or parameters where there is a closed set."
    ),
    401: _error("No JWT, or an invalid or expired one (`not_authenticated`, `token_not_valid`)."),
    403: _error("The user lacks the ops permission (`permission_denied`)."),
    404: _error("No such object, or the id is not a UUID (`not_found`)."),
    409: _error("The object's state does not allow this change (`conflict`)."),
    500: _error(
        "The analysis run in the request failed (`analysis_failed`): the message names the "
        "service and the exception; the traceback is in the ML error log."
    ),
    503: _error("The task queue is unreachable (`unavailable`); nothing was queued."),
}
READ_ERRORS = {k: ERRORS[k] for k in (400, 401)}
DETAIL_ERRORS = {k: ERRORS[k] for k in (400, 401, 404)}
WRITE_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 404, 409)}
TRIGGER_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 500, 503)}


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The task queue is unavailable; try again shortly."
    default_code = "unavailable"


def single_flight_read(key: str, compute: Any) -> Any:
    """``cached_read`` that does not stampede: while one request recomputes an expired or
    invalidated entry, concurrent requests get the previous value instead of recomputing it too.

    The previous value is at most one computation old; with no cache TTL it is not used.
    """
    if settings.ML_PREDICTION_CONFIG["PREDICTION_CACHE_TTL"] <= 0:
        return compute()
    full_key, hit = cache_lookup(key)
    if hit is not None:
        return hit
    lock_key, last_key = f"ml-read-lock:{key}", f"ml-read-last:{key}"
    try:
        if cache.get(lock_key):
            last = cache.get(last_key)
            if last is not None:
                return last
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)

    def locked_compute() -> Any:
        try:
            locked = cache.add(lock_key, 1, timeout=30)
        except Exception:
            return compute()
        try:
            value = compute()
            cache.set(last_key, value, timeout=3600)
            return value
        finally:
            if locked:
                cache.delete(lock_key)

    value = locked_compute()
    cache_store(full_key, value)
    return value


def _actor(request: Request) -> str:
    return request.user.get_username()


class StrictQueryParameters:
    """Refuses a query parameter the endpoint does not read, once the caller is authenticated
    and allowed (a 401/403 comes first), before any cache lookup: a misspelt filter would
    otherwise answer the unfiltered list as if it were the filtered one.

    Read: the filters of a list (or list action) that filters, its pagination, and ``format``;
    a detail route reads none of the list's.
    """

    def query_parameters(self) -> list[str]:
        names: list[str] = []
        if not getattr(self, "detail", False):
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                names += list(filterset_class.base_filters)
            paginator = getattr(self, "paginator", None)
            if paginator is not None:
                names += [p["name"] for p in paginator.get_schema_operation_parameters(self)]
        if api_settings.URL_FORMAT_OVERRIDE:
            names.append(api_settings.URL_FORMAT_OVERRIDE)
        return names

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        filters.refuse_unknown_parameters(request.query_params, accepted=self.query_parameters())


class _ReadViewSet(
    StrictQueryParameters,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List + retrieve, with the object looked up by a selector (invalid UUID → 404)."""

    lookup_value_regex = "[^/]+"
    renderer_classes = RENDERERS
    getter: Any = None

    def get_object(self) -> Any:
        return type(self).getter(**{self.lookup_url_kwarg: self.kwargs[self.lookup_url_kwarg]})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._page(self.get_queryset)

    def _rows(self, queryset: Any, serializer_class: Any) -> Any:
        """Filtered rows, as ``.values()`` dicts when the serializer reads plain columns only."""
        queryset = self.filter_queryset(queryset)
        if issubclass(serializer_class, s.RowSerializer):
            columns = serializer_class.value_fields(queryset.model)
            if columns:
                return queryset.values(*columns)
        return queryset

    def _page(self, queryset: Any, serializer_class: Any = None) -> Response:
        """One page of a list, cached per URL until the next write of ML rows.

        ``queryset`` is the view's ``get_queryset`` (called only on a cache miss: building the
        filtered query costs more than serving a hit). Dashboards poll the same few lists;
        every write of this app's rows bumps the read-cache version (``services.cache``), so a
        cached page is never older than the last write. A time window (``hours``) can lag by up
        to PREDICTION_CACHE_TTL as rows age out of it.
        """
        serializer_class = serializer_class or self.get_serializer_class()

        def compute() -> tuple[dict[str, Any], bool]:
            rows = self._rows(queryset(), serializer_class)
            page = self.paginate_queryset(rows)
            data = serializer_class(page, many=True).data
            return dict(self.paginator.get_paginated_data(data)), self.paginator.count_is_estimate

        url = self.request.build_absolute_uri().encode()
        key = f"page:{hashlib.sha1(url, usedforsecurity=False).hexdigest()}"  # any URL → safe key
        body, estimated = single_flight_read(key, compute)
        return Response(body, headers={"X-Count-Estimated": "true"} if estimated else None)


# --- models ----------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List models", responses={200: s.MLModelSerializer, **READ_ERRORS}),
    retrieve=extend_schema(
        summary="Model details", responses={200: s.MLModelDetailSerializer, **DETAIL_ERRORS}
    ),
)
class MLModelViewSet(_ReadViewSet):
    serializer_class = s.MLModelSerializer
    filterset_class = filters.MLModelFilter
    lookup_url_kwarg = "model_id"
    getter = staticmethod(selectors.model_get)

    def get_queryset(self) -> Any:
        return selectors.model_list()

    def get_serializer_class(self) -> Any:
        return s.MLModelDetailSerializer if self.action == "retrieve" else s.MLModelSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from ml_prediction.services.training import model_training_summary  # pandas: lazily

        model = self.get_object()
        model.training = model_training_summary(model=model)
        return Response(s.MLModelDetailSerializer(model).data)

    @extend_schema(
        summary="Model performance: current metrics and the daily trend (30 days)",
        responses={200: s.ModelPerformanceSerializer, **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def performance(self, request: Request, model_id: str) -> Response:
        data = selectors.model_performance(model_id=model_id)
        return Response(s.ModelPerformanceSerializer(data).data)

    @extend_schema(
        summary="Model features with importances",
        responses={200: s.ModelFeaturesSerializer, **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def features(self, request: Request, model_id: str) -> Response:
        return Response(s.ModelFeaturesSerializer(selectors.model_features(model_id=model_id)).data)


# --- predictions -----------------------------------------------------------------------------
def _hours(request: Request) -> float:
    raw = request.query_params.get("hours")
    if raw in (None, ""):
        return selectors.DEFAULT_PREDICTION_HOURS
    try:
        hours = float(raw)
    except ValueError:
        raise ValidationError({"hours": [f"must be a number of hours, got {raw!r}."]}) from None
    if not 1 <= hours <= 24 * 366:
        raise ValidationError({"hours": [f"must be between 1 and {24 * 366}, got {raw!r}."]})
    return hours


@extend_schema_view(
    list=extend_schema(
        summary="List predictions made in the last `hours` hours",
        responses={200: s.PredictionSerializer, **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One prediction", responses={200: s.PredictionSerializer, **DETAIL_ERRORS}
    ),
)
class PredictionViewSet(_ReadViewSet):
    serializer_class = s.PredictionSerializer
    filterset_class = filters.PredictionFilter
    lookup_url_kwarg = "prediction_id"
    getter = staticmethod(selectors.prediction_get)

    def get_queryset(self) -> Any:
        if self.action == "high_risk":
            made_within = _hours(self.request) if self.request.query_params.get("hours") else None
            return selectors.prediction_high_risk(hours=made_within)
        if self.action == "list":
            return selectors.prediction_list(hours=_hours(self.request))
        return selectors.prediction_list()

    @extend_schema(
        summary="High-risk predictions (probability >= HIGH_PROBABILITY_THRESHOLD, not yet due); "
        "the list's filters apply (`hours` only when given)",
        responses={200: s.PredictionSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def high_risk(self, request: Request) -> Response:
        return self._page(self.get_queryset)

    @extend_schema(
        summary="Send the alert for a prediction now",
        request=None,
        responses={200: s.TriggerAlertResultSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def trigger_alert(self, request: Request, prediction_id: str) -> Response:
        from ml_prediction.services.alerts import alert_prediction_now

        prediction = self.get_object()
        _refuse_body_fields(request)
        notifications = alert_prediction_now(
            prediction_id=prediction.prediction_id, triggered_by=_actor(request)
        )
        prediction.refresh_from_db(fields=["alert_triggered", "alert_sent_at"])
        data = {
            "prediction_id": prediction.prediction_id,
            "alert_triggered": prediction.alert_triggered,
            "alert_sent_at": prediction.alert_sent_at,
            "notifications": notifications,
        }
        return Response(s.TriggerAlertResultSerializer(data).data)

    @extend_schema(
        summary="Record that the predicted error happened",
        request=s.MarkOccurredInputSerializer,
        responses={200: s.PredictionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def mark_occurred(self, request: Request, prediction_id: str) -> Response:
        prediction = self.get_object()
        body = s.MarkOccurredInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            updated = feedback.prediction_mark_occurred(
                prediction_id=prediction.prediction_id,
                error_id=body.validated_data["error_id"],
                timestamp=body.validated_data["timestamp"],
                actor=_actor(request),
            )
        except feedback.FeedbackValidationError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        return Response(s.PredictionSerializer(updated).data)

    @extend_schema(
        summary="Give a verdict on a prediction (true or false positive); a second verdict "
        "from the same user replaces the first",
        request=s.FeedbackInputSerializer,
        responses={
            201: s.FeedbackSerializer,
            200: OpenApiResponse(
                s.FeedbackSerializer, description="Replaced this user's earlier verdict."
            ),
            **WRITE_ERRORS,
        },
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def feedback(self, request: Request, prediction_id: str) -> Response:
        prediction = self.get_object()
        body = s.FeedbackInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record, created = feedback.prediction_feedback_record(
            prediction_id=prediction.prediction_id,
            verdict=body.validated_data["verdict"],
            comment=body.validated_data["comment"],
            actor=_actor(request),
        )
        return Response(
            s.FeedbackSerializer(record).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --- anomalies -------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List anomalies", responses={200: s.AnomalySerializer, **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One anomaly", responses={200: s.AnomalySerializer, **DETAIL_ERRORS}
    ),
)
class AnomalyViewSet(_ReadViewSet):
    serializer_class = s.AnomalySerializer
    filterset_class = filters.AnomalyFilter
    lookup_url_kwarg = "anomaly_id"
    getter = staticmethod(selectors.anomaly_get)

    def get_queryset(self) -> Any:
        if self.action == "unacknowledged":
            return selectors.anomaly_unacknowledged()
        if self.action == "critical":
            return selectors.anomaly_critical()
        return selectors.anomaly_list()

    @extend_schema(
        summary="Anomalies nobody has acknowledged yet (the list's filters apply)",
        responses={200: s.AnomalySerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def unacknowledged(self, request: Request) -> Response:
        return self._page(self.get_queryset)

    @extend_schema(
        summary="Critical anomalies (the list's filters apply)",
        responses={200: s.AnomalySerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def critical(self, request: Request) -> Response:
        return self._page(self.get_queryset)

    @extend_schema(
        summary="Acknowledge an anomaly (409 if already acknowledged)",
        request=None,
        responses={200: s.AnomalySerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def acknowledge(self, request: Request, anomaly_id: str) -> Response:
        anomaly = self.get_object()
        _refuse_body_fields(request)
        updated = feedback.anomaly_acknowledge(anomaly_id=anomaly.anomaly_id, actor=_actor(request))
        return Response(s.AnomalySerializer(updated).data)


# --- forecasts -------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List forecasts", responses={200: s.ForecastSerializer, **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One forecast", responses={200: s.ForecastSerializer, **DETAIL_ERRORS}
    ),
)
class ForecastViewSet(_ReadViewSet):
    serializer_class = s.ForecastSerializer
    filterset_class = filters.ForecastFilter
    lookup_url_kwarg = "forecast_id"

    def get_object(self) -> Any:
        from ml_prediction.models import TimeSeriesForecast

        return selectors._get(
            TimeSeriesForecast.objects.all(), pk=self.kwargs["forecast_id"], what="forecast"
        )

    def get_queryset(self) -> Any:
        if self.action == "at_risk":
            return selectors.forecast_at_risk()
        return selectors.forecast_list()

    @extend_schema(
        summary="The newest forecast of each metric of one service",
        parameters=[
            OpenApiParameter(
                "service", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(SERVICES)
            )
        ],
        responses={200: s.ServiceForecastsSerializer, **DETAIL_ERRORS},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path=r"by-service/(?P<service>[^/.]+)",
        url_name="by-service",
        filterset_class=None,
        pagination_class=None,
    )
    def by_service(self, request: Request, service: str) -> Response:
        forecasts = selectors.forecast_latest_for_service(service=service)
        data = {"service": service, "count": len(forecasts), "results": forecasts}
        return Response(s.ServiceForecastsSerializer(data).data)

    @extend_schema(
        summary="Forecasts crossing their capacity limit, horizon not yet over",
        responses={200: s.ForecastSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def at_risk(self, request: Request) -> Response:
        return self._page(self.get_queryset)


# --- actions ---------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List preventive actions", responses={200: s.ActionSerializer, **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One preventive action", responses={200: s.ActionSerializer, **DETAIL_ERRORS}
    ),
)
class ActionViewSet(_ReadViewSet):
    serializer_class = s.ActionSerializer
    filterset_class = filters.ActionFilter
    lookup_url_kwarg = "action_id"
    getter = staticmethod(selectors.action_get)

    def get_queryset(self) -> Any:
        if self.action == "pending":
            return selectors.action_pending()
        return selectors.action_list()

    @extend_schema(
        summary="Actions not yet executed or skipped (recommended, scheduled)",
        responses={200: s.ActionSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def pending(self, request: Request) -> Response:
        return self._page(self.get_queryset)

    @extend_schema(
        summary="Execute a preventive action: by its webhook (automation) or, with a result, "
        "record that a person did it (400 without a result when nothing would run it; 409 if "
        "already executed or skipped)",
        request=s.ExecuteInputSerializer,
        responses={200: s.ActionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def execute(self, request: Request, action_id: str) -> Response:
        from ml_prediction.services.actions import (
            FINAL_STATES,
            ManualResultRequired,
            action_execute,
        )

        found = self.get_object()
        body = s.ExecuteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = body.validated_data.get("result")
        if result == {} and found.status not in FINAL_STATES:
            # an executed or skipped action goes on to the service's 409 whatever the body
            raise ValidationError({"result": [s.ExecuteInputSerializer.EMPTY_RESULT]})
        try:
            executed = action_execute(
                action_id=found.action_id, executed_by=_actor(request), result=result
            )
        except ManualResultRequired as exc:
            raise ValidationError({"result": [str(exc)]}) from exc
        return Response(s.ActionSerializer(executed).data)

    @extend_schema(
        summary="Skip a pending preventive action (it will not be done); 409 if already "
        "executed or skipped",
        request=s.SkipInputSerializer,
        responses={200: s.ActionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def skip(self, request: Request, action_id: str) -> Response:
        from ml_prediction.services.actions import action_skip

        found = self.get_object()
        body = s.SkipInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        skipped = action_skip(
            action_id=found.action_id,
            skipped_by=_actor(request),
            reason=body.validated_data["reason"],
        )
        return Response(s.ActionSerializer(skipped).data)

    @extend_schema(
        summary="Pending actions grouped by priority, critical first (50 per group); "
        "the list's filters apply",
        responses={200: s.ActionsByPrioritySerializer, **READ_ERRORS},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def by_priority(self, request: Request) -> Response:
        pending = self.filter_queryset(selectors.action_pending())
        data = {"priorities": selectors.action_by_priority(pending=pending)}
        return Response(s.ActionsByPrioritySerializer(data).data)


# --- insights --------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List AI insights", responses={200: s.InsightSerializer, **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One insight", responses={200: s.InsightSerializer, **DETAIL_ERRORS}
    ),
)
class InsightViewSet(_ReadViewSet):
    serializer_class = s.InsightSerializer
    filterset_class = filters.InsightFilter
    lookup_url_kwarg = "insight_id"

    def get_object(self) -> Any:
        from ml_prediction.models import AIInsight

        return selectors._get(AIInsight.objects.all(), pk=self.kwargs["insight_id"], what="insight")

    def get_queryset(self) -> Any:
        if self.action == "active":
            return selectors.insight_active()
        return selectors.insight_list()

    @extend_schema(
        summary="Active insights",
        responses={200: s.InsightSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=False, methods=["get"])
    def active(self, request: Request) -> Response:
        return self._page(self.get_queryset)

    @extend_schema(
        summary="Insight counts per service",
        responses={200: s.InsightSummarySerializer, **READ_ERRORS},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def by_service(self, request: Request) -> Response:
        return Response(s.InsightSummarySerializer(selectors.insight_summary_by_service()).data)

    @extend_schema(
        summary="Acknowledge an active insight: seen, still open (409 unless active)",
        request=None,
        responses={200: s.InsightSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def acknowledge(self, request: Request, insight_id: str) -> Response:
        from ml_prediction.services.insights import insight_acknowledge

        insight = self.get_object()
        _refuse_body_fields(request)
        updated = insight_acknowledge(insight_id=insight.insight_id, actor=_actor(request))
        return Response(s.InsightSerializer(updated).data)

    @extend_schema(
        summary="Dismiss an open insight as not useful (409 if dismissed or resolved)",
        request=None,
        responses={200: s.InsightSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=OPS, filterset_class=None)
    def dismiss(self, request: Request, insight_id: str) -> Response:
        from ml_prediction.services.insights import insight_dismiss

        insight = self.get_object()
        _refuse_body_fields(request)
        updated = insight_dismiss(insight_id=insight.insight_id, actor=_actor(request))
        return Response(s.InsightSerializer(updated).data)


# --- analysis runs ---------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Analysis runs, newest first: when each service was analysed, how long it took, "
        "what it stored, and why a failed run failed",
        responses={200: s.AnalysisRunSerializer, **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One analysis run", responses={200: s.AnalysisRunSerializer, **DETAIL_ERRORS}
    ),
)
class AnalysisRunViewSet(_ReadViewSet):
    serializer_class = s.AnalysisRunSerializer
    filterset_class = filters.AnalysisRunFilter
    lookup_url_kwarg = "run_id"
    getter = staticmethod(selectors.analysis_run_get)

    def get_queryset(self) -> Any:
        return selectors.analysis_run_list()


# --- audit trail -----------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="The audit trail (ops only)",
        responses={200: s.AuditEventSerializer, **{k: ERRORS[k] for k in (400, 401, 403)}},
    )
)
class AuditViewSet(StrictQueryParameters, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.AuditEventSerializer
    filterset_class = filters.AuditFilter
    permission_classes = OPS
    renderer_classes = RENDERERS

    def get_queryset(self) -> Any:
        return selectors.audit_list()


# --- analysis triggers -----------------------------------------------------------------------
ANALYSIS_TASK = "ml_prediction.tasks.run_analysis_for_service"


def _celery_app() -> Any:
    from feeding_hearts.celery import app

    return app


def _refuse_body_fields(request: Request) -> None:
    """Actions without input still read their body: a field sent to them is a 400 (the client
    believes it said something the server ignored), a non-object body too; none or ``{}`` is
    fine."""
    data = request.data
    if isinstance(data, Mapping) and not data:
        return
    s.NoBodyInputSerializer(data=data).is_valid(raise_exception=True)


def _eager() -> bool:
    return bool(_celery_app().conf.task_always_eager)


def _jsonable(value: Any) -> Any:
    """The orchestrator's result as plain JSON (UUIDs, datetimes, numpy scalars → str/float),
    its times in the API's UTC ``…Z`` form: the orchestrator writes Python's ``+00:00``
    isoformat (``as_of``) into its summaries, as strings or datetimes."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "item"):
            return obj.item()
        if isinstance(obj, datetime):
            return s._datetime(obj) if obj.tzinfo is not None else obj.isoformat()
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
        return str(obj)

    def utc(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: utc(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [utc(inner) for inner in item]
        return s._utc_text(item)

    return utc(json.loads(json.dumps(value, default=default)))


def _enqueue(service: str, analysis_type: str) -> str:
    try:
        result = _celery_app().send_task(
            ANALYSIS_TASK, kwargs={"service": service, "analysis_type": analysis_type}
        )
    except Exception as exc:
        logger.warning("could not enqueue analysis of %s: %s", service, exc)
        raise ServiceUnavailable() from exc
    return result.id


QUEUED = OpenApiResponse(s.AnalysisQueuedSerializer, description="Queued for a worker.")
COMPLETED = OpenApiResponse(
    s.AnalysisCompletedSerializer, description="Ran in-process (no broker: eager mode)."
)


class TriggerAnalysisView(StrictQueryParameters, APIView):
    permission_classes = OPS
    renderer_classes = RENDERERS

    @extend_schema(
        summary="Run an analysis of one service (full, quick or deep)",
        request=s.TriggerAnalysisInputSerializer,
        responses={202: QUEUED, 200: COMPLETED, **TRIGGER_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = s.TriggerAnalysisInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service = body.validated_data["service"]
        analysis_type = body.validated_data["analysis_type"]
        details: dict[str, Any] = {"analysis_type": analysis_type}
        if _eager():
            from ml_prediction.services import PredictionOrchestrator

            try:
                result = PredictionOrchestrator().run_full_analysis(
                    service, analysis_type=analysis_type
                )
            except Exception as exc:
                logger.exception("triggered %s analysis of %s failed", analysis_type, service)
                raise AnalysisFailed(service, f"{type(exc).__name__}: {exc}"[:300]) from exc
            response = Response(
                {
                    "status": "completed",
                    "service": service,
                    "analysis_type": analysis_type,
                    "result": _jsonable(result),
                }
            )
        else:
            task_id = _enqueue(service, analysis_type)
            details["task_id"] = task_id
            response = Response(
                {
                    "status": "queued",
                    "service": service,
                    "analysis_type": analysis_type,
                    "task_id": task_id,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        audit_record(
            actor=_actor(request),
            action="analysis.trigger",
            object_type="service",
            object_id=service,
            service=service,
            details=details,
        )
        return response


class TriggerAllServicesAnalysisView(StrictQueryParameters, APIView):
    permission_classes = OPS
    renderer_classes = RENDERERS

    @extend_schema(
        summary="Run an analysis of every service",
        request=s.TriggerAllInputSerializer,
        responses={202: QUEUED, 200: COMPLETED, **TRIGGER_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = s.TriggerAllInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        analysis_type = body.validated_data["analysis_type"]
        if _eager():
            from ml_prediction.services import PredictionOrchestrator

            try:
                # one failing service is reported in the result; this is the run itself failing
                result = PredictionOrchestrator().run_all_services(analysis_type=analysis_type)
            except Exception as exc:
                logger.exception("triggered %s analysis of all services failed", analysis_type)
                raise AnalysisFailed("all services", f"{type(exc).__name__}: {exc}"[:300]) from exc
            response = Response(
                {"status": "completed", "analysis_type": analysis_type, "result": _jsonable(result)}
            )
            details: dict[str, Any] = {"analysis_type": analysis_type}
        else:
            tasks = [{"service": svc, "task_id": _enqueue(svc, analysis_type)} for svc in SERVICES]
            response = Response(
                {"status": "queued", "analysis_type": analysis_type, "tasks": tasks},
                status=status.HTTP_202_ACCEPTED,
            )
            details = {"analysis_type": analysis_type, "tasks": tasks}
        audit_record(
            actor=_actor(request),
            action="analysis.trigger_all",
            object_type="service",
            object_id="all",
            details=details,
        )
        return response


# --- dashboard -------------------------------------------------------------------------------
class DashboardSummaryView(StrictQueryParameters, APIView):
    renderer_classes = RENDERERS

    @extend_schema(
        summary="The dashboard summary (cached for PREDICTION_CACHE_TTL, invalidated on writes)",
        responses={200: s.DashboardSummarySerializer, **READ_ERRORS},
    )
    def get(self, request: Request) -> Response:
        def compute() -> dict[str, Any]:
            return dict(s.DashboardSummarySerializer(selectors.dashboard_summary()).data)

        return Response(single_flight_read("dashboard-summary", compute))


__all__ = [
    "ActionViewSet",
    "AnomalyViewSet",
    "AuditViewSet",
    "DashboardSummaryView",
    "ForecastViewSet",
    "InsightViewSet",
    "MLModelViewSet",
    "PredictionViewSet",
    "TriggerAllServicesAnalysisView",
    "TriggerAnalysisView",
]
