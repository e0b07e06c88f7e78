"""Error prediction: "will a burst of category T, or critical errors, happen within H minutes?"

One binary classifier per (target, horizon), trained per service on labels made from its own
history (XGBoost or RandomForest with the guide's parameters). The targets are each error
category, critical errors, and "incident": a burst of any of them, the event an on-call person
is paged for; no type is reported likelier than the incident (see `_probabilities`).
Time-ordered splits only: the newest 15% is the held-out test the report's metrics come from;
the model learns from what precedes it. Probabilities are calibrated (Platt sigmoid, or
isotonic once there are enough positive buckets to fit it) on predictions the model could not
have seen: by default ("holdout") a 15% slice before the test slice, which the model never
trains on, together with the other services' buckets of the same period when the fleet is
given; or ("forward") the model trains on everything before the test slice and a twin trained
on the oldest half predicts the rest for the calibrator (more calibration data; on the
generator it raised recall and lowered precision, so it is not the default).
A purge gap of one horizon separates the slices so no label peeks into the next one.
XGBoost is monotone in the features that measure a signal against its own recent baseline
(see `_monotone_constraints`). `alert_min_buckets` (PREDICTION_ALERT_MIN_BUCKETS) is the
debounced alert policy: `predict` reports the probability that held over the last k buckets.
While a burst of a target is already in progress its probability is at least how often such a
burst went on within the horizon in the service's history (`fit_persistence`), and the first
contributing factor says so: the classifiers learn onsets, not "it is happening now".
Pure: numpy/pandas/sklearn/xgboost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from ml_prediction.engines.catalog import CATEGORIES, INCIDENT, duration_text
from ml_prediction.engines.features import (
    describe_feature,
    features_from_normalized,
    normalize_bucket_frame,
    scale_free_columns,
    since_first_report,
)
from ml_prediction.engines.types import (
    ContributingFactor,
    ErrorPredictionResult,
    InsufficientData,
    TrainingReport,
)

ALGORITHMS = ("xgboost", "random_forest")
BURST_TARGETS: tuple[str, ...] = (*CATEGORIES, "critical")
TARGETS: tuple[str, ...] = (*BURST_TARGETS, INCIDENT)
_ARTIFACT = "predictor.joblib"
# No prediction claims certainty. Isotonic calibration returns exactly 1.0 where every
# calibration row of a bin was positive (a 24-hour head on a service that bursts daily), and a
# page read "100% within 24 hours"; a finite sample never shows more than this.
MAX_PROBABILITY = 0.99

DEFAULT_ERROR_TYPE = {
    "timeout": "TimeoutError",
    "connection": "ConnectionError",
    "auth": "AuthenticationError",
    "database": "DatabaseError",
    "api": "UpstreamAPIError",
    "validation": "ValidationError",
    "memory": "OutOfMemoryError",
    "other": "Error",
    "critical": "CriticalError",
    INCIDENT: "ErrorBurst",
}


@dataclass(frozen=True)
class PredictorConfig:
    """Parameters of the error predictor; `from_settings` reads ML_PREDICTION_CONFIG."""

    horizons_minutes: tuple[int, ...] = (30, 120, 1440)
    targets: tuple[str, ...] = TARGETS
    n_estimators: int = 100
    max_depth: int = 5
    learning_rate: float = 0.1
    rf_max_depth: int = 8
    high_probability: float = 0.75
    medium_probability: float = 0.60
    low_probability: float = 0.40
    prediction_threshold: float = 0.60
    alert_min_buckets: int = 1  # a risk must hold this many consecutive buckets (debounce)
    burst_min_count: int = 10  # a burst needs at least this many errors of the category in a bucket
    burst_mad_k: float = 8.0  # … and this many robust standard deviations above the median
    critical_min_count: int = 3  # critical errors in one bucket that count as a critical event
    min_training_buckets: int = 1000
    min_positive_samples: int = 10
    min_positive_events: int = 3  # distinct episodes: one incident is not a pattern
    # sigmoid (Platt) | isotonic | auto: isotonic once the calibration set holds at least
    # `isotonic_min_positives` positive buckets (with the fleet's calibration buckets it does),
    # sigmoid below that, where a step function would fit the few incidents' noise
    calibration: str = "auto"
    isotonic_min_positives: int = 100
    calibration_fraction: float = 0.15
    calibration_scheme: str = "holdout"  # holdout (one slice) | forward (twin model)
    forward_split: float = 0.5  # forward scheme: the twin trains on this oldest share
    test_fraction: float = 0.15
    max_pos_weight: float = 50.0
    monotone_rising: bool = True  # risk never falls as a "…_vs_base" departure grows
    n_jobs: int = 1  # on a shared 2-core box threads cost more than they give
    random_state: int = 42
    bucket_minutes: int = 5
    # fleet training: other services' negatives kept per own training negative (all positives)
    fleet_negative_ratio: float = 1.0
    # fleet training: calibrate on the other services' buckets of the same calibration period too
    fleet_calibration: bool = True

    def __post_init__(self) -> None:
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown prediction targets {unknown}; known: {', '.join(TARGETS)}")
        if self.calibration not in ("sigmoid", "isotonic", "auto"):
            raise ValueError("calibration must be 'sigmoid', 'isotonic' or 'auto'")
        if self.calibration_scheme not in ("forward", "holdout"):
            raise ValueError("calibration_scheme must be 'forward' or 'holdout'")
        if self.alert_min_buckets < 1:
            raise ValueError("alert_min_buckets must be at least 1")
        if not self.horizons_minutes or min(self.horizons_minutes) <= 0:
            raise ValueError("horizons_minutes must be positive")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> PredictorConfig:
        values: dict[str, Any] = {
            "horizons_minutes": (
                int(settings.get("SHORT_TERM_HORIZON", 30)),
                int(settings.get("MEDIUM_TERM_HORIZON", 120)),
                int(settings.get("LONG_TERM_HORIZON", 1440)),
            ),
            "high_probability": float(settings.get("HIGH_PROBABILITY_THRESHOLD", 0.75)),
            "medium_probability": float(settings.get("MEDIUM_PROBABILITY_THRESHOLD", 0.60)),
            "low_probability": float(settings.get("LOW_PROBABILITY_THRESHOLD", 0.40)),
            "prediction_threshold": float(settings.get("PREDICTION_THRESHOLD", 0.60)),
            "alert_min_buckets": int(settings.get("PREDICTION_ALERT_MIN_BUCKETS", 1)),
            "min_training_buckets": int(settings.get("MIN_TRAINING_SAMPLES", 1000)),
            "bucket_minutes": int(settings.get("BUCKET_MINUTES", 5)),
        }
        values.update(overrides)
        return cls(**values)


def level_for(probability: float, config: PredictorConfig) -> str:
    """The guide's probability levels: high / medium / low."""
    if probability >= config.high_probability:
        return "high"
    if probability >= config.medium_probability:
        return "medium"
    return "low"


