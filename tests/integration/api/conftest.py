"""Fixtures of the API tests: small row factories on the ML database, a clean read cache."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from ml_prediction.models import (
    AIInsight,
    AnalysisRun,
    AnomalyDetection,
    ErrorPrediction,
    MLModel,
    PreventiveAction,
    TimeSeriesForecast,
)

_seq = itertools.count()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The test users' passwords need no 870,000 PBKDF2 rounds (seconds per test on 2 cores)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clean_read_cache():
    """Cached reads (Redis, this run's own cache DB) must not leak from one test to the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_model():
    def make(**overrides: Any) -> MLModel:
        values = {
            "model_name": f"django-anomaly-detector-v{next(_seq)}",
            "model_type": "anomaly_detection",
            "service": "django",
            "framework": "scikit-learn",
            "model_algorithm": "isolation_forest",
            "status": "active",
            "accuracy": 0.85,
            "precision": 0.82,
            "recall": 0.88,
            "f1_score": 0.85,
            "features_count": 3,
            "feature_names": ["hour_of_day", "error_rate", "rt_p95"],
            "feature_importances": {"hour_of_day": 0.1, "error_rate": 0.6, "rt_p95": 0.3},
            "last_trained_at": timezone.now() - timedelta(hours=2),
        }
        values.update(overrides)
        return MLModel.objects.create(**values)

    return make


@pytest.fixture
def make_prediction():
    def make(**overrides: Any) -> ErrorPrediction:
        now = timezone.now()
        values = {
            "service": "django",
            "predicted_error_type": "DatabaseConnectionTimeout",
            "predicted_category": "database",
            "predicted_severity": "high",
            "probability": 0.82,
            "confidence_level": "high",
            "time_horizon_minutes": 45,
            "prediction_bucket": now - timedelta(seconds=next(_seq)),  # never hours old
            "predicted_timestamp": now + timedelta(minutes=45),
            "affected_users_count": 523,
            "recommended_actions": [{"action_type": "increase_pool"}],
            "created_at": now,
        }
        values.update(overrides)
        return ErrorPrediction.objects.create(**values)

    return make


@pytest.fixture
def make_anomaly():
    def make(**overrides: Any) -> AnomalyDetection:
        now = timezone.now()
        start = now - timedelta(minutes=5 * (next(_seq) + 1))
        values = {
            "service": "laravel",
            "window_start": start,
            "window_end": start + timedelta(minutes=5),
            "detected_at": now,
            "anomaly_score": 0.92,
            "is_anomaly": True,
            "severity_level": "critical",
            "anomaly_type": "spike",
            "root_cause_hypothesis": "Database connection pool exhaustion",
            "recommended_action": "Increase connection pool size",
        }
        values.update(overrides)
        return AnomalyDetection.objects.create(**values)

    return make


@pytest.fixture
def make_forecast():
    def make(**overrides: Any) -> TimeSeriesForecast:
        now = timezone.now()
        values = {
            "service": "django",
            "metric_name": "error_count",
            "model_algorithm": "seasonal_naive",
            "forecast_start": now - timedelta(minutes=next(_seq)),
            "forecast_end": now + timedelta(hours=24),
            "forecast_values": [
                {"timestamp": now.isoformat(), "value": 10.0, "lower": 8.0, "upper": 12.0}
            ],
            "is_at_risk": False,
            "created_at": now,
        }
        values.update(overrides)
        return TimeSeriesForecast.objects.create(**values)

    return make


@pytest.fixture
def make_action():
    def make(**overrides: Any) -> PreventiveAction:
        values = {
            "service": "django",
            "action_type": "increase_pool",
            "title": "Increase the database connection pool",
            "priority": "high",
            "status": "recommended",
        }
        values.update(overrides)
        return PreventiveAction.objects.create(**values)

    return make


@pytest.fixture
def make_insight():
    def make(**overrides: Any) -> AIInsight:
        values = {
            "service": "django",
            "insight_type": "rising_trend",
            "title": "Timeouts rising",
            "description": "Timeouts doubled since yesterday.",
            "severity": "warning",
            "status": "active",
            "dedup_key": f"k{next(_seq)}",
        }
        values.update(overrides)
        return AIInsight.objects.create(**values)

    return make


@pytest.fixture
def make_error():
    """A stored ErrorLog (default database), e.g. the error a prediction foretold."""
    from error_logging.models import ErrorLog

    def make(**overrides: Any) -> ErrorLog:
        values = {
            "service": "django",
            "error_type": "DatabaseConnectionTimeout",
            "message": "connection pool exhausted",
            "severity": "error",
            "occurred_at": timezone.now(),
        }
        values.update(overrides)
        return ErrorLog.objects.create(**values)

    return make


def ids(response: Any, key: str) -> set[str]:
    return {row[key] for row in response.json()["results"]}


@pytest.fixture
def broker():
    """This run's own broker database, emptied before and after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def make_run():
    """One recorded analysis: by default a completed full run of django that predicted, as of
    the current bucket boundary, finished now."""

    def make(**overrides: Any) -> AnalysisRun:
        from ml_prediction.services.features import floor_to_bucket

        now = timezone.now()
        values = {
            "service": "django",
            "analysis_type": "full",
            "as_of": floor_to_bucket(now, 5),
            "status": "completed",
            "predicted": True,
            "started_at": now - timedelta(seconds=2),
            "completed_at": now,
            "duration_ms": 2000.0,
        }
        values.update(overrides)
        return AnalysisRun.objects.create(**values)

    return make
