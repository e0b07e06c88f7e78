"""Fixtures for ingestion tests: ingest keys, an isolated cache prefix, small limits."""

from __future__ import annotations

import uuid

import pytest

from error_logging.analysis_trigger import forget_local_state
from error_logging.ingest import common
from error_logging.ingest.common import clear_key_cache, clear_rate_state


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """A cache key prefix of our own: the Redis DB is shared with another engineer's tests."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"fh-test-ingest-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches
    clear_key_cache()
    clear_rate_state()
    forget_local_state()
    common._redis_down_until = 0.0
    yield
    clear_key_cache()
    clear_rate_state()
    forget_local_state()


@pytest.fixture
def ingest_config(settings):
    """Change ML_PREDICTION_CONFIG keys for one test: ingest_config(INGEST_MAX_BATCH=5)."""

    def change(**values):
        settings.ML_PREDICTION_CONFIG = {**settings.ML_PREDICTION_CONFIG, **values}

    return change


@pytest.fixture
def django_key(db):
    from error_logging.models import IngestKey

    return IngestKey.objects.create(service="django", project_id=101)


@pytest.fixture
def laravel_key(db):
    from error_logging.models import IngestKey

    return IngestKey.objects.create(service="laravel", project_id=202)


def error_item(**overrides) -> dict:
    item = {
        "error_type": "DatabaseTimeoutError",
        "message": "query on orders took 31000 ms",
        "severity": "error",
        "endpoint": "/api/orders/",
        "status_code": 504,
        "response_time_ms": 31000.0,
        "occurred_at": "2026-11-20T10:15:30Z",
    }
    item.update(overrides)
    return item
