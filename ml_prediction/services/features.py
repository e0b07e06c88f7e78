"""Per-service bucket frames (engines/types.py convention) built from rollups and metric samples.

Cost grows with the number of minutes in the window, never with the number of stored errors:
we read ``ErrorRollup`` (one row per service per minute) and aggregate ``MetricSample`` in SQL.
Frames are cached for ``FEATURE_CACHE_TTL`` seconds, keyed by service, window and bucket size.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.utils import timezone

from error_logging.models import ErrorRollup, MetricSample
from ml_prediction.services.cache import cache_set_if_up

if TYPE_CHECKING:
    from ml_prediction.engines.root_cause import ReleaseSeen

logger = logging.getLogger(__name__)

COUNT_COLUMNS: tuple[str, ...] = (
    "total_count",
    "debug_count",
    "info_count",
    "warning_count",
    "error_count",
    "critical_count",
    "timeout_count",
    "connection_count",
    "auth_count",
    "database_count",
    "api_count",
    "validation_count",
    "memory_count",
    "other_count",
    "rt_count",
    "user_error_count",
)
FRAME_COLUMNS: tuple[str, ...] = (
    *COUNT_COLUMNS[:15],
    "rt_mean",
    "rt_p95",
    "rt_p99",
    "rt_max",
    "user_error_count",
)


def floor_to_bucket(moment: datetime, bucket_minutes: int) -> datetime:
    """The start of the bucket containing ``moment`` (UTC, aligned to the epoch)."""
    seconds = bucket_minutes * 60
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def histogram_percentiles(matrix: np.ndarray, q: float) -> np.ndarray:
    """``rollup_percentile`` of every row of a matrix of response-time histograms, vectorised.

    Same bucket edges and the same geometric interpolation inside the bucket holding the rank
    (a test keeps the two equal); rows with no response times give NaN.
    """
    from error_logging.rollups import RT_BUCKETS, RT_EDGES

    n, width = matrix.shape
    result = np.full(n, np.nan)
    if n == 0 or width == 0:
        return result
    totals = matrix.sum(axis=1)
    rows = np.flatnonzero(totals > 0)
    if rows.size == 0:
        return result
    counts = matrix[rows]
    cumulative = np.cumsum(counts, axis=1)
    rank = q * totals[rows]
    index = np.minimum((cumulative < rank[:, None]).sum(axis=1), width - 1)
    count = counts[np.arange(rows.size), index]
    before = cumulative[np.arange(rows.size), index] - count
    fraction = np.clip((rank - before) / np.maximum(count, 1e-12), 0.0, 1.0)
    edges = np.asarray((*RT_EDGES, RT_EDGES[-1]), dtype=float)
    low = edges[index]
    high = edges[np.minimum(index + 1, len(edges) - 1)]
    last = index + 1 >= RT_BUCKETS
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = low * np.power(
            np.where(low > 0, high / np.where(low > 0, low, 1.0), 1.0), fraction
        )
    values = np.where(low <= 0.0, high * fraction, geometric)
    result[rows] = np.where(last, low, values)
    return result


def _rollup_frame(
    *,
    service: str,
    start: datetime,
    end: datetime,
    index: pd.DatetimeIndex,
    bucket_minutes: int,
    percentiles: bool,
) -> pd.DataFrame:
    histogram_column = "rt_histogram" if percentiles else "rt_count"  # skip the JSON when unused
    rows = list(
        ErrorRollup.objects.filter(service=service, bucket__gte=start, bucket__lt=end)
        .order_by()
        .values_list("bucket", *COUNT_COLUMNS, "rt_sum", "rt_max", histogram_column)
    )
    n = len(index)
    data = {column: np.zeros(n) for column in FRAME_COLUMNS}
    data["rt_p95"], data["rt_p99"] = np.full(n, np.nan), np.full(n, np.nan)
    if rows:
        step = bucket_minutes * 60
        origin = int(start.timestamp())
        positions = np.fromiter(
            ((int(r[0].timestamp()) - origin) // step for r in rows),
            dtype=np.int64,
            count=len(rows),
        )
        values = np.array([r[1 : 1 + len(COUNT_COLUMNS) + 2] for r in rows], dtype=float)
        for i, column in enumerate(COUNT_COLUMNS):
            data[column] = np.bincount(positions, weights=values[:, i], minlength=n)[:n].astype(
                float
            )
        rt_sum = np.bincount(positions, weights=values[:, len(COUNT_COLUMNS)], minlength=n)[:n]
        rt_max = np.zeros(n)
        np.maximum.at(rt_max, positions, values[:, len(COUNT_COLUMNS) + 1])
        data["rt_max"] = rt_max
        with np.errstate(divide="ignore", invalid="ignore"):
            data["rt_mean"] = np.where(data["rt_count"] > 0, rt_sum / data["rt_count"], 0.0)
        width = max((len(r[-1] or ()) for r in rows), default=0) if percentiles else 0
        if width:
            histograms = np.zeros((n, width))
            for position, row in zip(positions, rows, strict=True):
                histogram = row[-1]
                if histogram:
                    histograms[position, : len(histogram)] += histogram
            data["rt_p95"] = histogram_percentiles(histograms, 0.95)
            data["rt_p99"] = histogram_percentiles(histograms, 0.99)
    return pd.DataFrame(data, index=index, columns=list(FRAME_COLUMNS))


def _finish_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers; response-time statistics NaN where no error carried one (as the
    simulator's frames, which the engines are tested on)."""
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    no_rt = frame["rt_count"] == 0
    frame.loc[no_rt, ["rt_mean", "rt_p95", "rt_p99", "rt_max"]] = np.nan
    return frame


