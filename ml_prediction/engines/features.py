"""Feature rows from a bucket frame: the guide's temporal, error-type and system features, plus
lags and rolling statistics the models need.

Every feature at bucket t uses only buckets <= t (causal), so the same function serves training
(all rows) and streaming scoring (the last row). Pure pandas/numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_prediction.engines.catalog import CATEGORIES, SEVERITIES
from ml_prediction.engines.forecasting import format_number
from ml_prediction.engines.types import InsufficientData

COUNT_COLUMNS: tuple[str, ...] = (
    "total_count",
    *(f"{s}_count" for s in SEVERITIES),
    *(f"{c}_count" for c in CATEGORIES),
    "rt_count",
    "user_error_count",
)
RT_COLUMNS: tuple[str, ...] = ("rt_mean", "rt_p95", "rt_p99", "rt_max")
PEAK_HOURS = range(9, 18)  # 09:00–17:59 UTC on weekdays


def infer_bucket_minutes(index: pd.DatetimeIndex, default: int = 5) -> int:
    """The bucket width of a frame: its freq if set, else the median step."""
    if index.freq is not None:
        try:
            return max(int(pd.Timedelta(index.freq).total_seconds() // 60), 1)
        except (TypeError, ValueError):
            pass
    if len(index) < 2:
        return default
    step = pd.Series(index).diff().dropna().median()
    return max(int(step.total_seconds() // 60), 1)


def first_reported_bucket(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The first bucket in which the service reported anything; None when it never did.

    Bucket frames span the whole requested window, missing buckets filled with zero counts and
    NaN metrics, so before a service's first report the frame is padding, not a quiet history.
    Reported = a non-zero count or statistic, or any metric sample (``metric_*`` not NaN: a
    frontend's ``db_pool_in_use`` of 0 is a report). Only leading padding is padding: a quiet
    day after the first report is history.
    """
    if frame.empty:
        return None
    reported = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        if str(name).startswith("metric_"):
            reported |= ~np.isnan(values)
        else:
            reported |= np.isfinite(values) & (values != 0.0)
    hits = np.flatnonzero(reported)
    return frame.index[hits[0]] if hits.size else None


def since_first_report(data: pd.DataFrame) -> pd.DataFrame:
    """The frame from the service's first report on (``first_reported_bucket``).

    Product frames are zero-filled back to the start of the training lookback: a service that
    started reporting two days ago arrived with 30 days of buckets, passed the predictor's
    ``min_training_buckets`` and the anomaly model's cold start on padding, and learnt weeks of
    zeros as normal.
    """
    first = first_reported_bucket(data)
    if first is None or first <= data.index[0]:
        return data
    trimmed = data.loc[first:]
    trimmed.attrs = dict(data.attrs)
    return trimmed


