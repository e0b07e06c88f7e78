"""Per-minute rollups: the fixed response-time histogram and the race-free upsert.

The orchestrator's feature builder reads ErrorRollup instead of raw rows; it calls
``rollup_percentile`` on the stored histogram to get p95/p99 without duplicating the bucket edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from django.db import transaction
from django.db.models import Field

from feeding_hearts.catalog import CATEGORIES, SEVERITIES

# Geometric bucket edges in milliseconds: [0, 1), [1, 1.05), [1.05, 1.1025), … up to ~10 minutes,
# then one overflow bucket. A 5% ratio keeps interpolated p95/p99 within ~2.5% of exact.
RT_RATIO = 1.05
RT_MAX_EDGE_MS = 600_000.0
_LOG_RATIO = math.log(RT_RATIO)
RT_EDGES: tuple[float, ...] = (
    0.0,
    *(RT_RATIO**k for k in range(math.ceil(math.log(RT_MAX_EDGE_MS) / _LOG_RATIO) + 1)),
)
RT_BUCKETS = len(RT_EDGES)  # bucket i covers [RT_EDGES[i], RT_EDGES[i+1]); the last is open


def rt_bucket(value_ms: float) -> int:
    """Index of the histogram bucket holding a response time."""
    if value_ms < 1.0:
        return 0
    index = int(math.log(value_ms) / _LOG_RATIO) + 1
    # floating point may land one bucket off at an exact edge
    if index < RT_BUCKETS and RT_EDGES[index] > value_ms:
        index -= 1
    elif index + 1 < RT_BUCKETS and RT_EDGES[index + 1] <= value_ms:
        index += 1
    return min(index, RT_BUCKETS - 1)


def rollup_percentile(histogram: list[int], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) of the response times counted in a rollup histogram.

    Interpolates geometrically inside the bucket that holds the rank; 0.0 for an empty histogram.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, got {q}")
    total = sum(histogram)
    if total <= 0:
        return 0.0
    rank = q * total
    cumulative = 0
    for index, count in enumerate(histogram):
        if count <= 0:
            continue
        if cumulative + count >= rank:
            low = RT_EDGES[index]
            if index + 1 >= RT_BUCKETS:
                return low
            high = RT_EDGES[index + 1]
            fraction = max(0.0, min(1.0, (rank - cumulative) / count))
            if low <= 0.0:
                return high * fraction
            return low * (high / low) ** fraction
        cumulative += count
    return RT_EDGES[min(len(histogram), RT_BUCKETS) - 1]


def merge_histograms(a: list[int], b: list[int]) -> list[int]:
    """Element-wise sum of two histograms (either may be shorter or empty)."""
    if len(a) < len(b):
        a, b = b, a
    merged = list(a)
    for i, count in enumerate(b):
        merged[i] += count
    return merged


@dataclass
class RollupDelta:
    """What one batch adds to one (service, minute) rollup row."""

    total: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    rt_count: int = 0
    rt_sum: float = 0.0
    rt_max: float = 0.0
    rt_histogram: dict[int, int] = field(default_factory=dict)
    user_errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        *,
        severity: str,
        category: str,
        error_type: str,
        response_time_ms: float | None,
        has_user: bool,
    ) -> None:
        self.total += 1
        self.severities[severity] = self.severities.get(severity, 0) + 1
        self.categories[category] = self.categories.get(category, 0) + 1
        self.error_types[error_type] = self.error_types.get(error_type, 0) + 1
        if has_user:
            self.user_errors += 1
        if response_time_ms is not None:
            self.rt_count += 1
            self.rt_sum += response_time_ms
            if response_time_ms > self.rt_max:
                self.rt_max = response_time_ms
            b = rt_bucket(response_time_ms)
            self.rt_histogram[b] = self.rt_histogram.get(b, 0) + 1


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def rollup_deltas(rows: Iterable[tuple]) -> dict[tuple[str, datetime], RollupDelta]:
    """Group rows of (service, occurred_at, severity, category, error_type, rt_ms, user_id)."""
    deltas: dict[tuple[str, datetime], RollupDelta] = {}
    for service, occurred_at, severity, category, error_type, rt_ms, user_id in rows:
        key = (service, minute_of(occurred_at))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = RollupDelta()
        delta.add(
            severity=severity,
            category=category,
            error_type=error_type,
            response_time_ms=rt_ms,
            has_user=bool(user_id),
        )
    return deltas


_COUNT_FIELDS = [f"{s}_count" for s in SEVERITIES] + [f"{c}_count" for c in CATEGORIES]
UPDATE_FIELDS = [
    "total_count",
    *_COUNT_FIELDS,
    "rt_count",
    "rt_sum",
    "rt_max",
    "rt_histogram",
    "user_error_count",
    "error_types",
    "updated_at",
]
# Every column of a rollup row, in the order the upsert (and the benchmarks' COPY) write them.
ROLLUP_COLUMNS = ["service", "bucket", *UPDATE_FIELDS]


def rollup_upsert(*, deltas: dict[tuple[str, datetime], RollupDelta]) -> int:
    """Add deltas to ErrorRollup rows: create missing rows, lock in a fixed order, merge, update.

    Portable (PostgreSQL and SQLite) and race-free: concurrent batches serialise on the row locks,
    taken in (service, bucket) order so two batches never deadlock. Call inside the transaction
    that inserts the counted rows.
    """
    from django.db import connections
    from django.utils import timezone

    from error_logging.models import ErrorRollup

    if not deltas:
        return 0
    if connections["default"].vendor == "postgresql":
        return _rollup_upsert_postgresql(deltas, now=timezone.now())
    with transaction.atomic(using="default", savepoint=False):
        ErrorRollup.objects.bulk_create(
            [ErrorRollup(service=s, bucket=b) for (s, b) in sorted(deltas)],
            ignore_conflicts=True,
        )
        services = sorted({s for s, _ in deltas})
        buckets = sorted({b for _, b in deltas})
        locked = list(
            ErrorRollup.objects.select_for_update()
            .filter(service__in=services, bucket__in=buckets)
            .order_by("service", "bucket")
        )
        now = timezone.now()
        changed = []
        for row in locked:
            delta = deltas.get((row.service, row.bucket))
            if delta is None:
                continue
            row.total_count += delta.total
            for name, count in delta.severities.items():
                attr = f"{name}_count"
                setattr(row, attr, getattr(row, attr) + count)
            for name, count in delta.categories.items():
                attr = f"{name}_count"
                setattr(row, attr, getattr(row, attr) + count)
            row.rt_count += delta.rt_count
            row.rt_sum += delta.rt_sum
            row.rt_max = max(row.rt_max, delta.rt_max)
            if delta.rt_histogram:
                histogram = list(row.rt_histogram or [])
                needed = max(delta.rt_histogram) + 1
                if len(histogram) < needed:
                    histogram.extend([0] * (needed - len(histogram)))
                for index, count in delta.rt_histogram.items():
                    histogram[index] += count
                row.rt_histogram = histogram
            row.user_error_count += delta.user_errors
            types = dict(row.error_types or {})
            for name, count in delta.error_types.items():
                types[name] = types.get(name, 0) + count
            row.error_types = types
            row.updated_at = now
            changed.append(row)
        _update_rows(changed)
    return len(changed)


def _update_rows(rows: list) -> None:
    """Write the merged rows with one parameterised UPDATE per row (``executemany``).

    ``bulk_update`` builds a CASE/WHEN expression per field per row in Python (~6 ms per row
    here), which made sparse traffic (a batch spanning hundreds of minutes) ingest at ~250
    errors/s; plain ``executemany`` costs well under a millisecond per row on both databases.
    """
    import json

    from django.db import connections

    from error_logging.models import ErrorRollup

    if not rows:
        return
    connection = connections["default"]
    quote = connection.ops.quote_name
    meta = ErrorRollup._meta
    # concrete fields only (get_field may return a relation in general)
    columns = [str(cast(Field, meta.get_field(name)).column) for name in UPDATE_FIELDS]
    json_fields = {"rt_histogram", "error_types"}
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(meta.db_table),
        ", ".join(f"{quote(column)} = %s" for column in columns),
        quote(str(cast(Field, meta.pk).column)),
    )
    params = [
        [
            json.dumps(getattr(row, name)) if name in json_fields else getattr(row, name)
            for name in UPDATE_FIELDS
        ]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


_PG_ADDITIVE = ["total_count", *_COUNT_FIELDS, "rt_count", "rt_sum", "user_error_count"]
_PG_UPSERT = """
INSERT INTO error_rollups ({columns}) VALUES {values}
ON CONFLICT (service, bucket) DO UPDATE SET
  {additive},
  rt_max = GREATEST(error_rollups.rt_max, EXCLUDED.rt_max),
  rt_histogram = (
    SELECT COALESCE(jsonb_agg(
      COALESCE((error_rollups.rt_histogram ->> i)::bigint, 0)
      + COALESCE((EXCLUDED.rt_histogram ->> i)::bigint, 0) ORDER BY i), '[]'::jsonb)
    FROM generate_series(0, GREATEST(jsonb_array_length(error_rollups.rt_histogram),
                                     jsonb_array_length(EXCLUDED.rt_histogram)) - 1) AS i),
  error_types = (
    SELECT COALESCE(jsonb_object_agg(key, total), '{{}}'::jsonb) FROM (
      SELECT key, SUM(value::bigint) AS total FROM (
        SELECT * FROM jsonb_each_text(error_rollups.error_types)
        UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.error_types)) AS pairs
      GROUP BY key) AS merged),
  updated_at = EXCLUDED.updated_at
