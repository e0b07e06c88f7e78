"""The Redis cache backend reuses one redis-py client per pool and behaves like Django's."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches

from feeding_hearts.redis_cache import ReusedClientRedisCache


def test_one_client_is_reused_and_values_round_trip():
    cache = ReusedClientRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "redis-cache-test"})

    cache.set("k", {"a": 1}, timeout=10)
    first = cache._cache.get_client(write=True)
    got = cache.get("k")
    second = cache._cache.get_client()
    refused = cache.add("k", 2)
    cache.delete("n")
    added = cache.add("n", 0)
    counted = cache.incr("n")
    cache.delete_many(["k", "n"])

    assert got == {"a": 1}
    assert refused is False
    assert added is True
    assert counted == 1
    assert first is second
    assert cache.get("k") is None


def test_the_configured_default_cache_uses_it():
    assert isinstance(caches["default"], ReusedClientRedisCache)
