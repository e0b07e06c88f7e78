"""Per-(service, kind) locks so one service is never analysed or trained twice at once.

Redis locks (token-checked release, expiry as a safety net) when Redis is configured; the
embedded quick start has one process, so the local cache's ``add`` is enough there. A lock whose
owner process on this host is gone (a worker killed with SIGKILL) is taken over at once instead
of blocking the service until the lock expires.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "fh-lock"


def process_alive(pid: int) -> bool:
    """True when ``pid`` names a live (non-zombie) process on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)


def _owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def _owner_is_dead(token: str) -> bool:
    host, _, rest = token.partition(":")
    pid_text = rest.split(":", 1)[0]
    return host == socket.gethostname() and pid_text.isdigit() and not process_alive(int(pid_text))


class LockHeld(Exception):
    """Another process is analysing or training this service right now."""


@contextlib.contextmanager
def service_lock(*, service: str, kind: str, timeout: int) -> Iterator[None]:
    """Hold the (service, kind) lock for the block, or raise ``LockHeld`` without waiting."""
    name = f"{_PREFIX}:{kind}:{service}"
    token = _owner_token()
    if settings.REDIS_URL:
        client = _redis()
        acquired = bool(client.set(name, token, nx=True, ex=timeout))
        if not acquired:
            current = client.get(name)
            if current and _owner_is_dead(current.decode()):
                logger.warning("taking over %s from dead owner %s", name, current.decode())
                # compare-and-set so two rescuers cannot both win
                pipe_ok = client.eval(
                    "if redis.call('get', KEYS[1]) == ARGV[1] then "
                    "return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) else return 0 end",
                    1,
                    name,
                    current,
                    token,
                    timeout,
                )
                acquired = bool(pipe_ok)
        if not acquired:
            raise LockHeld(f"{kind} of {service} is already running")
        try:
            yield
        finally:
            client.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                "else return 0 end",
                1,
                name,
                token,
            )
        return
    if not cache.add(name, token, timeout=timeout):
        raise LockHeld(f"{kind} of {service} is already running")
    try:
        yield
    finally:
        if cache.get(name) == token:
            cache.delete(name)


def service_lock_held(*, service: str, kind: str) -> bool:
    """Whether someone holds the lock (for tests and the health page)."""
    name = f"{_PREFIX}:{kind}:{service}"
    if settings.REDIS_URL:
        return bool(_redis().exists(name))
    return cache.get(name) is not None
