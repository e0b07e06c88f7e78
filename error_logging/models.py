"""Errors, metrics, ingest keys and per-minute rollups, on the default database."""

from __future__ import annotations

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from feeding_hearts.catalog import CATEGORIES, SERVICE_CHOICES, SEVERITIES

SEVERITY_CHOICES = [(s, s.capitalize()) for s in SEVERITIES]
CATEGORY_CHOICES = [(c, c.capitalize()) for c in CATEGORIES]


# The largest project id / rate limit the columns hold (PositiveIntegerField: 32-bit).
MAX_KEY_NUMBER = 2_147_483_647


def _public_key() -> str:
    return secrets.token_hex(16)


class IngestKey(models.Model):
    """A per-service key: the DSN public key of the Sentry endpoints, the X-Ingest-Key elsewhere."""

    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    name = models.CharField(max_length=100, blank=True, default="")
    public_key = models.CharField(max_length=64, unique=True, default=_public_key)
    secret_key = models.CharField(max_length=64, blank=True, default="")
    project_id = models.PositiveIntegerField(
        unique=True, help_text="The DSN project id; maps to this key's service."
    )
    is_active = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ingest_keys"
        ordering = ["service", "created_at"]

    def __str__(self) -> str:
        return f"{self.service} key {self.public_key[:8]}… (project {self.project_id})"

    def clean(self) -> None:
        """0 fits the columns but means nothing: a limit of 0 was read as "the default", and
        DSN project ids start at 1. (A key is stopped by clearing is_active.)"""
        errors = {}
        if self.rate_limit_per_minute == 0:
            errors["rate_limit_per_minute"] = (
                "Must be at least 1 item per minute; leave it empty for the default "
                "(ML_INGEST_RATE_LIMIT_PER_MINUTE), or clear 'is active' to stop the key."
            )
        if self.project_id == 0:
            errors["project_id"] = "DSN project ids start at 1."
        if errors:
            raise ValidationError(errors)


class ErrorLog(models.Model):
    """One error reported by a service."""

    error_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES)
    environment = models.CharField(max_length=64, blank=True, default="production")
    release = models.CharField(max_length=200, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    platform = models.CharField(max_length=64, blank=True, default="")
    error_type = models.CharField(max_length=255)
    message = models.TextField(blank=True, default="")
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, default="error")
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES, default="other")
    endpoint = models.CharField(max_length=500, blank=True, default="")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_time_ms = models.FloatField(null=True, blank=True)
    user_id = models.CharField(max_length=200, blank=True, default="")
    # no index of its own: (service, fingerprint, occurred_at) serves the lookups, and every
    # index costs ingestion throughput
    fingerprint = models.CharField(max_length=64)
    stacktrace = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "error_logs"
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["service", "occurred_at"]),
            models.Index(fields=["service", "fingerprint", "occurred_at"]),
            # the root cause's release check: a release's first error of the day, found
            # without reading the day (features.release_errors_for_service)
            models.Index(
                fields=["service", "release", "occurred_at"], name="error_logs_svc_release_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.error_type}: {self.message[:60]}"

    def save(self, *args, **kwargs) -> None:
        """ORM saves get the same derived fields as ingestion (category, fingerprint)."""
        from error_logging.normalize import derive_category, fingerprint

        if not self.category or (self.category == "other" and self._state.adding):
            self.category = derive_category(self.error_type, self.message or "")
        if not self.fingerprint:
            self.fingerprint = fingerprint(
                self.error_type, self.message or "", self.stacktrace or []
            )
        super().save(*args, **kwargs)


class MetricSample(models.Model):
    """A system metric of a service at a time (response time, pool usage, cpu, memory, …)."""

    sample_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES)
    metric_name = models.CharField(max_length=100)
    value = models.FloatField()
    timestamp = models.DateTimeField()
    tags = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "metric_samples"
        ordering = ["-timestamp"]
        indexes = [models.Index(fields=["service", "metric_name", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.service} {self.metric_name}={self.value} at {self.timestamp:%Y-%m-%d %H:%M}"


class ErrorRollup(models.Model):
    """Per service per minute: counts by severity and category and a response-time histogram.

    Upserted in the same transaction as the ErrorLog rows it counts, so features read rollups
    and never scan raw errors.
    """

    service = models.CharField(max_length=20, choices=SERVICE_CHOICES)
    bucket = models.DateTimeField(help_text="Start of the minute.")
    total_count = models.PositiveIntegerField(default=0)
    # severities
    debug_count = models.PositiveIntegerField(default=0)
    info_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    critical_count = models.PositiveIntegerField(default=0)
    # categories
    timeout_count = models.PositiveIntegerField(default=0)
    connection_count = models.PositiveIntegerField(default=0)
    auth_count = models.PositiveIntegerField(default=0)
    database_count = models.PositiveIntegerField(default=0)
    api_count = models.PositiveIntegerField(default=0)
    validation_count = models.PositiveIntegerField(default=0)
    memory_count = models.PositiveIntegerField(default=0)
    other_count = models.PositiveIntegerField(default=0)
    # response times of the errors that carried one
    rt_count = models.PositiveIntegerField(default=0)
    rt_sum = models.FloatField(default=0.0)
    rt_max = models.FloatField(default=0.0)
    rt_histogram = models.JSONField(default=list, blank=True)
    # distinct users are not additive; we keep the count of errors that named a user
    user_error_count = models.PositiveIntegerField(default=0)
    error_types = models.JSONField(default=dict, blank=True, help_text="error_type → count")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "error_rollups"
        ordering = ["-bucket"]
        constraints = [
            models.UniqueConstraint(fields=["service", "bucket"], name="uniq_rollup_bucket")
        ]
        indexes = [models.Index(fields=["bucket"])]

    def __str__(self) -> str:
        return f"{self.service} {self.bucket:%Y-%m-%d %H:%M}: {self.total_count} errors"
