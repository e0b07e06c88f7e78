"""Versioned cache for hot read endpoints: writers bump the version, readers key on it.

A bump makes every cached read stale at once without scanning keys; if the cache (Redis) is
down, reads fall through to the database and bumps are no-ops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
T = TypeVar("T")
_VERSION_KEY = "ml-read-version"


def read_cache_bump() -> None:
    """Invalidate cached reads; call after writing ML results."""
    try:
        try:
            cache.incr(_VERSION_KEY)
        except ValueError:
            cache.set(_VERSION_KEY, 1, timeout=None)
    except Exception:  # the cache is an optimisation; never fail a write because of it
        logger.warning("read cache unavailable; bump skipped", exc_info=True)


def _full_key(key: str) -> str:
    return f"ml-read:{cache.get(_VERSION_KEY) or 0}:{key}"


def cache_lookup(key: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``key`` is cached under the current version, else ``(False, None)``.

    A cache that is down counts as a miss.
    """
    try:
        hit = cache.get(_full_key(key))
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return False, None
    return hit is not None, hit


def cached_read(key: str, compute: Callable[[], T], *, ttl: int | None = None) -> T:
    """Return ``compute()``, cached for PREDICTION_CACHE_TTL under the current version."""
    timeout = settings.ML_PREDICTION_CONFIG["PREDICTION_CACHE_TTL"] if ttl is None else ttl
    if timeout <= 0:
        return compute()
    try:
        full_key = _full_key(key)
        hit: Any = cache.get(full_key)
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return compute()
    if hit is not None:
        return hit
    value = compute()
    try:
        cache.set(full_key, value, timeout=timeout)
    except Exception:
        logger.warning("read cache unavailable; not stored", exc_info=True)
    return value


def bump_on_model_change(sender: Any, **kwargs: Any) -> None:
    """Signal receiver (post_save/post_delete of the ML app's models): invalidate cached reads."""
    read_cache_bump()