def held_probabilities(probabilities: pd.DataFrame, min_buckets: int) -> pd.DataFrame:
    """Per column, the probability that held for `min_buckets` consecutive buckets (causal).

    The debounced alert policy: a one-bucket blip (a precursor-shaped wobble that fades, a
    noisy count) does not page anyone; a risk that persists does. It is the trailing minimum,
    so "held ≥ threshold" equals "≥ threshold in each of the last `min_buckets` buckets".
    The first buckets of a window, with too little history to tell, count as not held (0).
    """
    if min_buckets <= 1:
        return probabilities
    return probabilities.rolling(min_buckets, min_periods=min_buckets).min().fillna(0.0)


def burst_thresholds(frame: pd.DataFrame, config: PredictorConfig) -> dict[str, float]:
    """Per target, the bucket count from which it is a burst: robust, from the service's own data.

    The incident target has no threshold of its own: it is any burst of every other target,
    so all of them get one when it is asked for.
    """
    thresholds: dict[str, float] = {}
    wanted = BURST_TARGETS if INCIDENT in config.targets else config.targets
    for target in wanted:
        if target == "critical":
            thresholds[target] = float(config.critical_min_count)
            continue
        counts = frame[f"{target}_count"].to_numpy(dtype=float)
        median = float(np.median(counts))
        mad = float(np.median(np.abs(counts - median))) * 1.4826
        thresholds[target] = max(
            float(config.burst_min_count), median + config.burst_mad_k * max(mad, 1.0)
        )
    return thresholds