def _metric_frame(
    *, service: str, start: datetime, end: datetime, bucket_minutes: int
) -> pd.DataFrame:
    """Mean of each metric per bucket, aggregated by the database where it can."""
    alias = router.db_for_read(MetricSample)
    connection = connections[alias]
    seconds = bucket_minutes * 60
    if connection.vendor == "postgresql":
        sql = (
            "SELECT metric_name, to_timestamp(floor(extract(epoch FROM timestamp) / %s) * %s), "
            "avg(value) FROM metric_samples WHERE service = %s AND timestamp >= %s "
            "AND timestamp < %s GROUP BY 1, 2"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [seconds, seconds, service, start, end])
            rows = cursor.fetchall()
        raw = pd.DataFrame(rows, columns=["metric_name", "bucket", "value"])
    else:
        rows = list(
            MetricSample.objects.filter(service=service, timestamp__gte=start, timestamp__lt=end)
            .order_by()
            .values_list("metric_name", "timestamp", "value")
        )
        raw = pd.DataFrame(rows, columns=["metric_name", "bucket", "value"])
        if not raw.empty:
            raw["bucket"] = pd.to_datetime(raw["bucket"], utc=True).dt.floor(f"{bucket_minutes}min")
            raw = raw.groupby(["metric_name", "bucket"], as_index=False)["value"].mean()
    if raw.empty:
        return pd.DataFrame()
    raw["bucket"] = pd.to_datetime(raw["bucket"], utc=True)
    raw["value"] = raw["value"].astype(float)
    wide = raw.pivot_table(index="bucket", columns="metric_name", values="value", aggfunc="mean")
    wide.columns = [f"metric_{name}" for name in wide.columns]
    return wide


def metric_quantile_series(
    *,
    service: str,
    metric_name: str,
    start: datetime,
    end: datetime,
    q: float,
    step_minutes: int = 60,
) -> pd.Series:
    """The ``q`` quantile of one metric's samples per step over [start, end), NaN where none.

    From the raw samples, not the bucket frame's per-bucket means: a p95 of means is smoother
    than the p95 of what the service reported. Steps are aligned to the epoch like buckets;
    the quantile interpolates linearly between samples (PostgreSQL's ``percentile_cont``).
    """
    start = floor_to_bucket(start, step_minutes)
    end = floor_to_bucket(end, step_minutes)
    index = pd.date_range(start, end, freq=f"{step_minutes}min", inclusive="left", tz="UTC")
    connection = connections[router.db_for_read(MetricSample)]
    seconds = step_minutes * 60
    if connection.vendor == "postgresql":
        sql = (
            "SELECT to_timestamp(floor(extract(epoch FROM timestamp) / %s) * %s), "
            "percentile_cont(%s) WITHIN GROUP (ORDER BY value) FROM metric_samples "
            "WHERE service = %s AND metric_name = %s AND timestamp >= %s AND timestamp < %s "
            "GROUP BY 1"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [seconds, seconds, q, service, metric_name, start, end])
            rows = cursor.fetchall()
        raw = pd.DataFrame(rows, columns=["step", "value"])
    else:
        rows = list(
            MetricSample.objects.filter(
                service=service, metric_name=metric_name, timestamp__gte=start, timestamp__lt=end
            )
            .order_by()
            .values_list("timestamp", "value")
        )
        raw = pd.DataFrame(rows, columns=["step", "value"])
        if not raw.empty:
            raw["step"] = pd.to_datetime(raw["step"], utc=True).dt.floor(f"{step_minutes}min")
            raw = raw.groupby("step", as_index=False)["value"].quantile(q)
    if raw.empty:
        return pd.Series(np.nan, index=index, name=metric_name, dtype=float)
    values = pd.Series(
        raw["value"].astype(float).to_numpy(), index=pd.to_datetime(raw["step"], utc=True)
    )
    return values.reindex(index).rename(metric_name)