def normalize_bucket_frame(
    frame: pd.DataFrame, *, bucket_minutes: int | None = None
) -> pd.DataFrame:
    """A clean, regular bucket frame: UTC index, every convention column, gaps as zero counts.

    Bad data is normal here: missing columns become zeros, NaN counts zeros, values that are not
    numbers (strings, categories, nullable NA) NaN, irregular or duplicated timestamps are
    re-bucketed, metrics are forward-filled. Raises InsufficientData for an empty frame or an
    index that is not made of timestamps.
    """
    if frame is None or len(frame) == 0:
        raise InsufficientData("the bucket frame is empty")
    if not isinstance(frame.index, pd.DatetimeIndex):
        try:
            frame = frame.set_axis(pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True)), axis=0)
        except (TypeError, ValueError) as exc:
            raise InsufficientData(f"the bucket frame index is not timestamps: {exc}") from None
    index = frame.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    valid = np.flatnonzero(~index.isna())
    if len(valid) == 0:
        raise InsufficientData("the bucket frame has no valid timestamps")
    # Row positions in time order (NaT dropped); columns are read as arrays in this order.
    rows = valid[np.argsort(index.asi8[valid], kind="stable")]
    ordered = index[rows]
    bm = bucket_minutes or infer_bucket_minutes(index if index.freq is not None else ordered)
    freq = f"{bm}min"
    index = ordered
    metric_cols = [c for c in frame.columns if c.startswith("metric_")]
    values: dict[str, np.ndarray] = {}
    for c in (*COUNT_COLUMNS, *RT_COLUMNS, *metric_cols):
        if c not in frame.columns:  # a missing count is zero, a missing statistic unknown
            values[c] = np.full(len(rows), 0.0 if c in COUNT_COLUMNS else np.nan)
            continue
        column = frame[c]
        if not pd.api.types.is_numeric_dtype(column.dtype):
            # object, string, category, datetime…: numbers where they parse, NaN elsewhere.
            # Nullable numbers (Int64, Float64, boolean) are numeric: their NA becomes NaN below.
            column = pd.to_numeric(column.astype(object), errors="coerce")
        arr = np.array(column.to_numpy(dtype=float, na_value=np.nan), dtype=float)[rows]
        arr[~np.isfinite(arr)] = np.nan
        values[c] = arr
    ns = index.as_unit("ns").asi8
    step_ns = bm * 60 * 1_000_000_000
    aligned = bool((ns % step_ns == 0).all() and (np.diff(ns) > 0).all())
    if not aligned:  # off-grid or duplicated timestamps: re-bucket
        agg: dict[str, str] = {c: "sum" for c in COUNT_COLUMNS}
        agg.update({c: "mean" for c in RT_COLUMNS if c != "rt_max"})
        agg["rt_max"] = "max"
        agg.update({c: "mean" for c in metric_cols})
        grouped = pd.DataFrame(values, index=index).groupby(index.floor(freq)).agg(agg)
        index = grouped.index
        values = {c: grouped[c].to_numpy(dtype=float) for c in values}
    expected = int((index[-1] - index[0]) / pd.Timedelta(minutes=bm)) + 1
    if expected != len(index):  # gaps: every bucket gets a row (counts 0, metrics carried)
        full = pd.date_range(index[0], index[-1], freq=freq, tz="UTC")
        positions = full.get_indexer(index)
        for c, arr in values.items():
            spread = np.full(len(full), np.nan)
            spread[positions] = arr
            values[c] = spread
        index = full
    for c in COUNT_COLUMNS:
        values[c] = np.clip(np.nan_to_num(values[c], nan=0.0), 0.0, None)
    for c in metric_cols:
        values[c] = _forward_filled(values[c])
    # One frame built from finished columns: assigning column blocks into a frame costs more
    # than the whole normalisation of a 24 h window. The index is a full grid by now.
    numeric = pd.DataFrame(values, index=pd.DatetimeIndex(index, name="bucket", freq=freq))
    numeric.attrs["bucket_minutes"] = bm
    return numeric


def _forward_filled(x: np.ndarray) -> np.ndarray:
    """NaN replaced by the last value before it (leading NaN stay)."""
    known = ~np.isnan(x)
    if known.all():
        return x
    last = np.maximum.accumulate(np.where(known, np.arange(len(x)), -1))
    return np.where(last >= 0, x[np.maximum(last, 0)], np.nan)


