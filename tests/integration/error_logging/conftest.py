"""Fixtures for ingestion tests: ingest keys, an isolated cache prefix, small limits."""

from __future__ import annotations

import time
import uuid

import pytest

from error_logging.analysis_trigger import forget_local_state
from error_logging.ingest import common
from error_logging.ingest.common import clear_key_cache, clear_rate_state

RATE_WINDOW_MARGIN = 5.0  # seconds a rate-limit test needs inside one window


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
def within_one_minute() -> None:
    """Start when at least RATE_WINDOW_MARGIN seconds of the current minute remain.

    The rate limit counts per fixed one-minute window: a test whose two requests straddled
    a minute's end saw its second request counted in a fresh window and allowed (CI at
    01:09:59.95, 2026-11-30).
    """
    remaining = 60.0 - time.time() % 60.0
    if remaining < RATE_WINDOW_MARGIN:
        time.sleep(remaining + 0.05)


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