def burst_events(frame: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Boolean frame: did target T burst in this bucket? The incident column: did any?"""
    columns = {}
    for target, threshold in thresholds.items():
        column = "critical_count" if target == "critical" else f"{target}_count"
        columns[target] = frame[column].to_numpy(dtype=float) >= threshold
    events = pd.DataFrame(columns, index=frame.index)
    events[INCIDENT] = events.any(axis=1) if columns else False
    return events


def future_labels(events: pd.Series, horizon_buckets: int) -> pd.Series:
    """1 when an event happens in (t, t + horizon]; NaN where that future is not fully observed."""
    values = events.to_numpy(dtype=np.int64)
    n = len(values)
    cumsum = np.concatenate([[0], np.cumsum(values)])
    idx = np.arange(n)
    end = np.minimum(idx + horizon_buckets, n - 1)
    future = cumsum[end + 1] - cumsum[idx + 1]
    labels = (future > 0).astype(float)
    labels[idx + horizon_buckets > n - 1] = np.nan
    # A positive is known even without the full future.
    labels[(idx + horizon_buckets > n - 1) & (future > 0)] = 1.0
    return pd.Series(labels, index=events.index)


# Run lengths told apart by the burst-in-progress floor: 1, 2, and RUN_STATES or more buckets.
RUN_STATES = 3
# Weight (in buckets) of the base rate the floor's frequencies are shrunk towards, so a run
# length seen twice in the history does not set a floor of 0 or 1.
PERSISTENCE_PRIOR = 2.0


def burst_runs(events: pd.Series | np.ndarray) -> np.ndarray:
    """Consecutive event buckets up to and including each bucket (0: no burst in it)."""
    values = np.asarray(events, dtype=bool)
    idx = np.arange(len(values))
    last_quiet = np.maximum.accumulate(np.where(values, -1, idx)) if len(values) else idx
    return np.where(values, idx - last_quiet, 0)


def fit_persistence(
    runs: np.ndarray, labels: np.ndarray, base_rate: float
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """How often, in the history, a burst in progress was followed by the event within the
    horizon, per run length (1, 2, ≥ RUN_STATES buckets); and how many cases each rests on.

    The classifiers learn onsets from precursors. Once a burst has started, the question
    "within H minutes?" is mostly answered by the burst itself, but the trees need not have
    learnt that: on histories where every outage also moved the metrics they split on the
    metrics, and a burst that comes without (an error-only service, an unannounced failure)
    read as 0.2% while it was going on. These frequencies are the floor `_probabilities` puts
    under the classifier while a burst runs; a stray one-bucket blip gets the run-1 frequency,
    which counts blips and onsets alike.
    """
    states = np.minimum(runs, RUN_STATES)
    probability, cases = [], []
    for state in range(1, RUN_STATES + 1):
        seen = labels[states == state]
        probability.append(
            float((seen.sum() + PERSISTENCE_PRIOR * base_rate) / (len(seen) + PERSISTENCE_PRIOR))
        )
        cases.append(len(seen))
    return tuple(probability), tuple(cases)


@dataclass
class _Calibrator:
    method: str  # sigmoid | isotonic | prior | none
    a: float = 1.0
    b: float = 0.0
    isotonic: Any = None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
        if self.method == "sigmoid":
            logit = np.log(raw / (1 - raw))
            return 1.0 / (1.0 + np.exp(-(self.a * logit + self.b)))
        if self.method == "isotonic":
            # IsotonicRegression(out_of_bounds="clip").predict is this interpolation; called
            # directly it skips input validation that cost 0.3 ms per target × horizon head
            # (3 of the 50 ms a 24 h window's scoring may take).
            return np.interp(raw, self.isotonic.X_thresholds_, self.isotonic.y_thresholds_)
        if self.method == "prior":
            # Undo the positive class weight `a` used in training: odds / a.
            return raw / (raw + (1 - raw) * self.a)
        return raw


def _fit_calibrator(
    raw: np.ndarray, y: np.ndarray, method: str, pos_weight: float, isotonic_min_positives: int
) -> _Calibrator:
    """Fit on a held-out slice. With too few of either class there, fall back to undoing the
    training class weight, so a weighted model never reports inflated probabilities."""
    positives = int(y.sum())
    if positives < 3 or positives > len(y) - 3:
        return _Calibrator("prior", a=max(pos_weight, 1.0))
    raw = np.clip(raw, 1e-6, 1 - 1e-6)
    if method == "auto":
        method = "isotonic" if positives >= isotonic_min_positives else "sigmoid"
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw, y)
        return _Calibrator("isotonic", isotonic=iso)
    from sklearn.linear_model import LogisticRegression

    logit = np.log(raw / (1 - raw)).reshape(-1, 1)
    lr = LogisticRegression(C=100.0)
    lr.fit(logit, y)
    return _Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def _binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {
        "accuracy": float(np.mean(pred == (y == 1))) if len(y) else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "brier": float(np.mean((p - y) ** 2)) if len(y) else 0.0,
        "positives": float(y.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }
    if 0 < y.sum() < len(y):
        from sklearn.metrics import roc_auc_score

        metrics["roc_auc"] = float(roc_auc_score(y, p))
    return metrics


@dataclass
class _TargetModel:
    target: str
    horizon_minutes: int
    estimator: Any
    calibrator: _Calibrator
    base_rate: float
    # P(event within the horizon | a burst of the target has run 1, 2, ≥ 3 buckets): the
    # floor while a burst is in progress (`fit_persistence`); empty: none (older artifacts).
    persistence: tuple[float, ...] = ()
    persistence_cases: tuple[int, ...] = ()

    def floor(self, runs: np.ndarray) -> np.ndarray:
        """The burst-in-progress floor per bucket (0 where the target is not bursting)."""
        table = getattr(self, "persistence", ())
        if not table:
            return np.zeros(len(runs))
        lookup = np.concatenate([[0.0], table])
        return lookup[np.minimum(runs, len(table))]


@dataclass
class ErrorPredictorModel:
    """Fitted classifiers per (target, horizon) for one service; predicts from the latest bucket."""

    algorithm: str
    feature_names: list[str]
    models: list[_TargetModel]
    thresholds: dict[str, float]
    bucket_minutes: int
    report: TrainingReport
    feature_mean: dict[str, float] = field(default_factory=dict)
    feature_std: dict[str, float] = field(default_factory=dict)
    error_type_names: dict[str, str] = field(default_factory=dict)
    users_per_event: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # "target@h" → why no model
    # the first bucket of the held-out test slice: every row the model or its calibrator
    # learnt from is older (None: an artifact from before it was recorded)
    heldout_start: datetime | None = None

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        return features.reindex(columns=self.feature_names, fill_value=0.0).to_numpy(
            dtype=np.float32
        )

    def _model_scores(self, x: np.ndarray) -> list[np.ndarray]:
        """Uncalibrated probability per model (in `self.models` order).

        XGBoost's models share one DMatrix: on the one row of a scoring call, a separate
        `inplace_predict` per model spent more in per-call setup than in the trees (the shared
        matrix takes about 0.64× as long for the 21 models, with identical values).
        """
        if self.algorithm == "xgboost":
            matrix = self._dmatrix(x)
            return [
                np.asarray(m.estimator.get_booster().predict(matrix), dtype=float)
                for m in self.models
            ]
        return [m.estimator.predict_proba(x)[:, 1] for m in self.models]

    def _dmatrix(self, x: np.ndarray) -> Any:
        """``x`` as XGBoost's input, built on as many threads as the models predict on.

        DMatrix's default is every core: on a busy box its parallel copy of a one-row matrix
        waited for cores other processes held (the 21 models' scoring took 26 ms instead of
        10 ms beside two CPU-bound processes, same values), while the boosters themselves
        predict on the configured ``n_jobs`` (1 by default).
        """
        import xgboost as xgb

        threads = self.models[0].estimator.get_params().get("n_jobs") if self.models else None
        return xgb.DMatrix(x, nthread=threads if threads and threads > 0 else -1)

    def _features_and_runs(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The window's feature rows and, per target, the length of the burst in progress at
        each bucket (0: none); the window is normalised once for both."""
        data = normalize_bucket_frame(frame, bucket_minutes=self.bucket_minutes)
        events = burst_events(data, self.thresholds)
        runs = {target: burst_runs(events[target]) for target in events.columns}
        return features_from_normalized(data), runs

    def _floors(self, runs: dict[str, np.ndarray], rows: slice) -> list[np.ndarray]:
        """The burst-in-progress floor per model (in `self.models` order) for `rows`."""
        return [
            m.floor(runs[m.target][rows]) if m.target in runs else np.zeros(0) for m in self.models
        ]

    def predict_proba_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Calibrated probability per bucket of `frame`, one column per "target@horizon" (causal)."""
        features, runs = self._features_and_runs(frame)
        floors = self._floors(runs, slice(None))
        probabilities = self._probabilities(self._matrix(features), floors)
        columns = {
            f"{m.target}@{m.horizon_minutes}": p
            for m, p in zip(self.models, probabilities, strict=True)
        }
        return pd.DataFrame(columns, index=features.index)

    def _probabilities(
        self, x: np.ndarray, floors: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Calibrated probabilities per model (in `self.models` order), made coherent.

        `floors` (from `_floors`): while a burst of the target is in progress, the probability
        is at least how often such a burst went on within the horizon in the history.

        A burst of one type is an incident, so no type may be likelier than the incident
        model of the same horizon says an incident is: each type is capped at it. The
        incident model learns from every type's episodes (several times the positives of any
        one type), so where the two disagree it is the better-informed of the two; and the
        alerts, which fire on any row above the threshold, then fire on the incident risk,
        not on the noisiest of nine separately calibrated type models.
        """
        out = [
            np.clip(m.calibrator(raw), 0.0, 1.0)
            for m, raw in zip(self.models, self._model_scores(x), strict=True)
        ]
        if floors is not None:
            out = [np.maximum(p, f) if len(f) else p for p, f in zip(out, floors, strict=True)]
        incident = {
            m.horizon_minutes: p
            for m, p in zip(self.models, out, strict=True)
            if m.target == INCIDENT
        }
        return [
            np.minimum(p, incident[m.horizon_minutes])
            if m.target != INCIDENT and m.horizon_minutes in incident
            else p
            for m, p in zip(self.models, out, strict=True)
        ]

    def predict(
        self, frame: pd.DataFrame, *, config: PredictorConfig
    ) -> list[ErrorPredictionResult]:
        """Every target × horizon for the latest bucket of `frame`, most probable first.

        With `config.alert_min_buckets` = k > 1 the probability is the one that held over the
        last k buckets (their minimum), so callers that compare it with a threshold get the
        debounced policy the evaluation measures.
        """
        features, runs = self._features_and_runs(frame)
        last = features.iloc[[-1]]
        x = self._matrix(last)
        held = min(config.alert_min_buckets, len(features))
        x_held = self._matrix(features.iloc[-held:])
        floors = self._floors(runs, slice(-held, None))
        timestamp = last.index[0].to_pydatetime()
        # XGBoost's input for the factors: built at the first model they explain (none in the
        # usual quiet bucket), then shared by the rest (up to all 21 in an incident)
        row = None
        results: list[ErrorPredictionResult] = []
        for model, recent, floor in zip(
            self.models, self._probabilities(x_held, floors), floors, strict=True
        ):
            probability = float(recent.min())
            if not np.isfinite(probability):
                probability = model.base_rate
            probability = min(probability, MAX_PROBABILITY)
            level = level_for(probability, config)
            severity = "critical" if (model.target == "critical" and level == "high") else level
            explain = probability >= config.low_probability
            if explain and row is None and self.algorithm == "xgboost":
                row = self._dmatrix(x)
            factors = self._factors(model, x, row=row) if explain else []
            # the floor explains the probability only when it held over the buckets the
            # probability held over (the first bucket of a burst reports the quiet one before)
            if len(floor) and floor.min() > 0 and floor.min() >= probability:
                factors = [self._burst_factor(model, int(runs[model.target][-1])), *factors]
            users = self.users_per_event.get(model.target)
            results.append(
                ErrorPredictionResult(
                    timestamp=timestamp,
                    target=model.target,
                    predicted_error_type=self.error_type_names.get(
                        model.target, DEFAULT_ERROR_TYPE.get(model.target, "Error")
                    ),
                    probability=round(probability, 4),
                    predicted_severity=severity,
                    confidence_level=level,
                    time_horizon_minutes=model.horizon_minutes,
                    predicted_timestamp=timestamp
                    + timedelta(minutes=self.bucket_minutes + model.horizon_minutes),
                    contributing_factors=factors,
                    affected_users_estimate=_affected_users(users, probability),
                    model_algorithm=self.algorithm,
                )
            )
        results.sort(key=lambda r: (-r.probability, r.time_horizon_minutes, r.target))
        return results

    def _burst_factor(self, model: _TargetModel, run: int) -> ContributingFactor:
        """Why the probability is what it is while a burst is in progress: its run and the
        history's frequency behind the floor."""
        state = min(run, len(model.persistence))
        what = "errors of any type" if model.target == INCIDENT else f"{model.target} errors"
        return ContributingFactor(
            feature=f"{model.target}_burst_in_progress",
            value=float(run),
            contribution=round(model.persistence[state - 1], 4),
            description=(
                f"a burst of {what} is in progress ({run} bucket{'s' if run != 1 else ''} in "
                f"a row); in this service's history such a burst went on within "
                f"{duration_text(model.horizon_minutes)} {model.persistence[state - 1]:.0%} "
                "of the time "
                f"({model.persistence_cases[state - 1]} cases)"
            ),
        )

    def _factors(
        self, model: _TargetModel, x: np.ndarray, top: int = 5, *, row: Any = None
    ) -> list[ContributingFactor]:
        """Per-prediction contributions (XGBoost SHAP values, or importance × standardised
        value): the ``top`` largest in size, those that raise the risk first (largest first),
        then those that lower it (largest first). By size alone a factor lowering the risk came
        second, under a headline that lists what raises it. ``row``: ``x`` as XGBoost's input
        when the caller has built it."""
        if self.algorithm == "xgboost":
            booster = model.estimator.get_booster()
            matrix = self._dmatrix(x) if row is None else row
            contribs = booster.predict(matrix, pred_contribs=True)[0][:-1]
        else:
            importances = model.estimator.feature_importances_
            mean = np.array([self.feature_mean.get(f, 0.0) for f in self.feature_names])
            std = np.array([self.feature_std.get(f, 1.0) or 1.0 for f in self.feature_names])
            contribs = importances * (x[0] - mean) / std
        largest = np.argsort(-np.abs(contribs))[:top]
        order = sorted(largest, key=lambda i: (contribs[i] < 0, -abs(contribs[i])))
        return [
            ContributingFactor(
                feature=self.feature_names[i],
                value=round(float(x[0, i]), 4),
                contribution=round(float(contribs[i]), 4),
                description=_describe(
                    self.feature_names[i],
                    float(x[0, i]),
                    float(contribs[i]),
                    bucket_minutes=self.bucket_minutes,
                ),
            )
            for i in order
            if contribs[i] != 0
        ]

    def save(self, directory: Path) -> Path:
        """Write the fitted state (joblib) and a readable summary; returns the artifact path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _ARTIFACT
        joblib.dump(self, path)
        summary = {
            "algorithm": self.algorithm,
            "models": [f"{m.target}@{m.horizon_minutes}" for m in self.models],
            "skipped": self.skipped,
            "report": asdict(self.report),
        }
        (directory / "predictor.json").write_text(json.dumps(summary, indent=2, default=str))
        return path

    @classmethod
    def load(cls, directory: Path) -> ErrorPredictorModel:
        """Load from our own artifact store only (the registry verified its sha256 first)."""
        model = joblib.load(Path(directory) / _ARTIFACT)
        if not isinstance(model, cls):
            raise TypeError(f"{directory} does not hold an ErrorPredictorModel")
        return model


def _describe(feature: str, value: float, contribution: float, *, bucket_minutes: int) -> str:
    direction = "raises" if contribution > 0 else "lowers"
    return (
        f"{describe_feature(feature, value, bucket_minutes=bucket_minutes)} — {direction} the risk"
    )


@dataclass(frozen=True)
class FeedbackEffect:
    """What feedback did to the training labels (recorded in the held-out report).

    ``rows``: feedback rows given; ``applied``: rows that matched at least one label of the
    window; ``changed``: rows that changed at least one label; ``overruled_by_data``: rows
    saying "did not happen" for a label the data itself marks as happened (ignored, see
    `_apply_feedback`); ``held_out``: rows on held-out buckets, not applied (the held-out
    labels stay the data's). ``changed_at``: the bucket of every changed label (one per
    changed (target, horizon) label), so the caller can tell training from calibration rows.
    """

    rows: int = 0
    applied: int = 0
    changed: int = 0
    overruled_by_data: int = 0
    changed_at: tuple[pd.Timestamp, ...] = ()
    held_out: int = 0


def _apply_feedback(
    labels: dict[tuple[str, int], pd.Series],
    feedback: pd.DataFrame | None,
    bucket_minutes: int,
    error_type_names: Mapping[str, str] | None = None,
    *,
    held_out_from: pd.Timestamp | None = None,
) -> FeedbackEffect:
    """Override labels with human verdicts and recorded outcomes; returns what changed.

    Rows at or after `held_out_from` (the held-out test slice) are left as the data defines
    them and counted in ``held_out``.

    `feedback` columns: timestamp, verdict (true_positive | false_positive) or occurred (bool),
    optional target and horizon_minutes (absent → every target / horizon). A target may also be
    a concrete error type name (mapped back through `error_type_names`).

    The data wins over "it did not happen": a false-positive verdict (or occurred=False) on a
    label the stored counts themselves mark as 1 (the target burst within the horizon) is
    ignored. People judge an alert by how it felt ("nothing broke for us"); the label is
    defined by the burst, and the burst is in the data. A true-positive verdict may still turn a
    0 (or an unobserved future) into a 1: a person can know of an outage the counts missed.
    """
    by_type = {name: target for target, name in (error_type_names or {}).items()}
    if feedback is None or len(feedback) == 0:
        return FeedbackEffect()
    if "timestamp" not in feedback.columns:
        raise ValueError("feedback needs a 'timestamp' column")
    applied = changed = overruled = held_out = 0
    changed_at: list[pd.Timestamp] = []
    for row in feedback.itertuples(index=False):
        data = row._asdict()
        if "verdict" in data and data["verdict"] in ("true_positive", "false_positive"):
            value = 1.0 if data["verdict"] == "true_positive" else 0.0
        elif "occurred" in data and data["occurred"] is not None:
            value = 1.0 if bool(data["occurred"]) else 0.0
        else:
            continue
        ts = pd.Timestamp(data["timestamp"])
        ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor(
            f"{bucket_minutes}min"
        )
        if held_out_from is not None and ts >= held_out_from:
            held_out += 1
            continue
        wanted = data.get("target")
        if isinstance(wanted, str) and wanted not in TARGETS:
            wanted = by_type.get(wanted)  # unknown names apply to every target
        matched = row_changed = row_overruled = False
        for (target, horizon), series in labels.items():
            if wanted not in (None, "", target):
                continue
            if data.get("horizon_minutes") not in (None, horizon) and not pd.isna(
                data.get("horizon_minutes")
            ):
                continue
            if ts not in series.index:
                continue
            matched = True
            current = series.loc[ts]
            if value == 0.0 and current == 1.0:
                row_overruled = True  # the data says it happened: keep the data's label
                continue
            if current != value:  # NaN (future not observed) != anything
                series.loc[ts] = value
                changed_at.append(ts)
                row_changed = True
        applied += matched
        changed += row_changed
        overruled += row_overruled
    return FeedbackEffect(
        rows=len(feedback),
        applied=applied,
        changed=changed,
        overruled_by_data=overruled,
        changed_at=tuple(changed_at),
        held_out=held_out,
    )


def feedback_metrics(
    effect: FeedbackEffect, index: pd.DatetimeIndex, *, train_end: int, test_start: int
) -> dict[str, float]:
    """The report's feedback figures: rows given / applied / changed / overruled, the changed
    labels by slice (training rows, calibration rows), and the held-out labels feedback would
    have changed but did not."""
    positions = index.get_indexer(list(effect.changed_at)) if effect.changed_at else np.array([])
    positions = positions[positions >= 0]
    return {
        "feedback_rows": float(effect.rows),
        "feedback_applied": float(effect.applied),
        "feedback_changed": float(effect.changed),
        "feedback_overruled_by_data": float(effect.overruled_by_data),
        "feedback_changed_labels_train": float(np.sum(positions < train_end)),
        "feedback_changed_labels_calibration": float(
            np.sum((positions >= train_end) & (positions < test_start))
        ),
        # feedback rows on held-out buckets, not applied (`fit_error_predictor`)
        "feedback_heldout_not_applied": float(effect.held_out),
    }


def first_burst(
    frame: pd.DataFrame,
    *,
    target: str,
    thresholds: Mapping[str, float],
    bucket_minutes: int,
) -> pd.Timestamp | None:
    """The first bucket of `frame` in which `target` burst (None: it did not burst in it).

    The outcome of a prediction, with the definition the model was trained on: `frame` holds
    the buckets of the prediction's horizon ((t, t + H], as `future_labels` looks ahead) and
    `thresholds` are the model's own burst thresholds (`ErrorPredictorModel.thresholds`).
    Raises KeyError for a target the thresholds do not define.
    """
    if target != INCIDENT and target not in thresholds:
        raise KeyError(f"no burst threshold for target {target!r}")
    data = normalize_bucket_frame(frame, bucket_minutes=bucket_minutes)
    flags = burst_events(data, thresholds)[target]
    hits = flags[flags.to_numpy(dtype=bool)]
    return None if hits.empty else pd.Timestamp(hits.index[0])


# ErrorPrediction.affected_users_count is a PositiveIntegerField (PostgreSQL integer): a larger
# estimate would fail the whole analysis transaction. No service has more users than this, so
# a bucket's user count and the estimate are capped at it: corrupt counts (1e308) stay finite.
MAX_AFFECTED_USERS = 2_147_483_647


def _affected_users(users_per_event: float | None, probability: float) -> int | None:
    """The users a predicted event would hit: users per event × probability, capped at
    ``MAX_AFFECTED_USERS``; None when unknown (or not a finite number, from an old artifact)."""
    if users_per_event is None or not math.isfinite(users_per_event):
        return None
    return min(round(max(users_per_event, 0.0) * probability), MAX_AFFECTED_USERS)


def _users_per_event(frame: pd.DataFrame, events: pd.DataFrame) -> dict[str, float]:
    """Median users hit per event episode, when the data carries user counts."""
    users = np.clip(frame["user_error_count"].to_numpy(dtype=float), 0.0, MAX_AFFECTED_USERS)
    if users.sum() <= 0:
        return {}
    out: dict[str, float] = {}
    for target in events.columns:
        flags = events[target].to_numpy()
        if not flags.any():
            continue
        episode = np.cumsum(np.diff(np.concatenate([[0], flags.astype(int)])) == 1)
        sums = pd.Series(users[flags]).groupby(episode[flags]).sum()
        out[target] = float(sums.median())
    return out


def fit_error_predictor(
    frame: pd.DataFrame,
    *,
    config: PredictorConfig,
    algorithm: str = "xgboost",
    feedback: pd.DataFrame | None = None,
    error_type_names: Mapping[str, str] | None = None,
    fleet_frames: Sequence[pd.DataFrame] = (),
) -> ErrorPredictorModel:
    """Fit one calibrated classifier per (target, horizon) on the service's bucket history.

    Raises InsufficientData when there are too few buckets, or when no target has enough
    positives and negatives to learn from (a service with no errors, a single class).
    `error_type_names` maps a target to the service's most frequent concrete error type.

    `fleet_frames`: other services' bucket histories, added to the training rows only. One
    service sees a handful of incidents a month, too few to learn where a departure from normal
    turns into an outage; the fleet sees many, and the departure features (each signal against
    its own baseline) mean the same on every service; with a fleet the model uses only the
    features without a service-specific scale (`scale_free_columns`). Each frame gets its own
    burst thresholds and labels; its rows before this service's calibration slice are training
    rows, its rows of the calibration period join the calibration (`fleet_calibration`: each
    service's 0.7 then rests on the fleet's incidents, not on its own two or three), and the
    held-out metrics stay on this service's own, later data.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    data = since_first_report(normalize_bucket_frame(frame, bucket_minutes=config.bucket_minutes))
    bm = data.attrs["bucket_minutes"]
    if len(data) < config.min_training_buckets:
        raise InsufficientData(
            f"{len(data)} buckets of history; the error predictor needs at least {config.min_training_buckets}"
        )
    if float(data["total_count"].sum()) == 0:
        raise InsufficientData("the service has no errors in its history: nothing to learn")
    features = features_from_normalized(data)
    if fleet_frames:
        # learning from other services: only the features that mean the same on each of them
        features = features[scale_free_columns(list(features.columns))]
    feature_names = list(features.columns)
    x_all = features.to_numpy(dtype=np.float32)
    n = len(features)
    cal_start = int(n * (1 - config.calibration_fraction - config.test_fraction))
    test_start = int(n * (1 - config.test_fraction))
    # The label definition (each target's burst threshold) is fitted on the rows the model
    # learns from, never on the held-out test slice it is then scored against.
    thresholds = burst_thresholds(data.iloc[: max(test_start, 1)], config)
    events = burst_events(data, thresholds)
    runs = {target: burst_runs(events[target]) for target in events.columns}

    labels: dict[tuple[str, int], pd.Series] = {}
    for horizon in config.horizons_minutes:
        h = max(round(horizon / bm), 1)
        for target in config.targets:
            labels[(target, horizon)] = future_labels(events[target], h)
    # Feedback teaches, it does not grade: held-out labels stay the data's. People confirm
    # what the previous model flagged, so feedback-made held-out positives would score each
    # new model on agreeing with the old one (and promotion and the paging gate read them).
    effect = _apply_feedback(
        labels,
        feedback,
        bm,
        error_type_names,
        held_out_from=features.index[test_start] if test_start < n else None,
    )
    fleet, fleet_cal = _fleet_rows(
        fleet_frames,
        config=config,
        bucket_minutes=bm,
        feature_names=feature_names,
        before=features.index[max(cal_start, 0)],
        calibration_before=features.index[min(max(test_start, 0), n - 1)],
    )
    models: list[_TargetModel] = []
    skipped: dict[str, str] = {}
    metrics: dict[str, float] = {}
    importances = np.zeros(len(feature_names))
    pooled_y: list[np.ndarray] = []
    pooled_p: list[np.ndarray] = []
    for (target, horizon), series in labels.items():
        key = f"{target}@{horizon}"
        h = max(round(horizon / bm), 1)
        gap = min(h, max(n // 20, 1))  # purge: no training label may look into the next slice
        y_all = series.to_numpy()
        known = ~np.isnan(y_all)
        if config.calibration_scheme == "forward":
            # The final model learns from everything before the test slice; its calibrator
            # comes from a forward-chained twin trained on the oldest part and applied to
            # the rest (more held-out positives than a single short slice gives).
            train_idx = np.arange(0, max(test_start - gap, 0))
            split = int(n * config.forward_split)
            twin_idx = np.arange(0, max(split - gap, 0))
            twin_idx = twin_idx[known[twin_idx]]
            cal_idx = np.arange(split, max(test_start - gap, split))
        else:
            train_idx = np.arange(0, max(cal_start - gap, 0))
            twin_idx = np.arange(0)
            cal_idx = np.arange(cal_start, max(test_start - gap, cal_start))
        test_idx = np.arange(test_start, n)
        train_idx = train_idx[~np.isnan(y_all[train_idx])]
        cal_idx = cal_idx[~np.isnan(y_all[cal_idx])]
        test_idx = test_idx[~np.isnan(y_all[test_idx])]
        fleet_rows = fleet.get((target, horizon))
        x_train, y_train = _with_fleet(
            x_all[train_idx], y_all[train_idx].astype(int), fleet_rows, config
        )
        positives = int(y_train.sum())
        negatives = len(y_train) - positives
        episodes = int(np.sum(np.diff(np.concatenate([[0], y_train])) == 1))
        if positives < config.min_positive_samples or negatives < config.min_positive_samples:
            skipped[key] = f"{positives} positive and {negatives} negative training buckets"
            continue
        if episodes < config.min_positive_events:
            skipped[key] = (
                f"{episodes} distinct positive episodes (need {config.min_positive_events})"
            )
            continue
        estimator = _make_estimator(algorithm, config, positives, negatives, feature_names)
        estimator.fit(x_train, y_train)
        tm = _TargetModel(target, horizon, estimator, _Calibrator("none"), positives / len(y_train))
        calibration_estimator = estimator
        pos_weight = (
            _pos_weight(positives, negatives, config)
            if algorithm == "xgboost"
            else negatives / max(positives, 1)
        )
        if len(twin_idx):
            # the twin learns like the final model does
            x_twin, y_twin = _with_fleet(
                x_all[twin_idx], y_all[twin_idx].astype(int), fleet_rows, config
            )
            twin_pos = int(y_twin.sum())
            if min(twin_pos, len(y_twin) - twin_pos) >= config.min_positive_samples:
                calibration_estimator = _make_estimator(
                    algorithm, config, twin_pos, len(y_twin) - twin_pos, feature_names
                )
                calibration_estimator.fit(x_twin, y_twin)
            else:
                cal_idx = np.arange(0)  # no usable twin: undo the class weight instead
        raw_cal = (
            _raw_scores(algorithm, calibration_estimator, x_all[cal_idx])
            if len(cal_idx)
            else np.array([])
        )
        y_cal = y_all[cal_idx].astype(int)
        if 0 < y_cal.sum() < len(y_cal):
            # the head's skill on its own calibration rows, before the test slice: what the
            # paging gate reads, so choosing which heads page does not flatter the held-out
            # figures reported for them
            from sklearn.metrics import roc_auc_score

            metrics[f"{key}.cal_roc_auc"] = round(float(roc_auc_score(y_cal, raw_cal)), 4)
        fleet_cal_rows = fleet_cal.get((target, horizon))
        if config.fleet_calibration and fleet_cal_rows is not None and not len(twin_idx):
            raw_cal = np.concatenate(
                [raw_cal, _raw_scores(algorithm, estimator, fleet_cal_rows[0])]
            )
            y_cal = np.concatenate([y_cal, fleet_cal_rows[1]])
        tm.calibrator = _fit_calibrator(
            raw_cal, y_cal, config.calibration, pos_weight, config.isotonic_min_positives
        )
        # the floor's frequencies: the service's own training rows (the fleet's runs are
        # not kept; its rows only join the classifier's training)
        tm.persistence, tm.persistence_cases = fit_persistence(
            runs[target][train_idx], y_all[train_idx], tm.base_rate
        )
        # what the head sees without any signal: a page must say more than this (ALERT_MIN_LIFT)
        metrics[f"{key}.base_rate"] = round(tm.base_rate, 4)
        models.append(tm)
        importances += np.asarray(estimator.feature_importances_, dtype=float)
        if len(test_idx):
            p_test = np.maximum(
                tm.calibrator(_raw_scores(algorithm, estimator, x_all[test_idx])),
                tm.floor(runs[target][test_idx]),
            )
            y_test = y_all[test_idx].astype(int)
            for name, value in _binary_metrics(y_test, p_test, config.prediction_threshold).items():
                metrics[f"{key}.{name}"] = round(value, 4)
            metrics[f"{key}.calibrated"] = (
                1.0 if tm.calibrator.method in ("sigmoid", "isotonic") else 0.0
            )
            pooled_y.append(y_test)
            pooled_p.append(p_test)
    if not models:
        raise InsufficientData(
            "no prediction target has enough positive and negative examples: "
            + "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:4])
        )
    if pooled_y:
        pooled = _binary_metrics(
            np.concatenate(pooled_y), np.concatenate(pooled_p), config.prediction_threshold
        )
        metrics.update({k: round(v, 4) for k, v in pooled.items()})
    metrics.update(_macro_roc_auc(metrics))
    metrics.update(
        feedback_metrics(
            effect,
            features.index,
            train_end=test_start if config.calibration_scheme == "forward" else cal_start,
            test_start=test_start,
        )
    )
    total_importance = importances.sum() or 1.0
    ranked = sorted(
        zip(feature_names, importances / total_importance, strict=True), key=lambda t: -t[1]
    )
    report = TrainingReport(
        algorithm=algorithm,
        train_samples=int(
            max(test_start if config.calibration_scheme == "forward" else cal_start, 0)
        ),
        validation_samples=int(n - test_start),
        metrics=metrics,
        feature_names=feature_names,
        feature_importances={k: round(float(v), 5) for k, v in ranked[:25]},
        hyperparameters={
            "n_estimators": config.n_estimators,
            "max_depth": config.max_depth if algorithm == "xgboost" else config.rf_max_depth,
            "learning_rate": config.learning_rate if algorithm == "xgboost" else None,
            "calibration": config.calibration,
            "horizons_minutes": list(config.horizons_minutes),
            "burst_thresholds": {k: round(v, 2) for k, v in thresholds.items()},
            "models": [f"{m.target}@{m.horizon_minutes}" for m in models],
            "skipped": skipped,
            "burst_persistence": {
                f"{m.target}@{m.horizon_minutes}": [round(p, 3) for p in m.persistence]
                for m in models
            },
        },
    )
    train_part = features.iloc[: max(cal_start, 1)]
    names = dict(error_type_names or {})
    return ErrorPredictorModel(
        algorithm=algorithm,
        feature_names=feature_names,
        models=models,
        thresholds=thresholds,
        bucket_minutes=bm,
        report=report,
        feature_mean={k: float(v) for k, v in train_part.mean().items()},
        feature_std={k: float(v) for k, v in train_part.std().fillna(1.0).items()},
        error_type_names=names,
        users_per_event=_users_per_event(
            data.iloc[: max(cal_start, 1)], events.iloc[: max(cal_start, 1)]
        ),
        skipped=skipped,
        heldout_start=(features.index[test_start].to_pydatetime() if test_start < n else None),
    )


@dataclass(frozen=True)
class HeldoutComparison:
    """Two versions' macro ROC-AUC on the same held-out buckets with the same labels."""

    challenger: float
    champion: float
    heads: list[str]
    rows: int
    since: datetime


def compare_on_heldout(
    challenger: ErrorPredictorModel, champion: ErrorPredictorModel, frame: pd.DataFrame
) -> HeldoutComparison:
    """Score both versions on the challenger's held-out buckets of `frame` (the frame it was
    trained on), labelled once with the challenger's burst thresholds, on the heads both have.

    Each version's own held-out metrics come from its own, different window: a quiet week
    scores higher than a week with outages whatever the model. Here both see the same rows.
    Fair only when the champion learnt nothing from those rows, i.e. its own held-out slice
    starts no later; otherwise, or when no shared head has both classes there, InsufficientData
    says why and the caller falls back to comparing the reported metrics.
    """
    since = challenger.heldout_start
    if since is None:
        raise InsufficientData("the challenger did not record where its held-out rows start")
    if champion.heldout_start is None:
        raise InsufficientData("the active model predates held-out start records")
    if champion.heldout_start > since:
        raise InsufficientData(
            "the active model trained on rows the challenger holds out "
            f"(its held-out slice starts {champion.heldout_start:%Y-%m-%d %H:%M}, "
            f"the challenger's {since:%Y-%m-%d %H:%M})"
        )
    data = normalize_bucket_frame(frame, bucket_minutes=challenger.bucket_minutes)
    events = burst_events(data, challenger.thresholds)
    new = challenger.predict_proba_frame(frame)
    old = champion.predict_proba_frame(frame)
    rows = new.index >= pd.Timestamp(since)
    from sklearn.metrics import roc_auc_score

    new_auc: list[float] = []
    old_auc: list[float] = []
    heads: list[str] = []
    for model in challenger.models:
        head = f"{model.target}@{model.horizon_minutes}"
        if head not in old.columns or model.target not in events.columns:
            continue
        h = max(round(model.horizon_minutes / challenger.bucket_minutes), 1)
        y = future_labels(events[model.target], h).reindex(new.index).to_numpy()
        keep = rows & ~np.isnan(y)
        y_kept = y[keep].astype(int)
        if not 0 < y_kept.sum() < len(y_kept):
            continue
        new_auc.append(float(roc_auc_score(y_kept, new[head].to_numpy()[keep])))
        old_auc.append(float(roc_auc_score(y_kept, old[head].to_numpy()[keep])))
        heads.append(head)
    if not heads:
        raise InsufficientData(
            "no prediction head both versions have saw both outcomes in the held-out rows"
        )
    return HeldoutComparison(
        challenger=round(float(np.mean(new_auc)), 4),
        champion=round(float(np.mean(old_auc)), 4),
        heads=heads,
        rows=int(rows.sum()),
        since=since,
    )


def _macro_roc_auc(metrics: Mapping[str, float]) -> dict[str, float]:
    """The mean of the per-head held-out ROC-AUCs ("target@horizon.roc_auc"), where defined.

    The pooled ``roc_auc`` ranks every head's buckets together: heads with very different base
    rates separate from each other, so it comes out higher than any single head (0.919 pooled
    with incident@1440 at 0.513, chance) and does not measure the heads that page anyone. The
    macro mean weighs each head the same; champion/challenger decides on it.
    """
    heads = [v for k, v in metrics.items() if k.endswith(".roc_auc") and "@" in k]
    if not heads:
        return {}
    return {"roc_auc_macro": round(float(np.mean(heads)), 4), "roc_auc_heads": float(len(heads))}


def _with_fleet(
    x: np.ndarray,
    y: np.ndarray,
    fleet_rows: tuple[np.ndarray, np.ndarray] | None,
    config: PredictorConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """The service's own rows followed by the fleet's for the same target, thinned so the fleet
    adds about ``fleet_negative_ratio`` quiet buckets per own quiet bucket."""
    if fleet_rows is None:
        return x, y
    x_fleet, y_fleet = _thin_negatives(
        *fleet_rows, keep=int(config.fleet_negative_ratio * (len(y) - y.sum()))
    )
    return np.vstack([x, x_fleet]), np.concatenate([y, y_fleet])


def _thin_negatives(x: np.ndarray, y: np.ndarray, *, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Every positive, and at most about `keep` negatives taken at an even stride.

    The fleet's quiet buckets say little the service's own do not; its incidents are what the
    service lacks. Thinning keeps training time near that of the service alone (the forest
    would otherwise cost seven times as much); the calibration on the service's own slice
    absorbs the changed class balance.
    """
    negatives = np.flatnonzero(y == 0)
    if keep <= 0 or len(negatives) <= keep:
        return x, y
    stride = int(np.ceil(len(negatives) / keep))
    rows = np.sort(np.concatenate([np.flatnonzero(y == 1), negatives[::stride]]))
    return x[rows], y[rows]


_FleetRows = dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]


def _fleet_rows(
    frames: Sequence[pd.DataFrame],
    *,
    config: PredictorConfig,
    bucket_minutes: int,
    feature_names: list[str],
    before: pd.Timestamp,
    calibration_before: pd.Timestamp,
) -> tuple[_FleetRows, _FleetRows]:
    """Rows from other services, (features, labels) per (target, horizon): training rows (before
    `before`, this service's calibration slice) and calibration rows (from `before` to
    `calibration_before`, the start of its held-out slice).

    Each part's labels only look at that part's own data, as this service's slices do. Features
    are aligned to this service's columns; a signal the other service does not have reads as
    "no departure" (ratio 1, everything else 0). Frames too short or without errors are
    skipped: the fleet only adds evidence, it never makes training fail.
    """
    parts: dict[tuple[str, int], tuple[list[np.ndarray], list[np.ndarray]]] = {}
    cal_parts: dict[tuple[str, int], tuple[list[np.ndarray], list[np.ndarray]]] = {}
    fill = {name: (1.0 if _is_baseline_level(name) else 0.0) for name in feature_names}
    for frame in frames:
        try:
            data = normalize_bucket_frame(frame, bucket_minutes=bucket_minutes)
        except InsufficientData:
            continue
        data = since_first_report(data[data.index < calibration_before])
        n_train = int(np.searchsorted(data.index, before))
        if n_train < config.min_training_buckets or float(data["total_count"].sum()) == 0:
            continue
        features = features_from_normalized(data)  # causal: one pass
        x = features.reindex(columns=feature_names)
        x = x.fillna(fill).to_numpy(dtype=np.float32)
        events = burst_events(data, burst_thresholds(data.iloc[:n_train], config))
        for horizon in config.horizons_minutes:
            h = max(round(horizon / bucket_minutes), 1)
            for target in config.targets:
                for store, rows, y in (
                    (parts, x[:n_train], future_labels(events[target].iloc[:n_train], h)),
                    (cal_parts, x[n_train:], future_labels(events[target], h).iloc[n_train:]),
                ):
                    labels = y.to_numpy()
                    known = ~np.isnan(labels)
                    xs, ys = store.setdefault((target, horizon), ([], []))
                    xs.append(rows[known])
                    ys.append(labels[known].astype(int))

    def stacked(store: dict) -> _FleetRows:
        return {key: (np.vstack(xs), np.concatenate(ys)) for key, (xs, ys) in store.items()}

    return stacked(parts), stacked(cal_parts)


def _make_estimator(
    algorithm: str,
    config: PredictorConfig,
    positives: int,
    negatives: int,
    feature_names: list[str] | None = None,
) -> Any:
    """Class imbalance: XGBoost weighs positives by sqrt(neg/pos); the forest balances classes."""
    if algorithm == "xgboost":
        monotone = (
            _monotone_constraints(feature_names)
            if config.monotone_rising and feature_names
            else None
        )
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            learning_rate=config.learning_rate,
            scale_pos_weight=_pos_weight(positives, negatives, config),
            min_child_weight=5,
            tree_method="hist",
            max_bin=64,
            subsample=0.9,
            colsample_bytree=1.0,  # every tree sees the baseline levels the constraints hold
            monotone_constraints=monotone,
            n_jobs=config.n_jobs,
            random_state=config.random_state,
            eval_metric="logloss",
        )
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=config.n_estimators,
        max_depth=config.rf_max_depth,
        min_samples_leaf=10,
        max_samples=0.5,
        class_weight="balanced_subsample",
        n_jobs=config.n_jobs,
        random_state=config.random_state,
    )


def _monotone_constraints(feature_names: list[str]) -> str:
    """XGBoost constraints: the risk may only rise with a level against its own baseline.

    With a handful of incidents per service, an unconstrained model can learn that a p95 twice
    its normal is *safer* than one 1.8 times it because one near miss happened to peak there.
    Levels (`…_vs_base`, `…_vs_base_min_15m`) are constrained; their changes and accelerations,
    which legitimately go both ways, and every other feature are free.
    """
    flags = ("1" if _is_baseline_level(name) else "0" for name in feature_names)
    return "(" + ",".join(flags) + ")"


def _is_baseline_level(name: str) -> bool:
    """A signal's level against its own baseline (1 = as usual), not its change or acceleration."""
    return "_vs_base" in name and not name.endswith(("_change_15m", "_accel_15m"))


def _pos_weight(positives: int, negatives: int, config: PredictorConfig) -> float:
    """Square root of the imbalance: enough to learn rare positives without chasing noise."""
    return float(min(np.sqrt(negatives / max(positives, 1)), config.max_pos_weight))


def _raw_scores(algorithm: str, estimator: Any, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.array([])
    if algorithm == "xgboost":
        return np.asarray(estimator.get_booster().inplace_predict(x), dtype=float)
    return estimator.predict_proba(x)[:, 1]
