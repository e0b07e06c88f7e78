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


class _Published(list):
    """(task name, kwargs) per published task; ``etas``: each one's ETA header (None: now)."""

    def __init__(self) -> None:
        super().__init__()
        self.etas: list[str | None] = []


@pytest.fixture
def published(settings):
    """Analysis tasks published to the real broker during the test: (name, kwargs).

    Afterwards our messages (and only ours, by task id) are removed from the queue: the broker
    database is shared with another engineer's tests, whose worker must not run them.
    """
    sent = _Published()
    task_ids: set[str] = set()

    def record(sender=None, body=None, headers=None, **kwargs):
        task_kwargs = body[1] if isinstance(body, tuple | list) else {}
        sent.append((sender, task_kwargs))
        sent.etas.append((headers or {}).get("eta"))
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


def test_a_burst_of_1000_errors_enqueues_one_analysis_now_and_one_at_the_windows_end(
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

    # then one quick analysis of that service went to the broker at once (the first error),
    # and one more for the rest of the burst, due when the debounce window ends
    assert ErrorLog.objects.filter(service="angular").count() == 1000
    analysis = [(name, kw) for name, kw in published if name == TASK_NAME]
    assert analysis == [(TASK_NAME, {"service": "angular", "analysis_type": "quick"})] * 2
    leading, trailing = (
        eta for (name, _), eta in zip(published, published.etas, strict=True) if name == TASK_NAME
    )
    assert leading is None
    due = datetime.fromisoformat(trailing) - datetime.now(UTC)
    assert 30 < due.total_seconds() <= 60  # ML_ANALYSIS_DEBOUNCE_SECONDS


def test_errors_after_a_stray_one_are_analysed_when_its_window_ends(
    published, django_capture_on_commit_callbacks
):
    """Found in use: a burst 20 s after a single stray error waited for the next beat run,
    because the stray error had taken the service's debounce window."""
    with django_capture_on_commit_callbacks(execute=True):
        assert request_analysis(service="vue") is True  # the stray error
        assert request_analysis(service="vue") is False  # the burst: debounced …
        assert request_analysis(service="vue") is False
    etas = [
        eta for (name, _), eta in zip(published, published.etas, strict=True) if name == TASK_NAME
    ]
    assert len(etas) == 2 and etas[0] is None and etas[1] is not None  # … but not dropped


def test_the_trailing_analysis_is_one_per_window_across_processes(
    published, django_capture_on_commit_callbacks
):
    from error_logging.analysis_trigger import forget_local_state

    with django_capture_on_commit_callbacks(execute=True):
        assert request_analysis(service="java") is True
        for _ in range(3):  # other processes: no local knowledge, the Redis keys decide
            forget_local_state()
            assert request_analysis(service="java") is False
    assert len([name for name, _ in published if name == TASK_NAME]) == 2


def test_each_service_gets_its_own_window(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert request_analysis(service="react") is True
        assert request_analysis(service="react") is False
        assert request_analysis(service="flutter") is True
    sent = [
        (kw["service"], eta is None)
        for (name, kw), eta in zip(published, published.etas, strict=True)
        if name == TASK_NAME
    ]
    # at once: each service's first request; later: react's second, debounced one
    assert sorted(sent) == [("flutter", True), ("react", False), ("react", True)]


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
