"""Debounced analysis requests: a burst enqueues one analysis; Redis down never fails ingestion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.signals import before_task_publish

from error_logging.analysis_trigger import TASK_NAME, analysis_requests_suspended, request_analysis
from error_logging.models import ErrorLog
from error_logging.services import ingest_errors
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """Analysis tasks published to the real broker during the test: (name, kwargs)."""
    sent: list[tuple[str, dict]] = []

    def record(sender=None, body=None, headers=None, **kwargs):
        task_kwargs = body[1] if isinstance(body, tuple | list) else {}
        sent.append((sender, task_kwargs))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


def test_a_burst_of_1000_errors_enqueues_one_analysis(published, django_capture_on_commit_callbacks):
    # given 1,000 errors for one service: 99 batches of 10 and 10 single ORM saves
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(99):
            ingest_errors(service="angular", items=[error_item() for _ in range(10)])
        for _ in range(10):
            ErrorLog.objects.create(service="angular", error_type="TypeError", occurred_at=datetime.now(UTC))

    # then exactly one quick analysis of that service went to the broker
    assert ErrorLog.objects.filter(service="angular").count() == 1000
    analysis = [(name, kw) for name, kw in published if name == TASK_NAME]
    assert analysis == [(TASK_NAME, {"service": "angular", "analysis_type": "quick"})]


def test_each_service_gets_its_own_window(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert request_analysis(service="react") is True
        assert request_analysis(service="react") is False
        assert request_analysis(service="flutter") is True
    assert sorted(kw["service"] for name, kw in published if name == TASK_NAME) == ["flutter", "react"]


def test_suspended_requests_enqueue_nothing(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), analysis_requests_suspended():
        ingest_errors(service="laravel", items=[error_item()])
    assert [name for name, _ in published if name == TASK_NAME] == []


def test_redis_down_logs_and_ingestion_still_stores(settings, caplog, django_capture_on_commit_callbacks):
    # given a cache pointing at a closed port
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # when
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_errors(service="java", items=[error_item()])
    # then
    assert result.accepted == 1 and ErrorLog.objects.filter(service="java").count() == 1
    assert request_analysis(service="java") is False
    assert "analysis request for java failed" in caplog.text
