"""Django's Redis cache backend, reusing one redis-py client per connection pool, never pickling.

Django builds a new ``redis.Redis`` object for every cache operation; with redis-py 5+ that
construction (a response-callback table of ~170 entries) cost more CPU than the round trip
itself, and an API request makes several cache operations (throttle, read cache, counts).
Clients are thread-safe and share the same pool, so one per pool is enough.

Values go through ``feeding_hearts.cache_serializer`` (JSON, no pickle) unless OPTIONS name
another serializer; a stored value it cannot read is a miss, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from feeding_hearts.cache_serializer import UndecodableCacheValue

logger = logging.getLogger(__name__)
DEFAULT_SERIALIZER = "feeding_hearts.cache_serializer.JSONRedisSerializer"


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def get(self, key: Any, default: Any) -> Any:
        value = self.get_client(key).get(key)
        return default if value is None else self._loads_or_miss(key, value, default)

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        keys = list(keys)
        missing = object()
        values = {
            key: self._loads_or_miss(key, value, missing)
            for key, value in zip(keys, self.get_client(None).mget(keys), strict=True)
            if value is not None
        }
        return {key: value for key, value in values.items() if value is not missing}

    def _loads_or_miss(self, key: Any, value: bytes, default: Any) -> Any:
        """The stored value, or ``default`` when it is not in our format (an old pickled entry
        after the upgrade, or a foreign writer): it is left to expire or be overwritten."""
        try:
            return self._serializer.loads(value)
        except UndecodableCacheValue as exc:
            logger.warning("cache entry %s is unreadable, treated as a miss: %s", key, exc)
            return default


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
        self._options = {"serializer": DEFAULT_SERIALIZER, **self._options}

    def count_in_window(self, key: str, timeout: int) -> int:
        """Increment a counter that expires ``timeout`` s after its first increment; one round trip.

        Django's ``incr`` checks existence first (two round trips) and cannot set an expiry.
        """
        client = self._cache.get_client(key, write=True)
        full_key = self.make_and_validate_key(key)
        pipe = client.pipeline(transaction=True)
        pipe.incr(full_key)
        pipe.expire(full_key, timeout, nx=True)
        count, _ = pipe.execute()
        return int(count)
