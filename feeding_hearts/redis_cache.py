"""Django's Redis cache backend, reusing one redis-py client per connection pool.

Django builds a new ``redis.Redis`` object for every cache operation; with redis-py 5+ that
construction (a response-callback table of ~170 entries) cost more CPU than the round trip
itself, and an API request makes several cache operations (throttle, read cache, counts).
Clients are thread-safe and share the same pool, so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

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
