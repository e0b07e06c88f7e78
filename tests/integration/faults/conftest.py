"""Fault tests reuse the ingestion fixtures (an ingest key, an isolated cache prefix), and add
what they may break and repair: a Redis server of their own (never the shared one) and a TCP
forwarder to PostgreSQL that makes a database unreachable for the processes pointed at it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.error_logging.conftest import django_key, isolated_cache  # noqa: F401


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A ``redis-server`` on a free port, in memory only (``--save ''``): a restart loses all."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url(0), socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server on port {self.port} did not start"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as an orderly shutdown of the server would send."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    """A running Redis of this test's own; killed at the end whatever happened."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = OwnRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def reset_celery_connections() -> None:
    """Forget the Celery app's broker connections and result backend (they follow the URLs)."""
    from kombu import pools

    from feeding_hearts.celery import app

    # The app's pool is kombu's global pool for the broker URL: closing it alone would leave a
    # closed pool registered under the original URL for every later test ("Acquire on closed
    # pool"). reset() closes every pool and empties the registries, so the next use builds
    # fresh ones for whatever URL is configured then.
    with contextlib.suppress(Exception):  # a pool's server may be the one a test stopped
        pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def on_own_redis(own_redis, settings) -> Iterator[OwnRedis]:
    """This process (the server under test) and the workers it starts use ``own_redis``: broker
    on DB 0; cache, debounce keys, locks and results on DB 1."""
    broker, cache = own_redis.url(0), own_redis.url(1)
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["LOCATION"] = cache
    settings.CACHES = caches
    settings.REDIS_URL = cache
    settings.CELERY_BROKER_URL = broker
    settings.CELERY_RESULT_BACKEND = cache
    # Celery reads these from the environment before its settings; workers inherit them.
    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(
        {"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": cache, "REDIS_URL": cache}
    )
    reset_celery_connections()
    try:
        yield own_redis
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_celery_connections()


class TcpForwarder:
    """A TCP port that pipes every connection to ``target``: while it is stopped, the service
    behind it is unreachable (connections refused); started, it is back."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones (as a network partition would)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def postgres_forwarder() -> Iterator[TcpForwarder]:
    """A stopped forwarder to this run's PostgreSQL; stopped again at the end."""
    from django.db import connections

    conf = connections["ml_prediction"].settings_dict
    forwarder = TcpForwarder(free_port(), (conf["HOST"] or "127.0.0.1", int(conf["PORT"] or 5432)))
    try:
        yield forwarder
    finally:
        forwarder.stop()
