"""Per-user API throttling with one counter per fixed window.

DRF's ``UserRateThrottle`` keeps the time of every request of the last window in the cache and
reads, trims and rewrites that list on every request: at the default 6,000/min it pickles a list
of thousands of floats twice per request, which cost more than the rest of a cached read. A
counter per (user, window) costs one atomic increment. The trade-off: a client can send up to
twice the rate across a window boundary.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)


class WindowUserRateThrottle(UserRateThrottle):
    """``UserRateThrottle`` with the same settings (rate ``user``), counted per fixed window."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        try:
            count = self._count(f"{self.key}:w{window}", int(self.duration) + 1)
        except Exception:  # the cache is down: serving beats refusing everyone
            logger.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True
        return count <= self.num_requests

    def _count(self, key: str, timeout: int) -> int:
        counter = getattr(self.cache, "count_in_window", None)
        if counter is not None:  # Redis: INCR + EXPIRE in one round trip
            return counter(key, timeout)
        if self.cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.add(key, 1, timeout=timeout)
            return 1

    def wait(self) -> float:
        return max(self.wait_seconds, 1.0)
