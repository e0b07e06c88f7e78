"""/api/ml/health/ is for probes: anonymous callers get the status only, and a request costs
milliseconds: the Celery worker count (a ping waits its whole timeout) is shared through the
cache and taken again by one request at a time."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from ml_prediction import health_check

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

URL = "/api/ml/health/"
FULL = {
    "status",
    "health_score",
    "health_deductions",
    "active_models",
    "recent_predictions_1h",
    "recent_anomalies_1h",
    "services_analysed_1h",
    "services_failing",
    "timestamp",
    "checks",
    "down",
}


def _expired_client(user) -> APIClient:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_anonymous_callers_get_the_status_only_signed_in_ones_the_report(
    anon_client, readonly_client, ops_user, make_model, make_run
):
    # given a healthy system (a model, an analysis just now)
    make_model()
    make_run()

    anonymous = anon_client.get(URL)
    stale_token = _expired_client(ops_user).get(URL)
    signed_in = readonly_client.get(URL)

    # a probe, or a monitor holding an expired token, gets 200 and the status, nothing else
    for response in (anonymous, stale_token):
        assert response.status_code == 200
        assert set(response.json()) == {"status", "timestamp"}
    assert anonymous.json()["status"] == signed_in.json()["status"]
    assert signed_in.status_code == 200 and set(signed_in.json()) == FULL


def test_a_critical_system_is_503_for_anonymous_and_signed_in_callers(anon_client, readonly_client):
    # given no active model and no analysis: score 25, critical
    anonymous = anon_client.get(URL)
    signed_in = readonly_client.get(URL)

    assert (anonymous.status_code, anonymous.json()["status"]) == (503, "critical")
    assert set(anonymous.json()) == {"status", "timestamp"}
    assert signed_in.status_code == 503 and signed_in.json()["health_score"] == 25


def _timed_workers(results: list) -> None:
    started = time.monotonic()
    count = health_check._workers()
    results.append((time.monotonic() - started, count))


def test_concurrent_health_checks_ping_the_workers_once():
    # given no cached count and six probes at once (no worker runs here: the ping finds none)
    results: list = []
    threads = [threading.Thread(target=_timed_workers, args=(results,)) for _ in range(6)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then one of them pinged (the ping waits its whole timeout); the others did not wait
    durations = sorted(seconds for seconds, _ in results)
    assert durations[-1] >= health_check.WORKER_PING_TIMEOUT * 0.9
    assert durations[-2] < 0.5, durations
    assert cache.get(health_check.WORKERS_CACHE_KEY)["count"] == 0


def test_a_fresh_count_is_served_from_the_cache_and_a_stale_one_while_refreshing(anon_client):
    # given a count taken 5 s ago
    cache.set(health_check.WORKERS_CACHE_KEY, {"count": 3, "at": time.time() - 5}, timeout=60)

    started = time.monotonic()
    for _ in range(5):
        assert anon_client.get(URL).status_code in (200, 503)
    per_request = (time.monotonic() - started) / 5

    assert per_request < 0.5, f"{per_request:.2f} s per health request"
    assert health_check._workers() == 3

    # given the count is stale and another request is taking it again: the old count answers
    cache.set(health_check.WORKERS_CACHE_KEY, {"count": 3, "at": time.time() - 60}, timeout=60)
    cache.add(health_check.WORKERS_LOCK_KEY, 1, timeout=10)
    started = time.monotonic()

    assert health_check._workers() == 3
    assert time.monotonic() - started < 0.5
