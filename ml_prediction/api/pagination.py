"""Page-number pagination with the guide's {count, next, previous, results} shape, cheap count.

An exact ``COUNT(*)`` on every page halves list throughput on large tables (see
PERFORMANCE-NOTES), so ``count`` is computed in three steps, cheapest first:

1. the page itself: when it is the last page, ``count = offset + rows on it`` (no extra query);
2. a capped count: ``SELECT COUNT(*) FROM (… LIMIT EXACT_COUNT_LIMIT + 1)`` — exact for up to
   ``EXACT_COUNT_LIMIT`` rows and bounded in cost;
3. above the cap, on PostgreSQL, the planner's row estimate for the filtered query (never below
   the cap + 1), and the response carries ``X-Count-Estimated: true``. On SQLite (embedded
   quick start, small data) an exact count is used instead.

Steps 2-3 are cached per query (``cached_read``: PREDICTION_CACHE_TTL, invalidated whenever ML
results are written), so paging through a list costs one cache read per page, not two queries.

``next``/``previous`` never depend on the estimate: the page is fetched with one extra row, so
``next`` is present exactly when another row exists.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from ml_prediction.services.cache import cached_read

EXACT_COUNT_LIMIT = 2000


def _positive_int(raw: str | None, *, name: str, default: int, maximum: int | None) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: [f"must be a positive integer, got {raw!r}."]}) from None
    if value < 1:
        raise ValidationError({name: [f"must be a positive integer, got {raw!r}."]})
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"must be at most {maximum}, got {value}."]})
    return value


def estimated_count(queryset: QuerySet) -> int | None:
    """The PostgreSQL planner's row estimate for ``queryset`` (None on other databases)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_key(request: Any, *, ignore: tuple[str, ...] = ("page", "page_size")) -> str:
    """Cache key of a list's count: the path and its filters (not the page), order-insensitive.

    Keyed on the request rather than the SQL because a time window (``hours``) makes the SQL
    differ on every request; the count of such a list may lag the window by the cache TTL.
    """
    params = sorted(
        (k, v) for k, values in request.query_params.lists() if k not in ignore for v in values
    )
    digest = hashlib.sha1(f"{request.path}|{params!r}".encode(), usedforsecurity=False)
    return f"count:{digest.hexdigest()}"


def cheap_count(
    queryset: QuerySet, *, key: str | None = None, limit: int = EXACT_COUNT_LIMIT
) -> tuple[int, bool]:
    """``(count, is_estimate)``: exact up to ``limit`` rows, the planner's estimate above.

    With a ``key`` the answer is cached (``cached_read``) under it.
    """
    if key is None:
        return _cheap_count(queryset, limit=limit)
    return tuple(cached_read(key, lambda: _cheap_count(queryset, limit=limit)))


def _cheap_count(queryset: QuerySet, *, limit: int) -> tuple[int, bool]:
    capped = queryset.order_by()[: limit + 1].count()
    if capped <= limit:
        return capped, False
    estimate = estimated_count(queryset)
    if estimate is None:
        return queryset.count(), False
    return max(estimate, limit + 1), True


# Beyond this the OFFSET would overflow PostgreSQL's bigint: a clear 400 instead of a 500.
MAX_PAGE = 1_000_000


class StandardPagination(BasePagination):
    page_size = 20
    page_query_param = "page"
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        self.page_number = _positive_int(
            request.query_params.get(self.page_query_param),
            name=self.page_query_param,
            default=1,
            maximum=MAX_PAGE,
        )
        size = _positive_int(
            request.query_params.get(self.page_size_query_param),
            name=self.page_size_query_param,
            default=self.page_size,
            maximum=self.max_page_size,
        )
        offset = (self.page_number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        if not rows and self.page_number > 1:
            raise NotFound(f"Invalid page: page {self.page_number} is past the last page.")
        if not self.has_next:
            self.count, self.count_is_estimate = offset + len(rows), False
        elif isinstance(queryset, QuerySet):
            self.count, self.count_is_estimate = cheap_count(queryset, key=count_key(request))
        else:
            self.count, self.count_is_estimate = len(queryset), False
        return rows

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.page_number + 1)

    def get_previous_link(self) -> str | None:
        if self.page_number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.page_number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.page_number - 1)

    def get_paginated_data(self, data: Any) -> dict[str, Any]:
        return OrderedDict(
            [
                ("count", self.count),
                ("next", self.get_next_link()),
                ("previous", self.get_previous_link()),
                ("results", data),
            ]
        )

    def get_paginated_response(self, data: Any) -> Response:
        headers = {"X-Count-Estimated": "true"} if self.count_is_estimate else None
        return Response(self.get_paginated_data(data), headers=headers)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "example": 123,
                    "description": "Exact up to 2000 rows; above, the planner's estimate "
                    "(header X-Count-Estimated: true).",
                },
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number (1-based).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}, "
                f"max {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
