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


def _ttl(ttl: int | None) -> int:
    return settings.ML_PREDICTION_CONFIG["PREDICTION_CACHE_TTL"] if ttl is None else ttl


def cache_lookup(key: str) -> tuple[str | None, Any]:
    """``(versioned key, cached value or None)`` for ``key`` under the current version.

    Store a computed value under the returned versioned key (``cache_store``), not under a fresh
    one: if a write bumps the version meanwhile, the value lands under the old version and is
    never served. With the cache down the versioned key is None (compute, do not store).
    """
    try:
        full_key = f"ml-read:{cache.get(_VERSION_KEY) or 0}:{key}"
        return full_key, cache.get(full_key)
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return None, None


def cache_set_if_up(key: str, value: Any, *, timeout: int, what: str) -> None:
    """Store ``value``; a cache that is down is logged and skipped (it is an optimisation).

    A value the cache cannot encode (it never pickles) raises ``TypeError``: that is a bug to
    see in tests, not an outage to log.
    """
    try:
        cache.set(key, value, timeout=timeout)
    except TypeError:
        raise
    except Exception:
        logger.warning("%s unavailable; not stored", what, exc_info=True)


def cache_store(full_key: str | None, value: Any, *, ttl: int | None = None) -> None:
    """Store ``value`` under a versioned key from ``cache_lookup`` for PREDICTION_CACHE_TTL."""
    if full_key is not None:
        cache_set_if_up(full_key, value, timeout=_ttl(ttl), what="read cache")


def cached_read(key: str, compute: Callable[[], T], *, ttl: int | None = None) -> T:
    """Return ``compute()``, cached for PREDICTION_CACHE_TTL under the current version."""
    if _ttl(ttl) <= 0:
        return compute()
    full_key, hit = cache_lookup(key)
    if hit is not None:
        return hit
    value = compute()
    cache_store(full_key, value, ttl=ttl)
    return value


def bump_on_model_change(sender: Any, **kwargs: Any) -> None:
    """Signal receiver (post_save/post_delete of the ML app's models): invalidate cached reads."""
    read_cache_bump()