"""


def _rollup_upsert_postgresql(deltas: dict, *, now: datetime) -> int:
    """One INSERT … ON CONFLICT DO UPDATE for the whole batch, merging the JSON histogram and
    error-type counts in SQL. Rows go in (service, bucket) order so concurrent batches lock in
    the same order and cannot deadlock."""
    import orjson
    from django.db import connections

    params: list = []
    placeholders = []
    row_sql = (
        "("
        + ", ".join(
            "%s::jsonb" if c in ("rt_histogram", "error_types") else "%s" for c in ROLLUP_COLUMNS
        )
        + ")"
    )
    for service, bucket in sorted(deltas):
        d = deltas[(service, bucket)]
        histogram = [0] * (max(d.rt_histogram) + 1 if d.rt_histogram else 0)
        for index, count in d.rt_histogram.items():
            histogram[index] = count
        params += [service, bucket, d.total]
        params += [d.severities.get(name[:-6], 0) for name in _COUNT_FIELDS[: len(SEVERITIES)]]
        params += [d.categories.get(name[:-6], 0) for name in _COUNT_FIELDS[len(SEVERITIES) :]]
        params += [
            d.rt_count,
            d.rt_sum,
            d.rt_max,
            orjson.dumps(histogram).decode(),
            d.user_errors,
            orjson.dumps(d.error_types).decode(),
            now,
        ]
        placeholders.append(row_sql)
    sql = _PG_UPSERT.format(
        columns=", ".join(ROLLUP_COLUMNS),
        values=", ".join(placeholders),
        additive=",\n  ".join(f"{c} = error_rollups.{c} + EXCLUDED.{c}" for c in _PG_ADDITIVE),
    )
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
    return len(deltas)
