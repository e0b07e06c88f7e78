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
def published(settings):
    """Analysis tasks published to the real broker during the test: (name, kwargs).

    Afterwards our messages (and only ours, by task id) are removed from the queue: the broker
    database is shared with another engineer's tests, whose worker must not run them.
    """
    sent: list[tuple[str, dict]] = []
    task_ids: set[str] = set()

    def record(sender=None, body=None, headers=None, **kwargs):
        task_kwargs = body[1] if isinstance(body, tuple | list) else {}
        sent.append((sender, task_kwargs))
        task_ids.add((headers or {}).get("id", ""))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
    _remove_messages(settings.CELERY_BROKER_URL, task_ids)


def _remove_messages(broker_url: str, task_ids: set[str]) -> None:
    if not broker_url.startswith("redis") or not task_ids:
        return
    import orjson
    import redis

    client = redis.Redis.from_url(broker_url)
    for queue in ("analysis", "celery"):
        for raw in client.lrange(queue, 0, -1):
            try:
                message_id = orjson.loads(raw).get("headers", {}).get("id")
            except orjson.JSONDecodeError:
                continue
            if message_id in task_ids:
                client.lrem(queue, 1, raw)


def test_a_burst_of_1000_errors_enqueues_one_analysis(
    published, django_capture_on_commit_callbacks
):
    # given 1,000 errors for one service: 99 batches of 10 and 10 single ORM saves
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(99):
            ingest_errors(service="angular", items=[error_item() for _ in range(10)])
        for _ in range(10):
            ErrorLog.objects.create(
                service="angular", error_type="TypeError", occurred_at=datetime.now(UTC)
            )

    # then exactly one quick analysis of that service went to the broker
    assert ErrorLog.objects.filter(service="angular").count() == 1000
    analysis = [(name, kw) for name, kw in published if name == TASK_NAME]
    assert analysis == [(TASK_NAME, {"service": "angular", "analysis_type": "quick"})]


def test_each_service_gets_its_own_window(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert request_analysis(service="react") is True
        assert request_analysis(service="react") is False
        assert request_analysis(service="flutter") is True
    assert sorted(kw["service"] for name, kw in published if name == TASK_NAME) == [
        "flutter",
        "react",
    ]


def test_suspended_requests_enqueue_nothing(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), analysis_requests_suspended():
        ingest_errors(service="laravel", items=[error_item()])
    assert [name for name, _ in published if name == TASK_NAME] == []


def test_redis_down_logs_and_ingestion_still_stores(
    settings, caplog, django_capture_on_commit_callbacks
):
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
