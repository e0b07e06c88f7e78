"""URL-facing views. Each is an APIView only so drf-spectacular documents it in /api/schema/;
``dispatch`` goes straight to the plain-Django handler, skipping DRF's request wrapping,
authentication and throttling on the hot path (the ingest key and rate limit are our own).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from error_logging.ingest import native, otlp, sentry
from error_logging.ingest.common import IngestHTTPError
from feeding_hearts.catalog import CATEGORIES, SERVICES, SEVERITIES

logger = logging.getLogger(__name__)


class ErrorItemSchema(serializers.Serializer):
    """Documentation only: one native error item (a list of these is accepted too)."""

    error_id = serializers.UUIDField(
        required=False, help_text="Idempotency key; generated if absent."
    )
    service = serializers.ChoiceField(
        SERVICES, required=False, help_text="Defaults to the key's service."
    )
    environment = serializers.CharField(required=False, default="production")
    release = serializers.CharField(required=False)
    host = serializers.CharField(required=False)
    platform = serializers.CharField(required=False)
    error_type = serializers.CharField()
    message = serializers.CharField(required=False)
    severity = serializers.ChoiceField(SEVERITIES, required=False, default="error")
    category = serializers.ChoiceField(CATEGORIES, required=False, help_text="Derived if absent.")
    endpoint = serializers.CharField(required=False)
    status_code = serializers.IntegerField(required=False, min_value=100, max_value=599)
    response_time_ms = serializers.FloatField(required=False, min_value=0)
    user_id = serializers.CharField(required=False)
    fingerprint = serializers.CharField(required=False, help_text="Derived if absent.")
    stacktrace = serializers.ListField(child=serializers.DictField(), required=False)
    tags = serializers.DictField(required=False)
    context = serializers.DictField(required=False)
    occurred_at = serializers.CharField(
        help_text="ISO 8601 or epoch seconds; defaults to now.", required=False
    )


class MetricItemSchema(serializers.Serializer):
    """Documentation only: one metric sample."""

    sample_id = serializers.UUIDField(required=False)
    service = serializers.ChoiceField(SERVICES, required=False)
    metric_name = serializers.CharField(
        help_text="response_time_ms, request_count, db_pool_in_use, cpu, memory, …"
    )
    value = serializers.FloatField()
    timestamp = serializers.CharField(help_text="ISO 8601 or epoch seconds.")
    tags = serializers.DictField(required=False)


class IngestAcceptedSchema(serializers.Serializer):
    service = serializers.CharField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    error_ids = serializers.ListField(child=serializers.CharField())


class IngestErrorSchema(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    index = serializers.IntegerField(required=False)
    field = serializers.CharField(required=False)


class SentryIdSchema(serializers.Serializer):
    id = serializers.CharField()


_ERRORS = {
    400: OpenApiResponse(
        IngestErrorSchema,
        "Malformed JSON or an invalid item (index and field named); nothing stored.",
    ),
    401: OpenApiResponse(IngestErrorSchema, "Missing or unknown ingest key."),
    403: OpenApiResponse(IngestErrorSchema, "The key belongs to another service / project."),
    413: OpenApiResponse(IngestErrorSchema, "Body or batch over the configured cap."),
    429: OpenApiResponse(IngestErrorSchema, "Rate limit exceeded; see Retry-After."),
    503: OpenApiResponse(
        IngestErrorSchema, "The database is unavailable; nothing stored; retry (see Retry-After)."
    ),
}
_KEY_HEADER = OpenApiParameter(
    "X-Ingest-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The service's ingest key (or Authorization: Bearer <key>).",
)
_SENTRY_AUTH = [
    OpenApiParameter(
        "X-Sentry-Auth",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Sentry sentry_version=7, sentry_key=<public key>",
    ),
    OpenApiParameter("sentry_key", str, OpenApiParameter.QUERY, required=False),
]


class _PlainDispatch(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    handler = None

    def dispatch(self, request, *args, **kwargs):
        try:
            return type(self).handler(request, *args, **kwargs)
        except (OperationalError, InterfaceError):
            # The database went away mid-request: the batch's transaction rolled back, so
            # nothing is stored; 503 tells the SDK to retry (ids make the retry idempotent).
            logger.error("ingest: database unavailable, answering 503", exc_info=True)
            return IngestHTTPError(
                503,
                "The error store is temporarily unavailable; nothing was stored. Retry shortly.",
                code="unavailable",
                headers={"Retry-After": "5"},
            ).response()


class ErrorIngestView(_PlainDispatch):
    handler = staticmethod(native.handle_errors)

    @extend_schema(
        tags=["ingestion"],
        summary="Ingest errors (one item or a list, all or nothing)",
        parameters=[_KEY_HEADER],
        request=ErrorItemSchema(many=True),
        responses={201: IngestAcceptedSchema, **_ERRORS},
        auth=[],
        examples=[
            OpenApiExample(
                "one error",
                value={
                    "error_type": "DatabaseTimeoutError",
                    "message": "query took 31s",
                    "severity": "error",
                    "endpoint": "/api/orders/",
                    "status_code": 504,
                    "response_time_ms": 31000,
                    "occurred_at": "2026-11-26T07:00:00Z",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):  # documentation only; dispatch() handles the request
        raise NotImplementedError


class MetricIngestView(_PlainDispatch):
    handler = staticmethod(native.handle_metrics)

    @extend_schema(
        tags=["ingestion"],
        summary="Ingest metric samples (one item or a list, all or nothing)",
        parameters=[_KEY_HEADER],
        request=MetricItemSchema(many=True),
        responses={201: IngestAcceptedSchema, **_ERRORS},
        auth=[],
    )
    def post(self, request):
        raise NotImplementedError


class SentryEnvelopeView(_PlainDispatch):
    handler = staticmethod(sentry.handle_envelope)

    @extend_schema(
        tags=["ingestion"],
        summary="Sentry-compatible envelope endpoint (DSN http://<key>@<host>/<project_id>)",
        description="Body: a Sentry envelope, plain or gzip/deflate/br. Event items become "
        'errors; other item types are accepted and ignored. Always 200 {"id": event_id} on success.',
        parameters=_SENTRY_AUTH,
        request={"application/x-sentry-envelope": str},
        responses={200: SentryIdSchema, **_ERRORS},
        auth=[],
    )
    def post(self, request, project_id):
        raise NotImplementedError


class SentryStoreView(_PlainDispatch):
    handler = staticmethod(sentry.handle_store)

    @extend_schema(
        tags=["ingestion"],
        summary="Sentry-compatible store endpoint (one event as JSON)",
        parameters=_SENTRY_AUTH,
        request={"application/json": dict},
        responses={200: SentryIdSchema, **_ERRORS},
        auth=[],
    )
    def post(self, request, project_id):
        raise NotImplementedError


class OtlpLogsView(_PlainDispatch):
    handler = staticmethod(otlp.handle_logs)

    @extend_schema(
        tags=["ingestion"],
        summary="OTLP/HTTP JSON logs: records at ERROR and above become errors",
        parameters=[_KEY_HEADER],
        request={"application/json": dict},
        responses={200: OpenApiResponse(description='{"partialSuccess": {}}'), **_ERRORS},
        auth=[],
    )
    def post(self, request):
        raise NotImplementedError