def bucket_frame_for_service(
    *,
    service: str,
    start: datetime,
    end: datetime,
    bucket_minutes: int | None = None,
    percentiles: bool = True,
) -> pd.DataFrame:
    """The bucket frame of ``service`` for [start, end), one row per bucket, cached briefly.

    ``start`` and ``end`` are floored to bucket boundaries; missing buckets are zero rows and
    metric columns are NaN where nothing was sampled (the feature builder forward-fills them).
    ``percentiles=False`` skips the response-time histograms (rt_p95/rt_p99 stay NaN) for
    callers that only need counts.
    """
    minutes = bucket_minutes or settings.ML_PREDICTION_CONFIG["BUCKET_MINUTES"]
    start = floor_to_bucket(start, minutes)
    end = floor_to_bucket(end, minutes)
    ttl = settings.ML_PREDICTION_CONFIG["FEATURE_CACHE_TTL"]
    key = (
        f"fh-features:{service}:{int(start.timestamp())}:{int(end.timestamp())}:{minutes}"
        f":{int(percentiles)}"
    )
    if ttl > 0:
        try:
            hit = cache.get(key)
        except Exception:
            logger.warning("feature cache unavailable; computing", exc_info=True)
            hit = None
        if hit is not None:
            return hit.copy()
    index = pd.date_range(start, end, freq=f"{minutes}min", inclusive="left", tz="UTC")
    frame = _rollup_frame(
        service=service,
        start=start,
        end=end,
        index=index,
        bucket_minutes=minutes,
        percentiles=percentiles,
    )
    frame = _finish_frame(frame)
    metrics = _metric_frame(service=service, start=start, end=end, bucket_minutes=minutes)
    if not metrics.empty:
        frame = frame.join(metrics.reindex(index), how="left")
    frame.index.name = "bucket"
    if ttl > 0:
        cache_set_if_up(key, frame, timeout=ttl, what="feature cache")
    return frame


def error_type_counts_for_service(
    *, service: str, start: datetime, end: datetime
) -> dict[str, int]:
    """error_type → count over [start, end), summed from the rollups' per-minute counters."""
    counter: Counter[str] = Counter()
    for types in (
        ErrorRollup.objects.filter(service=service, bucket__gte=start, bucket__lt=end)
        .order_by()
        .values_list("error_types", flat=True)
    ):
        for name, count in (types or {}).items():
            counter[name] += int(count)
    return dict(counter)


# error_name_counts_for_service: how many of the window's newest stored errors are read for
# their messages, and how many "type: message template" names are kept.
NAME_SAMPLE_ROWS = 5000
NAME_LIMIT = 30


def _newest_sample_counts(
    *, service: str, start: datetime, end: datetime, group_by: tuple[str, ...], example: str = ""
) -> list[tuple]:
    """Rows ``(*group_by, count[, min(example)])`` over the window's newest NAME_SAMPLE_ROWS
    stored errors: the sample the root cause reads names and releases from, bounded in an
    outage hour of millions of errors.

    Why one statement over the LIMITed sample rather than ``pk__in`` it: PostgreSQL then
    fetched every sampled row a second time by primary key (25.8 ms against 3.6 ms for 5,000
    errors of a 520,000-error day, EXPLAIN ANALYZE).
    """
    from django.db import connections

    from error_logging.models import ErrorLog

    columns = (*group_by, example) if example else group_by
    sample = (
        ErrorLog.objects.filter(service=service, occurred_at__gte=start, occurred_at__lt=end)
        .order_by("-occurred_at")
        .values_list(*columns)[:NAME_SAMPLE_ROWS]
    )
    sql, params = sample.query.get_compiler(using=sample.db).as_sql()
    keys = ", ".join(f'sample."{c}"' for c in group_by)
    extra = f', MIN(sample."{example}")' if example else ""
    with connections[sample.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {keys}, COUNT(*){extra} FROM ({sql}) AS sample GROUP BY {keys}", params
        )
        return cursor.fetchall()


