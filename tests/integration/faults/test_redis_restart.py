"""Redis stopped during ingestion: every error is still stored (no 5xx), and once Redis is back
the sweeper on the beat schedule analyses the services whose debounced requests were lost.

The server under test (this process, through the live server's real HTTP stack) and the worker
use a Redis of the test's own (never the shared one), started in memory only, so stopping and
starting it loses the queued analysis requests and debounce keys, as a crashed Redis would.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from error_logging.ingest import common
from error_logging.models import ErrorLog, IngestKey
from tests.integration.error_logging.conftest import error_item
from tests.integration.orchestrator.conftest import start_worker, wait_for

BOTH_DBS = ["default", "ml_prediction"]
pytestmark = pytest.mark.django_db(transaction=True, databases=BOTH_DBS)
ANALYSIS_DONE = re.compile(r"run_analysis_for_service\[[^\]]+\] succeeded in")


def _post_errors(base_url: str, key: IngestKey, count: int, label: str) -> int:
    """POST ``count`` errors of the last minutes; returns the HTTP status."""
    now = timezone.now()
    items = [
        error_item(
            message=f"{label} {i}",
            occurred_at=(now - timedelta(minutes=5 + i)).isoformat(),
        )
        for i in range(count)
    ]
    response = requests.post(
        f"{base_url}/api/errors/",
        json=items,
        headers={"X-Ingest-Key": key.public_key},
        timeout=30,
    )
    return response.status_code


def _analysed_at(service: str):
    from ml_prediction.models import AnomalyDetection

    return AnomalyDetection.objects.filter(service=service).aggregate(last=Max("detected_at"))[
        "last"
    ]


def test_errors_sent_while_redis_is_down_are_stored_and_swept_into_analysis_once_it_is_back(
    live_server, on_own_redis, tmp_path, caplog
):
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator

    own = on_own_redis
    keys = {
        service: IngestKey.objects.create(service=service, project_id=300 + i)
        for i, service in enumerate(["django", "laravel", "java", "react"])
    }
    broker = redis.Redis.from_url(own.url(0))

    # given java's errors, analysed since (nothing new to analyse there)
    assert _post_errors(live_server.url, keys["java"], 5, "java before") in (200, 201)
    PredictionOrchestrator().run_full_analysis("java", "quick")
    java_analysed_at = _analysed_at("java")
    assert java_analysed_at is not None
    # and django's and laravel's errors with Redis up: analysis requested through Redis
    for service in ("django", "laravel"):
        assert _post_errors(live_server.url, keys[service], 5, f"{service} before") in (200, 201)
    assert broker.llen("analysis") == 3  # java, django, laravel: nobody has taken them yet

    # when Redis stops and more errors arrive (django again, react for the first time)
    own.stop()
    ingest_log = logging.getLogger("error_logging")  # does not propagate to caplog's root
    ingest_log.addHandler(caplog.handler)
    try:
        statuses = [
            _post_errors(live_server.url, keys[service], 4, f"{service} during {n}")
            for n in range(3)
            for service in ("django", "react")
        ]
    finally:
        ingest_log.removeHandler(caplog.handler)

    # then every request was accepted and every error is stored
    assert all(status in (200, 201) for status in statuses), statuses
    # (having met the dead Redis: the rate limiter let them through, the debounce gave up)
    assert common._redis_down_until > time.time()
    assert "analysis request for react failed; errors are stored" in caplog.text
    assert ErrorLog.objects.count() == 5 * 3 + 4 * 3 * 2
    assert ErrorLog.objects.filter(service="react").count() == 12

    # when Redis comes back (empty: the queued requests are lost) and beat's sweep runs
    own.start()
    assert broker.llen("analysis") == 0
    (tmp_path / "artifacts").mkdir()
    worker = start_worker(
        artifact_dir=tmp_path / "artifacts",
        log_dir=tmp_path,
        name="faults-sweeper",
        queues="analysis",
    )
    try:
        from feeding_hearts.celery import app

        sweep = settings.CELERY_BEAT_SCHEDULE["sweep-unanalysed-services"]["task"]
        swept = app.send_task(sweep).get(timeout=30)
        wait_for(
            lambda: len(ANALYSIS_DONE.findall(worker.log())) >= 3,
            timeout=60,
            message="the swept services' analyses to finish",
        )
    finally:
        worker.stop()

    # then the services with unanalysed errors were analysed, and java was left alone
    assert swept == {"status": "queued", "services": ["django", "laravel", "react"]}
    assert _analysed_at("java") == java_analysed_at
    for service in ("django", "laravel", "react"):
        assert AnomalyDetection.objects.filter(service=service).count() == 12  # the last hour
    assert len(ANALYSIS_DONE.findall(worker.log())) == 3, worker.log()[-3000:]
