"""Result types shared by the engines and the services that store them.

Pure Python: the orchestrator turns these into ML-database rows; the engines never see Django.
Engines may add fields (with defaults); renaming or removing one changes the contract.

Input convention for every engine: a *bucket frame* — a pandas DataFrame indexed by a tz-aware
UTC DatetimeIndex at a regular frequency (default 5 minutes), one row per bucket, columns:
  total_count, debug_count, info_count, warning_count, error_count, critical_count,
  timeout_count, connection_count, auth_count, database_count, api_count, validation_count,
  memory_count, other_count, rt_count, rt_mean, rt_p95, rt_p99, rt_max, user_error_count,
  and one column per system metric, named ``metric_<name>`` (e.g. ``metric_db_pool_in_use``),
  holding the bucket's mean. Missing buckets are rows of zeros (metrics: NaN, forward-filled by
  the feature builder). ``ml_prediction.services.features`` builds it from ErrorRollup and
  MetricSample; the generator and the evaluations build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class InsufficientData(Exception):
    """Too little (or unusable) history to fit or score; the message says what is missing."""


class ModelNotTrained(Exception):
    """No active, verified model for a service and type; the orchestrator records it."""


@dataclass(frozen=True)
class AnomalyScore:
    timestamp: datetime  # bucket start
    metric_name: str  # "error_count" or a system metric
    observed: float
    expected: float
    anomaly_score: float  # calibrated, 0..1
    is_anomaly: bool
    severity_level: str  # low | medium | high | critical
    anomaly_type: str  # spike | drop | trend_change | pattern_deviation | "" when normal
    state: str  # "learning" (cold start: rules only) | "active"
    detector_scores: dict[str, float] = field(default_factory=dict)
    contributing_features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ContributingFactor:
    feature: str
    value: float
    contribution: float  # signed contribution to the log-odds (or importance share)
    description: str = ""


@dataclass(frozen=True)
class ErrorPredictionResult:
    timestamp: datetime  # the bucket the prediction is made from
    target: str  # the label: a category ("timeout", "database", …) or "critical"
    predicted_error_type: str  # the most frequent concrete error type of that target, if known
    probability: float  # calibrated, 0..1
    predicted_severity: str  # low | medium | high | critical
    confidence_level: str  # low | medium | high (the guide's probability thresholds)
    time_horizon_minutes: int
    predicted_timestamp: datetime
    contributing_factors: list[ContributingFactor] = field(default_factory=list)
    affected_users_estimate: int | None = None
    model_algorithm: str = ""


@dataclass(frozen=True)
class ForecastPoint:
    timestamp: datetime
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastResult:
    metric_name: str
    algorithm: str
    points: list[ForecastPoint]
    interval_width: float  # e.g. 0.8
    trend_direction: str  # increasing | decreasing | stable
    peak_value: float
    peak_at: datetime
    capacity_limit: float | None = None
    capacity_warning: str = ""  # empty when the forecast stays under the limit
    backtest: dict[str, Any] = field(default_factory=dict)  # {"mase":…, "smape":…, "coverage":…}
    status: str = "ok"  # ok | fallback (too short/failed: simple rule) | constant


@dataclass(frozen=True)
class SimilarIncident:
    incident_id: str
    similarity: float  # cosine, 0..1
    summary: str
    cause_key: str = ""


@dataclass(frozen=True)
class RootCauseResult:
    cause_key: str  # e.g. "db_pool_exhaustion", "upstream_timeout", "bad_release", "unknown"
    hypothesis: str  # one readable sentence with the numbers behind it
    confidence: float  # 0..1
    decision_path: list[str] = field(default_factory=list)
    similar_incidents: list[SimilarIncident] = field(default_factory=list)
    # bad_release only: the release first seen just before the errors rose (what to roll back);
    # empty when the cause is another, or the errors named no release that preceded the rise
    suspect_release: str = ""
    # upstream_timeout / network_partition: the host most of the hour's errors say they failed
    # on ("payments", "inventory-service"); upstream_failure: the back end whose incident the
    # errors follow ("django"); empty otherwise
    suspect_dependency: str = ""


@dataclass(frozen=True)
class ActionRecommendation:
    action_type: (
        str  # scale_up | restart | increase_pool | clear_cache | rate_limit | rollback_release | …
    )
    title: str
    description: str
    priority: str  # low | medium | high | critical
    can_be_automated: bool
    estimated_impact: str = ""
    cause_key: str = ""


@dataclass(frozen=True)
class TrainingReport:
    """What an engine's fit reports: held-out metrics on a time-ordered split."""

    algorithm: str
    train_samples: int
    validation_samples: int
    metrics: dict[str, float]  # accuracy/precision/recall/f1 where they apply, plus engine-specific
    feature_names: list[str] = field(default_factory=list)
    feature_importances: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
