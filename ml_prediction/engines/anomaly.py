"""Anomaly detection on a service's bucket frame (pure: pandas in, AnomalyScore out).

Four detectors, each calibrated on the training buckets and combined into one score:
- a seasonal robust z-score of the error count (median / MAD per hour-of-week, so a normal
  Monday-morning peak is not an anomaly),
- IsolationForest and LocalOutlierFactor (n_neighbors 20, contamination 0.05, novelty=True) on
  per-bucket features (volume, mix of severities and categories, latency),
- the streaming detector of the NAB evaluation on the seasonal z (sustained shifts, slow
  drifts, a series turning noisy, new levels; ``StreamReference``: references frozen at
  training, the training tail kept as the context a scoring window continues).
Each detector's raw score becomes a tail probability ``r`` (how often training buckets were at
least this extreme; for the z-score, how often the history's *ordinary* buckets were: up to the
contamination share of its extremes may be past outages, ``_contaminated_tail``). The detectors
are combined as a union with a Bonferroni correction, ``r = min(1, 4 × min_d r_d)`` ("at least
one detector finds it this rare"), and the anomaly_score is ``-log10(r) / 3`` clipped to 0..1:
0.7 ≈ "rarer than 1 bucket in 125", 1.0 = "rarer than 1 in 1000". Per-detector scores use the
same scale (without the correction). Scoring never refits; a service with less history than
COLD_START_DAYS is "learning" and is scored by ``score_without_model`` (robust rules only).
History is counted from the first bucket in which the service reported anything
(``first_reported_bucket``): the product's frames span the whole lookback, zero-filled.

``stream_anomaly_scores`` is the streaming detector on one plain series, strictly causal (each
row against every row before it), used by the NAB evaluation (ml_prediction/evaluation/nab.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np
import pandas as pd

from ml_prediction.engines.features import since_first_report
from ml_prediction.engines.types import AnomalyScore, InsufficientData, TrainingReport

METRIC_NAME = "error_count"
ARTIFACT_FILE = "anomaly_model.joblib"
ALGORITHM = "seasonal_zscore+isolation_forest+lof+stream"
# Tail probability 10**-SCORE_DECADES maps to anomaly_score 1.0.
SCORE_DECADES = 3.0
DETECTORS = ("zscore", "isolation_forest", "lof", "stream")
HOURS_PER_WEEK = 168
MIN_BIN_SAMPLES = 3
TREND_BUCKETS = 6
# A service that stops sending errors: a run of empty buckets is a silence once the errors its
# buckets were expected to hold reach SILENCE_MIN_ERRORS and SILENCE_MARGIN × every quiet run
# of the training history (errors come in clumps: a bursty service's afternoon gaps are its
# normal, a busy one's first empty quarter-hour is not). Measured on the generator (seed 8, 21
# days replayed per service): its nights' longest gaps were worth 6-9.5 errors in training and
# up to 13 in the replay, so 10 and 1.5 × paged five quiet nights as silences; 20 and 2 × none.
SILENCE_MIN_ERRORS = 20.0
SILENCE_MARGIN = 2.0
# The streaming detector reads windows of the last buckets (20-bucket means, the step size's
# volatility), which still hold an incident for 20 buckets after it ended: its evidence counts
# for a bucket only while the count itself is still off (`_still_deviating`).
STREAM_GATE_BUCKETS = 3  # ... each of this many last buckets off on the same side by
STREAM_GATE_SIDE_Z = 0.5  # ... at least this seasonal z, and by
STREAM_GATE_MEAN_Z = 1.0  # ... this much on average,
STREAM_GATE_OWN_Z = 2.0  # ... or the bucket itself this far off (a series turned noisy)


@dataclass(frozen=True)
class AnomalyConfig:
    """Thresholds and parameters; build it from ML_PREDICTION_CONFIG with ``from_settings``."""

    score_threshold: float = 0.7
    warning_threshold: float = 0.5
    critical_threshold: float = 0.85
    min_volume: int = 10
    cold_start_days: float = 7.0
    zscore_threshold: float = 2.5
    lof_neighbors: int = 20
    contamination: float = 0.05  # share of training buckets that may be anomalies (IF, LOF, z tail)
    n_estimators: int = 64  # 100 trees cost ~30 ms per 24 h window for no visible gain
    validation_fraction: float = 0.2
    random_state: int = 0

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> AnomalyConfig:
        """Read the guide's keys (ANOMALY_SCORE_THRESHOLD, …); missing keys keep the defaults."""
        defaults = cls()
        return cls(
            score_threshold=float(
                values.get("ANOMALY_SCORE_THRESHOLD", values.get("ANOMALY_THRESHOLD", 0.7))
            ),
            warning_threshold=float(values.get("ANOMALY_WARNING_THRESHOLD", 0.5)),
            critical_threshold=float(values.get("ANOMALY_CRITICAL_THRESHOLD", 0.85)),
            min_volume=int(values.get("ANOMALY_MIN_VOLUME", defaults.min_volume)),
            cold_start_days=float(values.get("COLD_START_DAYS", defaults.cold_start_days)),
        )


# ----------------------------------------------------------------------------- helpers


_Flagged = TypeVar("_Flagged")


def anomalous_runs(
    flagged: Iterable[_Flagged], *, bucket: Any, at: Callable[[_Flagged], Any]
) -> list[list[_Flagged]]:
    """Flagged buckets as episodes, oldest first: runs of consecutive buckets (``at`` gives each
    item's bucket start; several metrics of one bucket belong to one run).

    The one episode rule of the analyses (each run is explained with its own cause) and of the
    incident library that learns from them: grouped any other way, an episode the analysis
    explained as a pool exhaustion could be learnt under the cause of an unrelated bucket half
    an hour before it.
    """
    runs: list[list[_Flagged]] = []
    for item in sorted(flagged, key=at):
        if runs and at(item) - at(runs[-1][-1]) <= bucket:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def previous_run_end(
    runs: list[list[_Flagged]], start: Any, *, bucket: Any, at: Callable[[_Flagged], Any]
) -> Any | None:
    """The end of the last run that ended before ``start`` (None if none did): where the
    evidence of the episode beginning at ``start`` may begin (`root_cause._split`), so that one
    episode is never explained by another's errors."""
    ends = [at(run[-1]) + bucket for run in runs if at(run[-1]) < start]
    return max(ends) if ends else None


