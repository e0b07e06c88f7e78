"""Feature rows from a bucket frame: the guide's temporal, error-type and system features, plus
lags and rolling statistics the models need.

Every feature at bucket t uses only buckets <= t (causal), so the same function serves training
(all rows) and streaming scoring (the last row). Pure pandas/numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeding_hearts.catalog import CATEGORIES, SEVERITIES
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


def normalize_bucket_frame(frame: pd.DataFrame, *, bucket_minutes: int | None = None) -> pd.DataFrame:
    """A clean, regular bucket frame: UTC index, every convention column, gaps as zero counts.

    Bad data is normal here: missing columns become zeros, NaN counts zeros, irregular or
    duplicated timestamps are re-bucketed, metrics are forward-filled. Raises InsufficientData
    for an empty frame or an index that is not made of timestamps.
    """
    if frame is None or len(frame) == 0:
        raise InsufficientData("the bucket frame is empty")
    if not isinstance(frame.index, pd.DatetimeIndex):
        try:
            frame = frame.set_axis(pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True)), axis=0)
        except (TypeError, ValueError) as exc:
            raise InsufficientData(f"the bucket frame index is not timestamps: {exc}") from None
    frame = frame.copy()
    index = frame.index
    frame.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame = frame[~frame.index.isna()].sort_index()
    if len(frame) == 0:
        raise InsufficientData("the bucket frame has no valid timestamps")
    bm = bucket_minutes or infer_bucket_minutes(frame.index)
    freq = f"{bm}min"
    for col in COUNT_COLUMNS:
        if col not in frame.columns:
            frame[col] = 0.0
    for col in RT_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    metric_cols = [c for c in frame.columns if c.startswith("metric_")]
    numeric = frame[list(COUNT_COLUMNS) + list(RT_COLUMNS) + metric_cols].apply(pd.to_numeric, errors="coerce")
    numeric = numeric.replace([np.inf, -np.inf], np.nan)
    floored = numeric.index.floor(freq)
    if not floored.equals(numeric.index) or numeric.index.has_duplicates:
        agg: dict[str, str] = {c: "sum" for c in COUNT_COLUMNS}
        agg.update({c: "mean" for c in RT_COLUMNS if c != "rt_max"})
        agg["rt_max"] = "max"
        agg.update({c: "mean" for c in metric_cols})
        numeric = numeric.groupby(floored).agg(agg)
    full = pd.date_range(numeric.index[0], numeric.index[-1], freq=freq, tz="UTC")
    numeric = numeric.reindex(full)
    numeric[list(COUNT_COLUMNS)] = numeric[list(COUNT_COLUMNS)].fillna(0.0).clip(lower=0.0)
    if metric_cols:
        numeric[metric_cols] = numeric[metric_cols].ffill()
    numeric.index.name = "bucket"
    numeric.attrs["bucket_minutes"] = bm
    return numeric


def _rolling_slope(y: pd.Series, window: int) -> tuple[pd.Series, pd.Series]:
    """Least-squares slope and fitted current level of y over the trailing `window` buckets."""
    n = float(window)
    t = pd.Series(np.arange(len(y), dtype=float), index=y.index)
    sum_y = y.rolling(window, min_periods=window).sum()
    sum_ty = (t * y).rolling(window, min_periods=window).sum()
    sum_t = t.rolling(window, min_periods=window).sum()
    sum_tt = (t * t).rolling(window, min_periods=window).sum()
    denom = n * sum_tt - sum_t**2
    slope = (n * sum_ty - sum_t * sum_y) / denom.replace(0, np.nan)
    intercept = (sum_y - slope * sum_t) / n
    level = intercept + slope * t  # the fitted value at the current bucket
    return slope.fillna(0.0), level.fillna(y)


def build_features(frame: pd.DataFrame, *, bucket_minutes: int | None = None) -> pd.DataFrame:
    """One feature row per bucket of `frame` (after normalisation); no NaN in the result."""
    data = normalize_bucket_frame(frame, bucket_minutes=bucket_minutes)
    bm = data.attrs["bucket_minutes"]
    per_hour = max(int(round(60 / bm)), 1)
    per_day = max(int(round(1440 / bm)), 1)
    idx = data.index
    total = data["total_count"]
    safe_total = total.where(total > 0, np.nan)

    out: dict[str, pd.Series | np.ndarray] = {}
    # Temporal (the guide's names).
    hour = idx.hour.to_numpy()
    dow = idx.day_of_week.to_numpy()
    out["hour_of_day"] = hour
    out["day_of_week"] = dow
    out["is_peak_hours"] = ((dow < 5) & np.isin(hour, list(PEAK_HOURS))).astype(float)
    out["hour_sin"] = np.sin(2 * np.pi * hour / 24)
    out["hour_cos"] = np.cos(2 * np.pi * hour / 24)
    slope, level = _rolling_slope(total, per_hour)
    out["error_trend_slope"] = slope
    out["error_trend_intercept"] = level
    out["current_error_rate"] = total / bm  # errors per minute

    # Error-type features.
    def ratio(col: str) -> pd.Series:
        return (data[col] / safe_total).fillna(0.0)

    out["error_type_timeout_ratio"] = ratio("timeout_count")
    out["error_type_connection_ratio"] = ratio("connection_count")
    out["error_type_auth_ratio"] = ratio("auth_count")
    out["error_type_memory_ratio"] = ratio("memory_count")
    out["severity_critical_ratio"] = ratio("critical_count")
    out["severity_high_ratio"] = ((data["error_count"] + data["critical_count"]) / safe_total).fillna(0.0)
    out["critical_error_count"] = data["critical_count"]

    # System features.
    rt = data[list(RT_COLUMNS)].ffill().fillna(0.0)
    out["response_time_mean"] = rt["rt_mean"]
    out["response_time_p95"] = rt["rt_p95"]
    out["response_time_p99"] = rt["rt_p99"]
    out["response_time_max"] = rt["rt_max"]
    out["database_error_ratio"] = ratio("database_count")
    out["api_error_ratio"] = ratio("api_count")

    # Lags and rolling statistics: what is rising, relative to its own recent normal.
    day_mean = total.rolling(per_day, min_periods=per_hour).mean()
    day_std = total.rolling(per_day, min_periods=per_hour).std()
    for lag in (1, 2, 3, 6):
        out[f"total_count_lag{lag}"] = total.shift(lag).fillna(0.0)
    for window, label in ((3, "15m" if bm == 5 else "w3"), (per_hour, "1h")):
        out[f"total_count_sum_{label}"] = total.rolling(window, min_periods=1).sum()
        out[f"critical_count_sum_{label}"] = data["critical_count"].rolling(window, min_periods=1).sum()
        for cat in CATEGORIES:
            out[f"{cat}_count_sum_{label}"] = data[f"{cat}_count"].rolling(window, min_periods=1).sum()
    out["total_count_mean_1d"] = day_mean.fillna(total.expanding().mean())
    out["total_count_std_1d"] = day_std.fillna(0.0)
    out["total_count_z_1d"] = ((total - day_mean) / (day_std + 1.0)).fillna(0.0)
    hour_sum = total.rolling(per_hour, min_periods=1).sum()
    out["total_count_1h_vs_1d"] = (hour_sum / (day_mean * per_hour + 1.0)).fillna(0.0)
    for cat in ("timeout", "database", "connection", "memory", "api"):
        series = data[f"{cat}_count"]
        cat_day = series.rolling(per_day, min_periods=per_hour).mean()
        recent = series.rolling(per_hour // 2 or 1, min_periods=1).mean()
        out[f"{cat}_count_rise"] = (recent - cat_day).fillna(0.0)
        cat_slope, _ = _rolling_slope(series, per_hour)
        out[f"{cat}_count_slope"] = cat_slope
    p95 = rt["rt_p95"]
    p95_day = p95.rolling(per_day, min_periods=per_hour).median()
    out["response_time_p95_vs_1d"] = (p95 / (p95_day + 1.0)).fillna(1.0)
    out["response_time_p95_mean_1h"] = p95.rolling(per_hour, min_periods=1).mean()
    p95_slope, _ = _rolling_slope(p95, per_hour)
    out["response_time_p95_slope"] = p95_slope
    out["user_error_count"] = data["user_error_count"]
    out["user_error_count_sum_1h"] = data["user_error_count"].rolling(per_hour, min_periods=1).sum()

    for col in sorted(c for c in data.columns if c.startswith("metric_")):
        series = data[col].fillna(0.0)
        name = col
        out[name] = series
        base = series.rolling(per_day, min_periods=per_hour).mean()
        out[f"{name}_delta_1d"] = (series - base).fillna(0.0)
        m_slope, _ = _rolling_slope(series, per_hour)
        out[f"{name}_slope_1h"] = m_slope
        out[f"{name}_max_1h"] = series.rolling(per_hour, min_periods=1).max()

    features = pd.DataFrame(out, index=idx)
    features = features.replace([np.inf, -np.inf], np.nan).fillna(0.0).astype(float)
    features.attrs["bucket_minutes"] = bm
    return features