def error_name_counts_for_service(
    *, service: str, start: datetime, end: datetime
) -> dict[str, int]:
    """ "ErrorType: message template" → count over [start, end), for the root-cause engine.

    A generic type name hides the mechanism its message states (a java.sql.SQLException whose
    message is "Connection is not available, request timed out after 30000ms" is a pool
    exhausted), and two incidents of one type with different messages are different incidents.
    The counts are the rollups' exact per-type counts, split across each type's message
    templates in the proportions of the window's newest NAME_SAMPLE_ROWS stored errors (one
    grouped query, bounded in an outage hour of millions of errors). A type none of whose
    errors is in the sample keeps its bare name; beyond NAME_LIMIT names, the rarest fold back
    into their type's bare name.
    """
    from ml_prediction.engines.root_cause import message_template

    per_type = error_type_counts_for_service(service=service, start=start, end=end)
    if not per_type:
        return {}
    sample: dict[str, Counter[str]] = {}
    for error_type, _, n, example in _newest_sample_counts(
        service=service,
        start=start,
        end=end,
        group_by=("error_type", "fingerprint"),
        example="message",
    ):
        template = message_template(example or "")
        name = f"{error_type}: {template}" if template else error_type
        sample.setdefault(error_type, Counter())[name] += int(n)
    names: Counter[str] = Counter()
    for error_type, count in per_type.items():
        groups = sample.get(error_type)
        if not groups:
            names[error_type] += count
            continue
        seen = sum(groups.values())
        for name, n in groups.items():
            names[name] += round(count * n / seen)
    kept = dict(names.most_common(NAME_LIMIT))
    for name, count in names.items():
        if name not in kept and count:
            error_type = name.split(": ", 1)[0]
            kept[error_type] = kept.get(error_type, 0) + count
    return {name: count for name, count in kept.items() if count > 0}


def release_errors_for_service(
    *, service: str, start: datetime, end: datetime
) -> list[ReleaseSeen]:
    """The releases the errors of [start, end) carried, for the root-cause engine's release check:
    each with its count among the window's newest NAME_SAMPLE_ROWS errors and its first error
    from ``RELEASE_LOOKBACK`` before ``start`` on (`root_cause.ReleaseSeen`).

    Why two small queries per release rather than one aggregate over the look-back: each is
    one step down the (service, release, occurred_at) index, so a release new in the window
    no longer reads the service's whole day to prove it had no error before it
    (benchmarks/release_bench.py).
    """
    from error_logging.models import ErrorLog
    from ml_prediction.engines.root_cause import RELEASE_LOOKBACK, ReleaseSeen

    counts = {
        release: int(n)
        for release, n in _newest_sample_counts(
            service=service, start=start, end=end, group_by=("release",)
        )
    }
    seen = []
    for release, count in counts.items():
        carrying = ErrorLog.objects.filter(service=service, release=release).order_by("occurred_at")
        first = (
            carrying.filter(occurred_at__gte=start - RELEASE_LOOKBACK, occurred_at__lt=start)
            .values_list("occurred_at", flat=True)
            .first()
        ) or (
            carrying.filter(occurred_at__gte=start, occurred_at__lt=end)
            .values_list("occurred_at", flat=True)
            .first()
        )
        if first is not None:
            seen.append(ReleaseSeen(release, count, first))
    return seen


def metric_weekly_means_for_service(
    *, service: str, metric_name: str, start: datetime, end: datetime, weeks: int
) -> list[float | None]:
    """The mean of one metric's samples over [start, end) shifted back by 1, 2, … ``weeks``
    weeks, newest first; None for a week without samples (the root cause's traffic reference:
    `root_cause.analyze_root_cause`'s ``traffic_week_ago``). One query: each week's mean is a
    filtered average over its own range of the (service, metric_name, timestamp) index."""
    from django.db.models import Avg, Q

    ranges = [(start - timedelta(weeks=w), end - timedelta(weeks=w)) for w in range(1, weeks + 1)]
    if not ranges:
        return []
    within = Q()
    for low, high in ranges:
        within |= Q(timestamp__gte=low, timestamp__lt=high)
    means = MetricSample.objects.filter(within, service=service, metric_name=metric_name).aggregate(
        **{
            f"w{w}": Avg("value", filter=Q(timestamp__gte=low, timestamp__lt=high))
            for w, (low, high) in enumerate(ranges, start=1)
        }
    )
    return [None if means[f"w{w}"] is None else float(means[f"w{w}"]) for w in range(1, weeks + 1)]


def error_total_for_service(*, service: str, start: datetime, end: datetime) -> int:
    """How many errors the rollups counted for ``service`` in [start, end)."""
    from django.db.models import Sum

    total = ErrorRollup.objects.filter(
        service=service, bucket__gte=start, bucket__lt=end
    ).aggregate(n=Sum("total_count"))["n"]
    return int(total or 0)


def lookback_window(*, hours: float, as_of: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the last ``hours`` ending at the current bucket boundary."""
    minutes = settings.ML_PREDICTION_CONFIG["BUCKET_MINUTES"]
    end = floor_to_bucket(as_of or timezone.now(), minutes)
    return end - timedelta(hours=hours), end