def _tail_score(tail_probability: np.ndarray) -> np.ndarray:
    """Tail probability → 0..1 (``-log10(r) / SCORE_DECADES``, clipped)."""
    r = np.clip(np.asarray(tail_probability, dtype=float), 1e-12, 1.0)
    return np.clip(-np.log10(r) / SCORE_DECADES, 0.0, 1.0)


def _zscore_rule_score(z: np.ndarray, threshold: float) -> np.ndarray:
    """Fixed rule mapping: |z| = threshold → 0.7, |z| = 2 × threshold → 0.91; 0 → 0."""
    rate = math.log(1.0 / 0.3) / threshold
    return 1.0 - np.exp(-np.abs(np.nan_to_num(z)) * rate)


def _validated_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted, de-duplicated, UTC, with total_count present and finite; bad input →
    InsufficientData.

    A naive index is read as UTC and another zone converted to it (as the feature builder
    does): the seasonal baseline is learnt per UTC hour of the week, and the streaming
    detector's context, saved with a UTC index, cannot be compared with a naive window.
    Rows without a timestamp (NaT) are dropped: they have no bucket to be stored under.
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InsufficientData("the bucket frame is empty")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InsufficientData("the bucket frame must be indexed by bucket start (DatetimeIndex)")
    if "total_count" not in frame.columns:
        raise InsufficientData("the bucket frame has no total_count column")
    if str(frame.index.tz) != "UTC":  # a UTC frame (the product's) is not copied for nothing
        index = frame.index
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        frame = frame.set_axis(index, axis=0)
    if frame.index.hasnans:
        frame = frame[~frame.index.isna()]
        if frame.empty:
            raise InsufficientData("the bucket frame has no valid timestamps")
    # The product's frames are already clean: they are returned as they are, not copied twice
    # (a copy of the window costs more than the z-scores computed from it). Never mutated here.
    if frame.index.is_unique and frame.index.is_monotonic_increasing:
        clean = frame
    else:
        clean = frame[~frame.index.duplicated(keep="last")].sort_index()
    column = clean["total_count"]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        values = column.to_numpy(dtype=float)
        if np.isfinite(values).all() and (values >= 0).all():
            return clean
    counts = pd.to_numeric(column, errors="coerce")
    counts = counts.replace([np.inf, -np.inf], np.nan).fillna(0.0).clip(lower=0.0)
    return clean.assign(total_count=counts)


def _hour_of_week(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.day_of_week * 24 + index.hour).to_numpy()


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame))
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


FEATURE_NAMES = [
    "log_total",
    "log_total_change",
    "severe_share",
    "timeout_share",
    "connection_share",
    "database_share",
    "log_rt_p95",
    "seasonal_z",
]