def _trailing_sum(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the trailing `window` values (fewer at the start), via cumsum."""
    csum = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(len(x))
    lo = np.maximum(idx + 1 - window, 0)
    return csum[idx + 1] - csum[lo], (idx + 1 - lo).astype(float)


def _rolling_mean(x: np.ndarray, window: int, min_periods: int = 1) -> np.ndarray:
    total, count = _trailing_sum(x, window)
    out = total / count
    out[count < min_periods] = np.nan
    return out


def _rolling_std(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) over the trailing window."""
    total, count = _trailing_sum(x, window)
    squares, _ = _trailing_sum(x * x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (squares - total * total / count) / (count - 1)
    out = np.sqrt(np.maximum(var, 0.0))
    out[count < max(min_periods, 2)] = np.nan
    return out


def _rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    padded = np.concatenate([np.full(window - 1, -np.inf), x])
    return np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)


def _rolling_slope(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and fitted current level of y over the trailing `window` buckets.

    Time is measured relative to each window's end, so the sums stay small on long histories.
    Rows with fewer than `window` values: slope 0, level = the value itself.
    """
    n = len(y)
    slope = np.zeros(n)
    level = y.astype(float).copy()
    if n < window or window < 2:
        return slope, level
    windows = np.lib.stride_tricks.sliding_window_view(y.astype(float), window)
    t = np.arange(window, dtype=float) - (window - 1)  # …, -1, 0 (the current bucket)
    t_centered = t - t.mean()
    denom = float(t_centered @ t_centered)
    y_mean = windows.mean(axis=1)
    b = (windows - y_mean[:, None]) @ t_centered / denom
    slope[window - 1 :] = b
    level[window - 1 :] = y_mean + b * (0.0 - t.mean())
    return slope, level


def _trailing_baseline(x: np.ndarray, skip: int, window: int) -> np.ndarray:
    """Median of x over the `window` buckets that end `skip` buckets before t (NaN when unknown).

    Skipping the last `skip` buckets keeps a precursor ramp (at most about an hour long) out of
    its own baseline, so "how far above normal" does not shrink while the ramp grows.
    """
    shifted = pd.Series(x).shift(skip)
    return shifted.rolling(window, min_periods=max(window // 4, 1)).median().to_numpy()


def _ratio_to(x: np.ndarray, base: np.ndarray) -> np.ndarray:
    """x / base, 1.0 where the baseline is unknown or not positive (no evidence of a change)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = x / base
    return np.where(np.isfinite(ratio) & (base > 0), ratio, 1.0)


def _lagged(x: np.ndarray, lag: int, fill: float) -> np.ndarray:
    if lag <= 0:
        return x.copy()
    return np.concatenate([np.full(min(lag, len(x)), fill), x[:-lag]])[: len(x)]


# Features without a unit: the same value means the same on every service.
_SCALE_FREE_NAMES = frozenset(
    {
        "hour_of_day",
        "day_of_week",
        "is_peak_hours",
        "hour_sin",
        "hour_cos",
        "total_count_z_1d",
        "total_count_1h_vs_1d",
        "response_time_p95_vs_1d",
        "database_error_ratio",
        "api_error_ratio",
    }
)


FEATURE_LIMIT = 1e12  # no real feature comes near it; float32 holds it exactly enough


def scale_free_columns(names: list[str]) -> list[str]:
    """The features that carry no service-specific scale: time of day and week, shares of error
    types and severities, and every signal measured against its own baseline.

    A model that learns from several services' histories (fleet training) must not use counts,
    latencies or gauges in their own units: 800 ms is an outage on one service and a normal
    Monday on another, and a split learned on the fleet's incidents would fire on the service's
    ordinary level. These columns transfer; the others do not.
    """
    return [
        name
        for name in names
        if name in _SCALE_FREE_NAMES
        or "_vs_base" in name
        or (name.startswith(("error_type_", "severity_")) and name.endswith("_ratio"))
    ]


def build_features(frame: pd.DataFrame, *, bucket_minutes: int | None = None) -> pd.DataFrame:
    """One feature row per bucket of `frame` (after normalisation); no NaN in the result.

    Plain numpy on the columns: scoring a 24 h window must cost milliseconds, not pandas calls.
    """
    return features_from_normalized(normalize_bucket_frame(frame, bucket_minutes=bucket_minutes))


def features_from_normalized(data: pd.DataFrame) -> pd.DataFrame:
    """``build_features`` of a frame ``normalize_bucket_frame`` returned: for callers that also
    read the normalised counts, so the window is normalised once."""
    bm = data.attrs["bucket_minutes"]
    per_hour = max(round(60 / bm), 1)
    per_day = max(round(1440 / bm), 1)
    idx = data.index
    col = {c: data[c].to_numpy(dtype=float) for c in data.columns}
    total = col["total_count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_total = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)

    out: dict[str, np.ndarray] = {}
    # Temporal (the guide's names).
    hour = idx.hour.to_numpy()
    dow = idx.day_of_week.to_numpy()
    out["hour_of_day"] = hour.astype(float)
    out["day_of_week"] = dow.astype(float)
    out["is_peak_hours"] = ((dow < 5) & np.isin(hour, list(PEAK_HOURS))).astype(float)
    out["hour_sin"] = np.sin(2 * np.pi * hour / 24)
    out["hour_cos"] = np.cos(2 * np.pi * hour / 24)
    slope, level = _rolling_slope(total, per_hour)
    out["error_trend_slope"] = slope
    out["error_trend_intercept"] = level
    out["current_error_rate"] = total / bm  # errors per minute

    # Error-type features.
    out["error_type_timeout_ratio"] = col["timeout_count"] * inv_total
    out["error_type_connection_ratio"] = col["connection_count"] * inv_total
    out["error_type_auth_ratio"] = col["auth_count"] * inv_total
    out["error_type_memory_ratio"] = col["memory_count"] * inv_total
    out["severity_critical_ratio"] = col["critical_count"] * inv_total
    out["severity_high_ratio"] = (col["error_count"] + col["critical_count"]) * inv_total
    out["critical_error_count"] = col["critical_count"]

    # System features.
    rt = data[list(RT_COLUMNS)].ffill().fillna(0.0)
    p95 = rt["rt_p95"].to_numpy(dtype=float)
    out["response_time_mean"] = rt["rt_mean"].to_numpy(dtype=float)
    out["response_time_p95"] = p95
    out["response_time_p99"] = rt["rt_p99"].to_numpy(dtype=float)
    out["response_time_max"] = rt["rt_max"].to_numpy(dtype=float)
    out["database_error_ratio"] = col["database_count"] * inv_total
    out["api_error_ratio"] = col["api_count"] * inv_total

    # Lags and rolling statistics: what is rising, relative to its own recent normal.
    day_mean = _rolling_mean(total, per_day, per_hour)
    day_std = _rolling_std(total, per_day, per_hour)
    for lag in (1, 2, 3, 6):
        out[f"total_count_lag{lag}"] = np.concatenate(
            [np.zeros(min(lag, len(total))), total[:-lag]]
        )[: len(total)]
    for window, label in ((3, "15m" if bm == 5 else "w3"), (per_hour, "1h")):
        out[f"total_count_sum_{label}"] = _trailing_sum(total, window)[0]
        out[f"critical_count_sum_{label}"] = _trailing_sum(col["critical_count"], window)[0]
        for cat in CATEGORIES:
            out[f"{cat}_count_sum_{label}"] = _trailing_sum(col[f"{cat}_count"], window)[0]
    expanding = np.cumsum(total) / np.arange(1, len(total) + 1)
    out["total_count_mean_1d"] = np.where(np.isnan(day_mean), expanding, day_mean)
    out["total_count_std_1d"] = day_std
    out["total_count_z_1d"] = (total - day_mean) / (day_std + 1.0)
    hour_sum = _trailing_sum(total, per_hour)[0]
    out["total_count_1h_vs_1d"] = hour_sum / (day_mean * per_hour + 1.0)
    for cat in ("timeout", "database", "connection", "memory", "api"):
        series = col[f"{cat}_count"]
        cat_day = _rolling_mean(series, per_day, per_hour)
        recent = _rolling_mean(series, per_hour // 2 or 1)
        out[f"{cat}_count_rise"] = recent - cat_day
        out[f"{cat}_count_slope"] = _rolling_slope(series, per_hour)[0]
    p95_day = rt["rt_p95"].rolling(per_day, min_periods=per_hour).median().to_numpy()
    out["response_time_p95_vs_1d"] = np.where(np.isnan(p95_day), 1.0, p95 / (p95_day + 1.0))
    out["response_time_p95_mean_1h"] = _rolling_mean(p95, per_hour)
    out["response_time_p95_slope"] = _rolling_slope(p95, per_hour)[0]
    out["user_error_count"] = col["user_error_count"]
    out["user_error_count_sum_1h"] = _trailing_sum(col["user_error_count"], per_hour)[0]

    for name in sorted(c for c in data.columns if c.startswith("metric_")):
        series = np.nan_to_num(col[name], nan=0.0)
        out[name] = series
        out[f"{name}_delta_1d"] = series - _rolling_mean(series, per_day, per_hour)
        out[f"{name}_slope_1h"] = _rolling_slope(series, per_hour)[0]
        out[f"{name}_max_1h"] = _rolling_max(series, per_hour)
        _add_baseline_features(out, name, series, per_hour, bm)

    # The same "how far above its own recent normal, and how fast" for the error stream.
    _add_baseline_features(out, "response_time_p95", p95, per_hour, bm)
    timeouts_15m = _trailing_sum(col["timeout_count"], 3)[0]
    _add_baseline_features(out, "timeout_count_15m", timeouts_15m, per_hour, bm, offset=1.0)

    matrix = np.nan_to_num(np.column_stack(list(out.values())), nan=0.0, posinf=0.0, neginf=0.0)
    # The classifiers work in float32: one absurd input (a latency of 1e300 ms) must not become
    # an infinity there and fail every analysis of the service until it leaves the window.
    matrix = np.clip(matrix, -FEATURE_LIMIT, FEATURE_LIMIT)
    features = pd.DataFrame(matrix, index=idx, columns=list(out))
    features.attrs["bucket_minutes"] = bm
    return features


def _add_baseline_features(
    out: dict[str, np.ndarray],
    name: str,
    series: np.ndarray,
    per_hour: int,
    bucket_minutes: int,
    *,
    offset: float = 0.0,
) -> None:
    """Level of `series` against its baseline from one to three hours ago, and how it moves.

    A precursor (saturating pool, growing latency, rising timeouts) is a departure from the
    service's normal of the same day that keeps growing until the outage; a near miss grows
    less and then fades. The ratio to a baseline that excludes the last hour measures how far
    the departure has gone; its 15-minute change and acceleration say whether it still grows;
    the minimum over the last 15 minutes says whether it holds. `offset` keeps ratios of small
    counts finite (timeouts are often zero).
    """
    base = _trailing_baseline(series, per_hour, 2 * per_hour)
    ratio = _ratio_to(series + offset, base + offset)
    k = max(round(15 / bucket_minutes), 1)
    change = ratio - _lagged(ratio, k, 1.0)
    out[f"{name}_vs_base"] = ratio
    out[f"{name}_vs_base_change_15m"] = change
    out[f"{name}_vs_base_accel_15m"] = change - _lagged(change, k, 0.0)
    out[f"{name}_vs_base_min_15m"] = -_rolling_max(-ratio, k)


# ---------------------------------------------------------------------------------- feature text

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEVERITY_WORDS = {
    "debug": "debug-level errors",
    "info": "info-level errors",
    "warning": "warnings",
    "error": "error-level errors",
    "critical": "critical errors",
}
_CATEGORY_WORDS = {c: f"{c} errors" for c in CATEGORIES} | {"api": "API errors"}
_RATIO_WORDS = {
    "error_type_timeout_ratio": "timeouts",
    "error_type_connection_ratio": "connection errors",
    "error_type_auth_ratio": "auth errors",
    "error_type_memory_ratio": "memory errors",
    "severity_critical_ratio": "critical errors",
    "severity_high_ratio": "error- or critical-level errors",
    "database_error_ratio": "database errors",
    "api_error_ratio": "API errors",
}
_RESPONSE_TIMES = {
    "response_time_mean": "mean",
    "response_time_p95": "p95",
    "response_time_p99": "p99",
    "response_time_max": "max",
}
_METRIC_UNITS = (("_ms", " ms"), ("_percent", "%"), ("_pct", "%"), ("_seconds", " s"))
_BASE = "its level 1–3 h before"
_SIGN = ("", "")  # a text without a direction
# (suffix, text, (word when >= 0, word when < 0)), longest suffix of a family first. Fields:
# label and unit of the series the suffix is appended to, v the value, n the value as a count,
# amount its size, way its direction, per "per <bucket> min".
_SUFFIX_TEXTS: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("_vs_base_change_15m", "{label} {way} {amount}× " + _BASE + " within 15 min", ("up", "down")),
    (
        "_vs_base_accel_15m",
        "{label}: its departure from " + _BASE + " {way} ({amount}× in 15 min)",
        ("speeding up", "slowing down"),
    ),
    ("_vs_base_min_15m", "{label} at least {v}× " + _BASE + " for 15 min", _SIGN),
    ("_vs_base", "{label} {v}× " + _BASE, _SIGN),
    ("_1h_vs_1d", "{label} of the last hour {v}× an average hour of the last day", _SIGN),
    ("_vs_1d", "{label} {v}× its median of the last day", _SIGN),
    ("_delta_1d", "{label} {amount}{unit} {way} its mean of the last day", ("above", "below")),
    ("_slope_1h", "{label} {way} {amount}{unit} {per} over the last hour", ("rising", "falling")),
    ("_slope", "{label} {way} {amount}{unit} {per} over the last hour", ("rising", "falling")),
    ("_max_1h", "{label} peaked at {v}{unit} in the last hour", _SIGN),
    ("_mean_1h", "{label} averaging {v}{unit} over the last hour", _SIGN),
    ("_mean_1d", "{label} averaging {v}{unit} {per} over the last day", _SIGN),
    ("_std_1d", "{label} varying by {v}{unit} {per} over the last day (standard deviation)", _SIGN),
    ("_z_1d", "{label} {amount} standard deviations {way} the last day's mean", ("above", "below")),
    (
        "_rise",
        "{label} {amount} {per} {way} their mean of the last day (last half hour)",
        ("above", "below"),
    ),
    ("_sum_15m", "{label} in the last 15 min: {n}", _SIGN),
    ("_sum_1h", "{label} in the last hour: {n}", _SIGN),
    ("_sum_w3", "{label} in the last 3 buckets: {n}", _SIGN),
)


def _quantity(name: str) -> tuple[str, str]:
    """(what it is, unit) of a base series name: ``metric_response_time_ms`` → ("response
    time", " ms"); ``database_count`` → ("database errors", "")."""
    if name.startswith("metric_"):
        words = name.removeprefix("metric_")
        for suffix, unit in _METRIC_UNITS:
            if words.endswith(suffix):
                return words.removesuffix(suffix).replace("_", " "), unit
        return words.replace("_", " "), ""
    if name in _RESPONSE_TIMES:
        return f"{_RESPONSE_TIMES[name]} response time of failed requests", " ms"
    if name == "total_count":
        return "errors", ""
    if name == "user_error_count":
        return "errors that hit a user", ""
    if name == "timeout_count_15m":
        return "timeouts in 15 min", ""
    head = name.removesuffix("_count")
    if head in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[head], ""
    if head in _CATEGORY_WORDS:
        return _CATEGORY_WORDS[head], ""
    return name.replace("_", " "), ""


def _count(value: float) -> str:
    """A count as a whole number (``format_number`` writes 0 as ``0.00``); a mean stays one."""
    return f"{value:,.0f}" if float(value).is_integer() else format_number(value)


def describe_feature(name: str, value: float, *, bucket_minutes: int = 5) -> str:
    """A model input as on-call reads it: "response time 26.5× its level 1–3 h before", not
    "metric response time ms vs base = 26.5" (the column name with its underscores swapped).

    Why here: these are the names `features_from_normalized` builds, so a new feature family
    gets its words in the same file. A name it does not know reads as before (name = value).
    """
    v = format_number(value)
    per = f"per {bucket_minutes} min"
    if name in _RATIO_WORDS:
        return f"{_RATIO_WORDS[name]} {value:.0%} of errors"
    if name == "hour_of_day":
        return f"time of day {int(value):02d}:00 UTC"
    if name == "day_of_week":
        return f"day of week: {_DAYS[int(value) % 7]}"
    if name == "is_peak_hours":
        return "peak hours (weekdays 09–18 UTC)" if value >= 0.5 else "outside peak hours"
    if name in ("hour_sin", "hour_cos"):
        return "the time of day"
    if name == "current_error_rate":
        return f"{v} errors per minute in the latest bucket"
    if name == "error_trend_slope":
        way = "rising" if value >= 0 else "falling"
        return f"errors {way} {format_number(abs(value))} {per} over the last hour"
    if name == "error_trend_intercept":
        return f"error level on the last hour's trend: {v} {per}"
    if name == "critical_error_count":
        return f"critical errors in the latest {bucket_minutes} min: {_count(value)}"
    for suffix, text, (up, down) in _SUFFIX_TEXTS:
        if name.endswith(suffix):
            label, unit = _quantity(name.removesuffix(suffix))
            return text.format(
                label=label,
                unit=unit,
                v=v,
                n=_count(value),
                amount=format_number(abs(value)),
                way=up if value >= 0 else down,
                per=per,
            )
    if name.startswith("total_count_lag") and name.removeprefix("total_count_lag").isdigit():
        minutes = int(name.removeprefix("total_count_lag")) * bucket_minutes
        return f"errors in the bucket {minutes} min before: {_count(value)}"
    label, unit = _quantity(name)
    if label != name.replace("_", " "):
        if name in _RESPONSE_TIMES or name.startswith("metric_"):
            return f"{label} {v}{unit}"
        return f"{label} in the latest {bucket_minutes} min: {_count(value)}"
    return f"{name.replace('_', ' ')} = {v}"
