"""Real clients against the production server (gunicorn with the shipped gunicorn.conf.py, on a
free port): the sentry-sdk Python client, and chunked bodies, which Django alone would hand to
the view as an empty body."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
import sentry_sdk
from django.db import connections

from error_logging.analysis_trigger import debounce_key, trailing_key
from error_logging.models import ErrorLog, IngestKey
from feeding_hearts.catalog import SERVICES
from tests.conftest import python_command

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db(transaction=True)
def test_real_sentry_sdk_client_reaches_the_live_server(gunicorn_url):
    # given a key and the sentry-sdk pointed at the live test server (gunicorn, as shipped)
    key = IngestKey.objects.create(service="django", project_id=901)
    host = gunicorn_url
    sentry_sdk.init(
        dsn=f"http://{key.public_key}@{host}/901",
        default_integrations=False,
        auto_enabling_integrations=False,
        environment="test",
        release="fh@1.0",
        server_name="sdk-host",
    )
    try:
        # when an exception and a message are captured and flushed
        try:
            {}["missing"]
        except KeyError:
            exception_id = sentry_sdk.capture_exception()
        message_id = sentry_sdk.capture_message("disk almost full", level="warning")
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init(dsn=None)

    # then both are ErrorLog rows with the right type, message, level and service
    exception_row = ErrorLog.objects.get(error_id=uuid.UUID(exception_id))
    assert (exception_row.service, exception_row.error_type, exception_row.severity) == (
        "django",
        "KeyError",
        "error",
    )
    assert exception_row.message == "'missing'"
    assert exception_row.stacktrace and exception_row.stacktrace[-1]["function"].startswith(
        "test_real_sentry"
    )
    assert (exception_row.environment, exception_row.release, exception_row.host) == (
        "test",
        "fh@1.0",
        "sdk-host",
    )
    message_row = ErrorLog.objects.get(error_id=uuid.UUID(message_id))
    assert (
        message_row.service,
        message_row.error_type,
        message_row.message,
        message_row.severity,
    ) == (
        "django",
        "Message",
        "disk almost full",
        "warning",
    )


@pytest.fixture(scope="module")
def gunicorn_url(django_db_setup, django_db_blocker):
    """The shipped gunicorn.conf.py on a free port, talking to this test run's databases."""
    default = connections["default"].settings_dict
    ml = connections["ml_prediction"].settings_dict

    def url(conf: dict) -> str:
        return f"postgres://{conf['USER']}:{conf['PASSWORD']}@{conf['HOST']}:{conf['PORT']}/{conf['NAME']}"

    # The server shares the broker with another engineer's worker: take every service's
    # debounce window in the server's own cache namespace, so it enqueues no analysis there.
    prefix = f"fh-test-gunicorn-{uuid.uuid4().hex[:12]}"
    if os.environ.get("REDIS_URL"):
        from django.core.cache.backends.redis import RedisCache

        server_cache = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": prefix})
        for service in SERVICES:
            server_cache.set(debounce_key(service), 1, timeout=600)
            server_cache.set(trailing_key(service), 1, timeout=600)
    env = {
        **os.environ,
        "CACHE_KEY_PREFIX": prefix,
        "DATABASE_URL": url(default),
        "ML_DATABASE_URL": url(ml),
        "FH_TEST_DB_SUFFIX": "",
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "1",
    }
    process = subprocess.Popen(
        python_command("gunicorn", "feeding_hearts.wsgi", "-c", "gunicorn.conf.py"),
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        address = None
        while address is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("gunicorn exited early")
            match = re.search(r"Listening at: http://([\d.]+:\d+)", line)
            address = match.group(1) if match else None
        assert address, "gunicorn did not start"
        # keep draining its log so a full pipe never blocks the server
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
        with django_db_blocker.unblock():
            _wait_for_sessions_to_end()


def _wait_for_sessions_to_end() -> None:
    """The worker's database sessions end a moment after it exits; the test database can only
    be dropped once they have."""
    for alias in ("default",):
        with connections[alias].cursor() as cursor:
            for _ in range(50):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_chunked_body_without_content_length_is_read_through_gunicorn(gunicorn_url):
    # given a key and a body sent with Transfer-Encoding: chunked (no Content-Length)
    key = IngestKey.objects.create(service="java", project_id=902)
    event_id = uuid.uuid4().hex
    envelope = b"\n".join(
        [
            orjson.dumps({"event_id": event_id}),
            orjson.dumps({"type": "event"}),
            orjson.dumps(
                {
                    "event_id": event_id,
                    "level": "fatal",
                    "platform": "java",
                    "exception": {
                        "values": [
                            {"type": "java.lang.OutOfMemoryError", "value": "Java heap space"}
                        ]
                    },
                }
            ),
        ]
    )
    host, port = gunicorn_url.split(":")

    # when
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "POST",
        "/api/902/envelope/",
        body=iter([envelope[:40], envelope[40:]]),
        headers={
            "X-Sentry-Auth": f"Sentry sentry_key={key.public_key}, sentry_version=7",
            "Content-Type": "application/x-sentry-envelope",
        },
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = response.read()

    # then the event is stored, not silently lost
    assert response.status == 200, body
    assert orjson.loads(body) == {"id": event_id}
    row = ErrorLog.objects.get(error_id=uuid.UUID(event_id))
    assert (row.service, row.severity, row.category) == ("java", "critical", "memory")