@dataclass(frozen=True)
class _SeasonalBaseline:
    """Median and robust spread of total_count per hour-of-week, hour-of-day and overall."""

    week_median: np.ndarray  # 168
    week_spread: np.ndarray
    day_median: np.ndarray  # 24
    day_spread: np.ndarray
    week_known: np.ndarray  # bool, enough samples in that hour-of-week
    day_known: np.ndarray
    overall_median: float
    overall_spread: float

    @classmethod
    def fit(cls, counts: np.ndarray, index: pd.DatetimeIndex) -> _SeasonalBaseline:
        how = _hour_of_week(index)
        hod = index.hour.to_numpy()
        week_median, week_spread, week_known = _binned_robust(counts, how, HOURS_PER_WEEK)
        day_median, day_spread, day_known = _binned_robust(counts, hod, 24)
        median = float(np.median(counts))
        spread = float(1.4826 * np.median(np.abs(counts - median)))
        return cls(
            week_median, week_spread, day_median, day_spread, week_known, day_known, median, spread
        )

    def expected(self, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        """(expected count, robust spread) for each bucket: hour-of-week, else hour-of-day."""
        how = _hour_of_week(index)
        hod = index.hour.to_numpy()
        median = np.where(
            self.week_known[how],
            self.week_median[how],
            np.where(self.day_known[hod], self.day_median[hod], self.overall_median),
        )
        spread = np.where(
            self.week_known[how],
            self.week_spread[how],
            np.where(self.day_known[hod], self.day_spread[hod], self.overall_spread),
        )
        return median, spread

    def zscores(self, counts: np.ndarray, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        median, spread = self.expected(index)
        return _robust_z(counts, median, spread), median


def rows_per_day(index: pd.DatetimeIndex) -> int:
    """Rows per day at the index's median step (all of it when the step is unknown)."""
    steps = np.asarray((index[1:] - index[:-1]).total_seconds(), dtype=float)
    step = float(np.median(steps)) if len(steps) else 0.0
    return max(round(86400.0 / step), 1) if step > 0 else len(index)


def _held_out_z(counts: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """Seasonal z of each training week against a baseline fitted on the other weeks.

    In-sample z is too kind to sustained deviations (an hour's own buckets are a third of its
    hour-of-week median with three weeks of history), so the streaming detector's references
    would be narrower than what new buckets, scored against a baseline that never saw them,
    produce: ordinary days would alarm.
    """
    week = np.asarray((index - index[0]) // pd.Timedelta(days=7))
    weeks = np.unique(week)
    if len(weeks) < 2:
        return _SeasonalBaseline.fit(counts, index).zscores(counts, index)[0]
    z = np.empty(len(counts))
    for w in weeks:
        mine = week == w
        others = _SeasonalBaseline.fit(counts[~mine], index[~mine])
        z[mine] = others.zscores(counts[mine], index[mine])[0]
    return z


def _binned_robust(
    values: np.ndarray, bins: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = pd.DataFrame({"v": values, "b": bins})
    grouped = frame.groupby("b")["v"]
    median = grouped.median()
    mad = (frame["v"] - frame["b"].map(median)).abs().groupby(frame["b"]).median() * 1.4826
    count = grouped.size()
    med = np.zeros(size)
    spr = np.zeros(size)
    known = np.zeros(size, dtype=bool)
    med[median.index.to_numpy()] = median.to_numpy()
    spr[mad.index.to_numpy()] = mad.to_numpy()
    known[count.index.to_numpy()] = count.to_numpy() >= MIN_BIN_SAMPLES
    return med, spr, known


_COUNT_Z_LIMIT = 50.0


def _count_z(counts: np.ndarray, expected: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The z of a count against its expected value, read from the count's own tail: the z that
    a normal variable would need to be as rare (both signs; 0 where the count is unknown).

    Why not (count - expected) / spread: error counts are counts, and a few a bucket are
    skewed: with 5 expected, 11 is 2.7 "Poisson SDs" up, yet 1.4% of buckets reach it, where
    2.5 SDs of a normal variable is 0.6%. Read as a normal z, ordinary buckets crossed the
    threshold some 4 times a service-day. The tail is a negative binomial with the expected
    mean and variance max(spread², mean) — Poisson when the buckets vary no more than counts
    must, wider when they do (bursty traffic). On the generator's first weeks (seed 8, days
    2-7 of 7 services) this halved the learning state's false single-bucket flags (114 → 55)
    and kept all 14 outages (`evaluate prediction`).
    """
    from scipy import stats

    x = np.asarray(counts, dtype=float)
    mean = np.maximum(np.asarray(expected, dtype=float), 0.05)
    extra = np.maximum(np.asarray(spread, dtype=float) ** 2, mean) - mean
    wide = extra > 1e-9
    # negative binomial with mean `mean` and variance mean + extra: n = mean² / extra
    n = mean**2 / np.where(wide, extra, 1.0)
    p = n / (n + mean)
    known = np.isfinite(x)
    x = np.where(known, x, 0.0)
    upper = np.where(
        wide, stats.nbinom.sf(np.ceil(x) - 1, n, p), stats.poisson.sf(np.ceil(x) - 1, mean)
    )
    lower = np.where(
        wide, stats.nbinom.cdf(np.floor(x), n, p), stats.poisson.cdf(np.floor(x), mean)
    )
    rare = np.clip(np.where(x >= mean, upper, lower), 1e-300, 0.5)
    z = np.where(x >= mean, 1.0, -1.0) * stats.norm.isf(rare)
    return np.where(known, np.clip(z, -_COUNT_Z_LIMIT, _COUNT_Z_LIMIT), 0.0)


def _robust_z(values: np.ndarray, median: np.ndarray, spread: np.ndarray) -> np.ndarray:
    # Counts are roughly Poisson: never trust a spread smaller than sqrt(expected) (or 1), so
    # 2 → 4 errors does not look like ten standard deviations.
    floor = np.maximum(np.sqrt(np.maximum(median, 0.0)), 1.0)
    return (values - median) / np.maximum(spread, floor)


def _features(frame: pd.DataFrame, seasonal_z: np.ndarray, rt_fill: float) -> np.ndarray:
    total = frame["total_count"].to_numpy(dtype=float)
    log_total = np.log1p(total)
    change = np.diff(log_total, prepend=log_total[:1])
    safe_total = np.maximum(total, 1.0)
    severe = (_column(frame, "error_count") + _column(frame, "critical_count")) / safe_total
    rt = (
        pd.to_numeric(frame["rt_p95"], errors="coerce").to_numpy(dtype=float)
        if "rt_p95" in frame.columns
        else np.full(len(frame), np.nan)
    )
    rt = np.where(np.isfinite(rt), rt, rt_fill)
    return np.column_stack(
        [
            log_total,
            change,
            np.clip(severe, 0.0, 1.0),
            np.clip(_column(frame, "timeout_count") / safe_total, 0.0, 1.0),
            np.clip(_column(frame, "connection_count") / safe_total, 0.0, 1.0),
            np.clip(_column(frame, "database_count") / safe_total, 0.0, 1.0),
            np.log1p(np.maximum(rt, 0.0)),
            np.clip(np.nan_to_num(seasonal_z), -50.0, 50.0),
        ]
    )


def _empirical_tail(reference_sorted: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P(reference >= value) with +1 smoothing, so a new extreme is 1/(n+1), never 0."""
    n = len(reference_sorted)
    at_least = n - np.searchsorted(reference_sorted, values, side="left")
    return (at_least + 1.0) / (n + 1.0)


def _contaminated_tail(
    reference_sorted: np.ndarray, values: np.ndarray, share: float
) -> np.ndarray:
    """P(normal bucket >= value) when up to ``share`` of the reference may be anomalies.

    A service's history holds its past incidents: against the raw reference a 20x outage
    is merely "as rare as last week's outage" (1 bucket in 100), never an anomaly. So the
    reference is trusted only up to its (1 - share) quantile; beyond it the tail is an
    exponential whose scale comes from the median excess over that quantile (robust to the
    incidents up there as long as they are fewer than the ordinary extremes).
    """
    empirical = _empirical_tail(reference_sorted, values)
    n = len(reference_sorted)
    cut = int((1.0 - share) * n)
    if n == 0 or cut >= n:
        return empirical
    threshold = reference_sorted[cut]
    scale = float(np.median(reference_sorted[cut:] - threshold)) / math.log(2.0)
    if scale <= 0:
        return empirical
    beyond = np.nan_to_num(values, nan=-np.inf) > threshold
    with np.errstate(over="ignore", invalid="ignore"):
        extrapolated = (n - cut) / (n + 1.0) * np.exp(-(values - threshold) / scale)
    return np.where(beyond, extrapolated, empirical)


def _gaussian_tail(z: np.ndarray) -> np.ndarray:
    from scipy.special import erfc

    return erfc(np.abs(np.nan_to_num(z)) / math.sqrt(2.0))


def _severity(score: np.ndarray, config: AnomalyConfig) -> np.ndarray:
    return np.select(
        [
            score >= config.critical_threshold,
            score >= config.score_threshold,
            score >= config.warning_threshold,
        ],
        ["critical", "high", "medium"],
        default="low",
    )


def _anomaly_types(z: np.ndarray, is_anomaly: np.ndarray, threshold: float) -> np.ndarray:
    """Shape of the deviation, from the seasonal z of this bucket and the ones before it.

    trend_change: the previous TREND_BUCKETS buckets were already off the baseline on the same
    side and this one is no sudden jump beyond them (a level shift or ramp that persists);
    spike / drop: a sudden move up / down past the z threshold; pattern_deviation: the count
    itself is ordinary but the mix or latency is not (the learned detectors fired).
    """
    z = np.nan_to_num(z)
    window = min(TREND_BUCKETS, len(z))
    before = pd.Series(z).shift(1)
    rolling = before.rolling(window, min_periods=window)
    all_high = (rolling.min() > 1.0).to_numpy()
    all_low = (rolling.max() < -1.0).to_numpy()
    typical = before.abs().rolling(window, min_periods=window).mean().fillna(0.0).to_numpy()
    no_jump = np.abs(z) <= 2.0 * typical + 1.0
    sustained = ((all_high & (z > 1.0)) | (all_low & (z < -1.0))) & no_jump
    kinds = np.select(
        [sustained, z >= threshold, z <= -threshold],
        ["trend_change", "spike", "drop"],
        default="pattern_deviation",
    )
    return np.where(is_anomaly, kinds, "")


def _assemble(
    frame: pd.DataFrame,
    *,
    observed: np.ndarray,
    expected: np.ndarray,
    z: np.ndarray,
    combined: np.ndarray,
    detector_scores: dict[str, np.ndarray],
    contributing: dict[str, np.ndarray],
    state: str,
    config: AnomalyConfig,
    silent: np.ndarray | None = None,
) -> list[AnomalyScore]:
    combined = np.clip(np.nan_to_num(combined, nan=0.0), 0.0, 1.0)
    silent = np.zeros(len(combined), dtype=bool) if silent is None else silent
    # Minimum-volume guard: below the floor nothing is an anomaly (2 → 4 errors at 3 a.m.);
    # a silence is judged on its whole run's expected errors instead (`_silent_buckets`).
    low_volume = (np.maximum(observed, expected) < config.min_volume) & ~silent
    combined = np.where(low_volume, np.minimum(combined, config.warning_threshold * 0.99), combined)
    combined = np.where(silent, 1.0, combined)
    is_anomaly = combined >= config.score_threshold
    severities = _severity(combined, config)
    kinds = np.where(silent, "drop", _anomaly_types(z, is_anomaly, config.zscore_threshold))
    # Plain Python lists once, not numpy scalars per row: this loop is most of score()'s cost.
    timestamps = list(frame.index.to_pydatetime())
    detector_lists = {
        n: (np.round(np.nan_to_num(v), 4) + 0.0).tolist() for n, v in detector_scores.items()
    }
    context_lists = {
        n: (np.round(np.nan_to_num(v), 4) + 0.0).tolist() for n, v in contributing.items()
    }
    observed_list = np.asarray(observed, dtype=float).tolist()
    expected_list = np.round(np.asarray(expected, dtype=float), 4).tolist()
    score_list = (np.round(combined, 4) + 0.0).tolist()  # + 0.0: no "-0.0" in stored rows
    anomaly_list = is_anomaly.tolist()
    severity_list = severities.tolist()
    kind_list = kinds.tolist()
    return [
        AnomalyScore(
            timestamp=timestamps[i],
            metric_name=METRIC_NAME,
            observed=observed_list[i],
            expected=expected_list[i],
            anomaly_score=score_list[i],
            is_anomaly=anomaly_list[i],
            severity_level=severity_list[i],
            anomaly_type=kind_list[i],
            state=state,
            detector_scores={name: values[i] for name, values in detector_lists.items()},
            contributing_features={name: values[i] for name, values in context_lists.items()},
        )
        for i in range(len(frame))
    ]


# ----------------------------------------------------------------------------- the model


@dataclass
class AnomalyModel:
    """A fitted detector for one service; ``score`` only transforms, it never refits."""

    baseline: _SeasonalBaseline
    isolation_forest: Any
    lof: Any
    reference: dict[str, np.ndarray]  # sorted training raw scores per detector
    rt_fill: float
    report: TrainingReport
    config_used: dict[str, Any] = field(default_factory=dict)
    # None in artifacts saved before the streaming detector joined the model: they score with
    # the other three until the next retrain.
    stream: StreamReference | None = None
    # The largest errors expected over a run of empty buckets in the training history (None in
    # artifacts saved before silences were scored: they find none until the next retrain).
    silence_reference: float | None = None

    def score(self, frame: pd.DataFrame, *, config: AnomalyConfig) -> list[AnomalyScore]:
        """Score every bucket of ``frame`` (vectorised; one call for a 24 h window)."""
        frame = _validated_frame(frame)
        observed = frame["total_count"].to_numpy(dtype=float)
        z, expected = self.baseline.zscores(observed, frame.index)
        features = _features(frame, z, self.rt_fill)
        raw = {
            "zscore": np.abs(z),
            "isolation_forest": isolation_depth_scores(self.isolation_forest, features),
            "lof": -self.lof.score_samples(features),
        }
        tails = {name: _empirical_tail(self.reference[name], raw[name]) for name in raw}
        tails["zscore"] = np.maximum(
            _contaminated_tail(self.reference["zscore"], raw["zscore"], config.contamination),
            _gaussian_tail(z),
        )
        stream = getattr(self, "stream", None)
        if stream is not None:
            surprise = stream.surprise(z, frame.index)
            tails["stream"] = 10.0 ** -np.where(_still_deviating(z), surprise, 0.0)
        per_detector = {name: _tail_score(tail) for name, tail in tails.items()}
        union = np.minimum(1.0, len(tails) * np.min(np.vstack(list(tails.values())), axis=0))
        combined = _tail_score(union)
        return _assemble(
            frame,
            observed=observed,
            expected=expected,
            z=z,
            combined=combined,
            detector_scores=per_detector,
            contributing={
                "seasonal_z": z,
                "severe_share": features[:, 2],
                "rt_p95": np.expm1(features[:, 6]),  # back from the log scale
            },
            state="active",
            config=config,
            silent=_silent_buckets(
                observed, expected, self.silence_reference, min_volume=config.min_volume
            ),
        )

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / ARTIFACT_FILE)

    @classmethod
    def load(cls, directory: Path) -> AnomalyModel:
        model = joblib.load(Path(directory) / ARTIFACT_FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{directory} does not hold an AnomalyModel")
        return model


def _empty_run_expected(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per bucket: the errors expected over the run of empty buckets it ends (0 where the bucket
    has errors). Causal: only the buckets up to each one."""
    empty = np.asarray(observed, dtype=float) <= 0
    expected = np.where(empty, np.nan_to_num(np.asarray(expected, dtype=float)), 0.0)
    total = np.cumsum(expected)
    # the cumulative sum at the last bucket with errors before each one, taken off
    at_reset = np.maximum.accumulate(np.where(~empty, np.arange(len(total)), -1))
    before = np.where(at_reset >= 0, total[np.maximum(at_reset, 0)], 0.0)
    return np.where(empty, total - before, 0.0)


def _silent_buckets(
    observed: np.ndarray, expected: np.ndarray, reference: float | None, *, min_volume: float
) -> np.ndarray | None:
    """Buckets of a silence: a run of empty buckets that should have held at least
    SILENCE_MIN_ERRORS (and ``min_volume``) errors in all and SILENCE_MARGIN × the most any
    quiet run of the training history should have. Found probing the detector: a busy service
    that went quiet for an hour was a critical "drop", but one sending 3 errors a bucket never
    was (each bucket's normal was under the minimum-volume guard), however long it stayed
    silent."""
    if reference is None:
        return None
    run = _empty_run_expected(observed, expected)
    return run >= max(SILENCE_MIN_ERRORS, float(min_volume), SILENCE_MARGIN * reference)


def _still_deviating(z: np.ndarray) -> np.ndarray:
    """Per bucket: is its count still off its seasonal baseline, so that the streaming
    detector's windows speak about it?

    Found replaying an hour's outage: the buckets after it, at their usual count (z about 0),
    scored 1.0 "critical pattern_deviation" for the next 20 buckets (1 h 40 min), because the
    stream's 20-bucket means and volatility still held the outage. The incident looked 100
    minutes longer than it was, and its all-clear waited as long. A sustained shift keeps its
    buckets off on one side: each of the last STREAM_GATE_BUCKETS at least half an SD, and an
    SD on average (a first bucket back at its usual count, or a chance high one after it, is
    not); a drop or a rise is off by far more from its first bucket, and a series turned noisy
    swings both ways, each swing beyond STREAM_GATE_OWN_Z. Causal: only the window's buckets up
    to each one.
    """
    values = np.nan_to_num(np.asarray(z, dtype=float))
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    # each bucket with the ones before it (NaN where the window starts: not counted)
    padded = np.r_[np.full(STREAM_GATE_BUCKETS - 1, np.nan), values]
    last = np.lib.stride_tricks.sliding_window_view(padded, STREAM_GATE_BUCKETS)
    mean, low, high = np.nanmean(last, axis=1), np.nanmin(last, axis=1), np.nanmax(last, axis=1)
    one_side = (low >= STREAM_GATE_SIDE_Z) | (high <= -STREAM_GATE_SIDE_Z)
    sustained = one_side & (np.abs(mean) >= STREAM_GATE_MEAN_Z)
    return sustained | (np.abs(values) >= STREAM_GATE_OWN_Z)


def _history_days(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        return 0.0
    step = index[1:] - index[:-1]
    bucket = step.min() if len(step) else pd.Timedelta(0)
    return float((index[-1] - index[0] + bucket) / pd.Timedelta(days=1))


def isolation_depth_scores(forest: Any, features: np.ndarray) -> np.ndarray:
    """``-forest.score_samples(features)`` (higher = more isolated), tree by tree in one loop.

    Why not ``score_samples`` itself: it dispatches each of the forest's trees through joblib
    with a per-call config and warnings context: 7.6 ms on a 24 h window (288 buckets), of
    which the trees' own work is 2.7 ms, in a scoring path whose budget is 50 ms in all.
    This reads the fitted forest's per-tree path lengths as scikit-learn does; a unit test holds
    it equal to ``score_samples`` so a scikit-learn upgrade that moves them fails loudly.
    """
    from sklearn.ensemble._iforest import _average_path_length

    x = np.asarray(features, dtype=np.float32)
    depths = np.zeros(len(x))
    for tree, columns, path_lengths, leaf_averages in zip(
        forest.estimators_,
        forest.estimators_features_,
        forest._decision_path_lengths,
        forest._average_path_length_per_tree,
        strict=True,
    ):
        leaves = tree.apply(np.ascontiguousarray(x[:, columns]), check_input=False)
        depths += path_lengths[leaves] + leaf_averages[leaves] - 1.0
    scale = len(forest.estimators_) * float(_average_path_length([forest._max_samples])[0])
    return 2.0 ** (-depths / scale) if scale else np.ones(len(x))


def _fit_parts(frame: pd.DataFrame, config: AnomalyConfig) -> dict[str, Any]:
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor

    observed = frame["total_count"].to_numpy(dtype=float)
    baseline = _SeasonalBaseline.fit(observed, frame.index)
    z, expected = baseline.zscores(observed, frame.index)
    rt = (
        pd.to_numeric(frame["rt_p95"], errors="coerce").to_numpy(dtype=float)
        if "rt_p95" in frame.columns
        else np.array([np.nan])
    )
    rt_fill = float(np.nanmedian(rt)) if np.isfinite(rt).any() else 0.0
    features = _features(frame, z, rt_fill)
    forest = IsolationForest(
        n_estimators=config.n_estimators,
        contamination=config.contamination,
        random_state=config.random_state,
    ).fit(features)
    # Jitter-free LOF on duplicated points gives infinite densities; a tiny deterministic spread
    # keeps its scores finite on very regular services.
    spread = np.random.default_rng(config.random_state).normal(0.0, 1e-6, features.shape)
    lof = LocalOutlierFactor(
        n_neighbors=min(config.lof_neighbors, len(features) - 1),
        contamination=config.contamination,
        novelty=True,
    ).fit(features + spread)
    reference = {
        "zscore": np.sort(np.abs(z)),
        "isolation_forest": np.sort(isolation_depth_scores(forest, features)),
        # LOF's own leave-self-out training scores: score_samples() on the training points
        # would count each point as its own neighbour and make new points look rarer.
        "lof": np.sort(-lof.negative_outlier_factor_),
    }
    return {
        "baseline": baseline,
        "isolation_forest": forest,
        "lof": lof,
        "reference": reference,
        "rt_fill": rt_fill,
        # On the seasonal z, not the raw count: the streaming signals know only daily rhythm,
        # and a normal Monday-morning peak must not look like a new level.
        "stream": StreamReference.fit(_held_out_z(observed, frame.index), frame.index),
        "silence_reference": float(_empty_run_expected(observed, expected).max(initial=0.0)),
    }


def fit_anomaly_model(frame: pd.DataFrame, *, config: AnomalyConfig) -> AnomalyModel:
    """Fit the four detectors on a service's history (a bucket frame, time-ordered).

    The history starts at the service's first report (``first_reported_bucket``): the leading
    zero-filled buckets of a service younger than the frame are neither counted towards the
    cold start nor learnt from (a model fitted on them took weeks of zeros for normal: the
    service falling silent looked ordinary).

    Raises InsufficientData when the history is shorter than the cold-start period, too short
    for LOF's neighbourhood, or has no errors at all: the service then stays "learning".
    """
    frame = _validated_frame(frame)
    if float(frame["total_count"].sum()) <= 0.0:
        raise InsufficientData("no errors in the training window: nothing to learn from")
    frame = since_first_report(frame)
    days = _history_days(frame.index)
    if days < config.cold_start_days:
        raise InsufficientData(
            f"{days:.1f} days of history since the service's first report, "
            f"{config.cold_start_days:g} needed (learning)"
        )
    minimum_rows = max(5 * config.lof_neighbors, 50)
    if len(frame) < minimum_rows:
        raise InsufficientData(f"{len(frame)} buckets of history, {minimum_rows} needed")

    split = int(len(frame) * (1.0 - config.validation_fraction))
    metrics: dict[str, float] = {}
    if split >= minimum_rows and len(frame) - split > 0:
        held_out = AnomalyModel(
            report=TrainingReport(ALGORITHM, split, 0, {}), **_fit_parts(frame.iloc[:split], config)
        )
        scored = held_out.score(frame.iloc[split:], config=config)
        scores = np.array([s.anomaly_score for s in scored])
        metrics = {
            "validation_anomaly_rate": float(np.mean([s.is_anomaly for s in scored])),
            "validation_score_p50": float(np.median(scores)),
            "validation_score_p99": float(np.quantile(scores, 0.99)),
        }
    parts = _fit_parts(frame, config)
    report = TrainingReport(
        algorithm=ALGORITHM,
        train_samples=len(frame),
        validation_samples=len(frame) - split if metrics else 0,
        metrics={**metrics, "history_days": round(days, 2)},
        feature_names=list(FEATURE_NAMES),
        hyperparameters={
            "lof_n_neighbors": config.lof_neighbors,
            "contamination": config.contamination,
            "n_estimators": config.n_estimators,
            "zscore_threshold": config.zscore_threshold,
            "combination": "bonferroni_union",
            "detectors": list(DETECTORS),
        },
    )
    return AnomalyModel(report=report, config_used=asdict(config), **parts)


def score_without_model(frame: pd.DataFrame, *, config: AnomalyConfig) -> list[AnomalyScore]:
    """Cold start ("learning"): robust rules only, each bucket against the buckets before it.

    Baseline = median / MAD of the previous hour of buckets in the frame (causal, so it follows
    daily swings it has not learnt yet); the z is read from the count's tail (``_count_z``) and
    scored by the fixed z rule (|z| = zscore_threshold → 0.7). An empty frame gives an empty list.
    """
    if isinstance(frame, pd.DataFrame) and frame.empty:
        return []
    frame = _validated_frame(frame)
    counts = frame["total_count"]
    previous = counts.shift(1)
    window = 12
    median = previous.rolling(window, min_periods=6).median()
    spread = (previous - median).abs().rolling(window, min_periods=6).median() * 1.4826
    median_values = median.fillna(counts.expanding().median()).to_numpy(dtype=float)
    spread_values = spread.fillna(0.0).to_numpy(dtype=float)
    observed = counts.to_numpy(dtype=float)
    z = _count_z(observed, median_values, spread_values)
    known = median.notna().to_numpy()
    z = np.where(known, z, 0.0)
    score = _zscore_rule_score(z, config.zscore_threshold)
    return _assemble(
        frame,
        observed=observed,
        expected=median_values,
        z=z,
        combined=score,
        detector_scores={"zscore": score},
        contributing={"robust_z": z},
        state="learning",
        config=config,
    )


# ----------------------------------------------------------------------------- streaming (NAB)


@dataclass(frozen=True)
class StreamConfig:
    """Parameters of the streaming detector (chosen once for all NAB files, never per file)."""

    window: int = 128  # rows of recent history for the local robust baseline
    long_window: int = 1024  # rows for the slow-drift baseline (sustained signal only)
    seasonal_window: int = 1024  # rows of seasonal residuals for their robust scale
    seasonal_lags: int = 3  # baseline = median of the same time 1, 2, 3 periods ago
    short: int = 20  # rows averaged for the sustained-deviation and volatility signals
    tail_quantile: float = 0.98  # above it the tail is extrapolated exponentially
    min_history: int = 20
    alarm_surprise: float = 2.5  # calibrated surprise that counts as an alarm (score 0.714)
    hold_rows: int = 100  # rows after an alarm whose scores are suppressed
    refractory_surprise: float = 1.0  # then subtracted from the surprise, decaying …
    refractory_rows: int = 200  # … as exp(-rows since the alarm / refractory_rows)

    @property
    def context_rows(self) -> int:
        """Rows of history the longest signal window needs (what the product model keeps)."""
        return max(self.window, self.long_window) + self.short


MIN_BASELINE_ROWS = 8  # rows before a rolling baseline is trusted at all


def _rolling_robust_z(series: pd.Series, window: int) -> pd.Series:
    """(x_t - median of the previous ``window`` rows) / their IQR-based spread; causal."""
    past = series.shift(1)
    median = past.rolling(window, min_periods=MIN_BASELINE_ROWS).median()
    upper = past.rolling(window, min_periods=MIN_BASELINE_ROWS).quantile(0.75)
    lower = past.rolling(window, min_periods=MIN_BASELINE_ROWS).quantile(0.25)
    overall = past.expanding(min_periods=2).std().fillna(0.0)
    # A flat stretch has zero IQR: fall back to a sliver of the long-run spread, never 0.
    spread = np.maximum((upper - lower) / 1.349, 0.01 * overall + 1e-9)
    return (series - median) / spread


def _period_rows(timestamps: pd.DatetimeIndex | None, num_rows: int) -> int:
    """Rows per day when the series is regular enough and spans at least 3 days, else 0."""
    if timestamps is None or len(timestamps) < 3:
        return 0
    period = rows_per_day(timestamps)
    return period if period >= 2 and num_rows > 3 * period else 0


def _stream_signals(
    values: np.ndarray,
    timestamps: pd.DatetimeIndex | None,
    config: StreamConfig,
    period: int | None = None,
) -> list[np.ndarray]:
    """Raw, causal deviation signals: local spike, local sustained shift, slow drift against a
    long baseline, change of volatility, novelty of the value (both tails), and (when the
    series has a daily rhythm) spike and sustained shift of the residual from the same time on
    previous days. Each is scored by its upper tail in ``_causal_surprise``."""
    series = pd.Series(values).ffill().fillna(0.0)
    local = _rolling_robust_z(series, config.window)
    drift = _rolling_robust_z(series, config.long_window)
    # Volatility: log ratio of the recent mean step size to the one over the window before it,
    # so a series that turns noisy (or flat) stands out even when its level does not move.
    steps = series.diff().abs().fillna(0.0)
    recent = steps.rolling(config.short, min_periods=5).mean()
    before = steps.shift(config.short).rolling(config.window, min_periods=config.short).mean()
    volatility = np.log((recent + 1e-9) / (before + 1e-9))
    signals = [
        local.abs(),
        local.rolling(config.short, min_periods=1).mean().abs(),
        drift.rolling(config.short, min_periods=1).mean().abs(),
        volatility.abs(),
        # Novelty: the value itself against every value before it, both tails (a level the
        # series has never been at, however slowly it got there).
        series,
        -series,
    ]
    if period is None:
        period = _period_rows(timestamps, len(values))
    if period:
        lagged = pd.concat(
            [series.shift(period * k) for k in range(1, config.seasonal_lags + 1)], axis=1
        ).median(axis=1)
        seasonal = _rolling_robust_z(series - lagged, config.seasonal_window)
        signals += [
            seasonal.abs(),
            seasonal.rolling(config.short, min_periods=1).mean().abs(),
        ]
    return [np.nan_to_num(s.to_numpy(dtype=float), nan=np.nan, posinf=1e12) for s in signals]


def _causal_surprise(signal: np.ndarray, config: StreamConfig) -> np.ndarray:
    """-log10 P(past value >= this value), each row against the rows before it only.

    Empirical below the tail quantile; above it an exponential tail fitted to the past
    excesses (peaks over threshold), so a value far beyond everything seen is very surprising
    instead of merely "the maximum so far".
    """
    surprise = np.zeros(len(signal))
    history: list[float] = []
    for t, value in enumerate(signal.tolist()):
        if value != value:  # NaN: not enough history for the signal yet
            continue
        seen = len(history)
        if seen >= config.min_history:
            at_least = seen - bisect.bisect_left(history, value)
            empirical = (at_least + 1.0) / (seen + 1.0)
            cut = int(config.tail_quantile * seen)
            threshold = history[cut]
            tail = empirical
            if value > threshold:
                excess = sum(history[cut:]) / (seen - cut) - threshold
                if excess > 0:
                    tail = min(
                        empirical,
                        (seen - cut + 1.0) / (seen + 1.0) * math.exp(-(value - threshold) / excess),
                    )
            surprise[t] = -math.log10(max(tail, 1e-300))
        bisect.insort(history, value)
    return surprise


def _frozen_surprise(
    reference_sorted: np.ndarray, values: np.ndarray, tail_quantile: float
) -> np.ndarray:
    """``_causal_surprise``'s rule with a reference that does not grow: -log10 P(reference >=
    value) per value, exponential tail above the tail quantile; NaN values score 0.

    This is how the product model scores new buckets without refitting (the references are
    the training buckets' signals); a test keeps the two forms in agreement.
    """
    values = np.asarray(values, dtype=float)
    surprise = np.zeros(len(values))
    seen = len(reference_sorted)
    known = ~np.isnan(values)
    if seen == 0 or not known.any():
        return surprise
    value = values[known]
    at_least = seen - np.searchsorted(reference_sorted, value, side="left")
    tail = (at_least + 1.0) / (seen + 1.0)
    cut = int(tail_quantile * seen)
    if cut < seen:
        threshold = reference_sorted[cut]
        excess = float(np.mean(reference_sorted[cut:])) - threshold
        if excess > 0:
            with np.errstate(over="ignore"):
                extrapolated = (
                    (seen - cut + 1.0) / (seen + 1.0) * np.exp(-(value - threshold) / excess)
                )
            tail = np.where(value > threshold, np.minimum(tail, extrapolated), tail)
    surprise[known] = -np.log10(np.maximum(tail, 1e-300))
    return surprise


@dataclass(frozen=True)
class StreamReference:
    """The streaming detector inside the product model (``AnomalyModel``'s "stream" detector).

    NAB's form (``stream_surprise``) scores each row against every row before it. A service's
    model must not refit while scoring, so here the signals' distributions are frozen at
    training (the training rows' own signals, computed causally over the whole history), and
    the model keeps the last training rows as context: a scoring window's signals are computed
    over that context followed by the window, as if the history went on. With the nightly
    retrain and a 24 h lookback the window always starts inside the training history, so the
    two join without a gap; after a missed retrain the context is older than the window, which
    the signals treat like NAB's gaps (rows, not time). The second stage (how rare this surprise
    is for this service) is scored against the training surprises. The product feeds it the
    seasonal z, so it needs no seasonal signals of its own.
    """

    config: StreamConfig
    signals: tuple[np.ndarray, ...]  # sorted training values per signal (NaNs dropped)
    surprises: np.ndarray  # sorted training surprises (max over signals)
    context: pd.Series  # the last training rows, enough for the longest window of the signals

    @classmethod
    def fit(
        cls, values: np.ndarray, index: pd.DatetimeIndex, config: StreamConfig | None = None
    ) -> StreamReference:
        config = config or StreamConfig()
        values = np.asarray(values, dtype=float)
        raw = cls._signals(values, 0, config)
        signals = tuple(np.sort(signal[~np.isnan(signal)]) for signal in raw)
        surprises = np.max(
            [
                _frozen_surprise(ref, sig, config.tail_quantile)
                for ref, sig in zip(signals, raw, strict=True)
            ],
            axis=0,
        )
        keep = config.context_rows
        context = pd.Series(values[-keep:], index=index[-keep:])
        return cls(config, signals, np.sort(surprises), context)

    @staticmethod
    def _signals(values: np.ndarray, history: int, config: StreamConfig) -> list[np.ndarray]:
        """The signals of ``values`` (``history`` context rows first), NaN (not scored) until
        the sustained signals average ``short`` rows: a "20-row mean" of one or two rows is a
        spike test with the wrong reference."""
        signals = [signal[history:].copy() for signal in _stream_signals(values, None, config, 0)]
        warmup = max(MIN_BASELINE_ROWS + config.short - history, 0)
        for signal in signals:
            signal[:warmup] = np.nan
        return signals

    def surprise(self, values: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        """Calibrated surprise sqrt(m × m2) per bucket of the window (0 = ordinary)."""
        values = np.asarray(values, dtype=float)
        if len(values) == 0:
            return np.zeros(0)
        before = self.context[self.context.index < index[0]].to_numpy(dtype=float)
        raw = self._signals(np.concatenate([before, values]), len(before), self.config)
        tail = self.config.tail_quantile
        m = np.max(
            [_frozen_surprise(ref, sig, tail) for ref, sig in zip(self.signals, raw, strict=True)],
            axis=0,
        )
        return np.sqrt(m * _frozen_surprise(self.surprises, m, tail))


def stream_surprise(
    values: np.ndarray,
    timestamps: pd.DatetimeIndex | None = None,
    *,
    config: StreamConfig | None = None,
) -> np.ndarray:
    """Causal calibrated surprise per row (row t uses rows <= t only), before any alarm hold.

    Each signal's value becomes -log10 of its tail probability against its own past; ``m`` is
    the max over signals. Series differ in how often ``m`` is high (a bursty tweet count
    exceeds a 1-in-1000 level on some signal far more often than a smooth temperature), so
    ``m`` is itself scored against its own past, ``m2``, and the surprise is sqrt(m × m2):
    high only when the deviation is rare for its signal *and* rare for this series' surprises.
    That makes one global alarm level fit every series better than ``m`` alone.
    """
    config = config or StreamConfig()
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(0)
    signals = _stream_signals(values, timestamps, config)
    surprise = np.max([_causal_surprise(signal, config) for signal in signals], axis=0)
    second = _causal_surprise(surprise, config)
    return np.sqrt(surprise * second)


def hold_alarms(surprise: np.ndarray, config: StreamConfig) -> np.ndarray:
    """Surprise → score s / (1 + s), quieter after each alarm: one incident, one alarm.

    An alarm is a row whose (discounted) surprise reaches alarm_surprise. The ``hold_rows``
    rows after it score 0; after that the surprise is discounted by
    ``refractory_surprise × exp(-rows since the alarm / refractory_rows)``, so the same
    incident's after-shocks (a shift the baselines are still absorbing) need to be more
    surprising than a fresh event to alarm again. Repeats are noise to whoever is paged, and
    NAB charges each one.
    """
    held = np.asarray(surprise, dtype=float).copy()
    last_alarm = -(10**9)
    for t, value in enumerate(held.tolist()):
        since = t - last_alarm
        if since <= config.hold_rows:
            held[t] = 0.0
            continue
        discount = (
            config.refractory_surprise * math.exp(-since / config.refractory_rows)
            if config.refractory_rows > 0
            else 0.0
        )
        held[t] = max(value - discount, 0.0)
        if held[t] >= config.alarm_surprise:
            last_alarm = t
    return held / (1.0 + held)


def stream_anomaly_scores(
    values: np.ndarray,
    timestamps: pd.DatetimeIndex | None = None,
    *,
    probation: int = 0,
    config: StreamConfig | None = None,
) -> np.ndarray:
    """Causal anomaly score in [0, 1) per row of one series (row t uses rows <= t only).

    score = s / (1 + s) for the calibrated surprise s of ``stream_surprise`` (so 0.714 is the
    default alarm level s = 2.5), quieter after each alarm (``hold_alarms``).
    ``probation`` is accepted for interface symmetry with NAB's detectors; the statistics
    simply start from whatever history exists.
    """
    config = config or StreamConfig()
    return hold_alarms(stream_surprise(values, timestamps, config=config), config)
