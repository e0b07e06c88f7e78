"""Training lifecycle: fit every model type of a service, record history, champion/challenger.

One ``ModelTrainingHistory`` row per (model type, algorithm) run, committed as ``running`` before
the fit starts, so a run killed half-way is visible; the next run (or ``training_reap_orphans``)
marks such rows ``failed``. A new version is stored inactive and promoted only when its held-out
metric is not worse than the active version's; until then the previous active model keeps
serving, and a failed run never touches it.

Two comparisons, two rules. Candidates of one run (the error classifier's XGBoost and
RandomForest) are fitted on the same frame and scored on the same held-out rows: the better one
on the primary metric wins outright, a tie keeps the default algorithm (XGBoost), and only the
run's winner is compared with the active model. Across runs, champion and challenger were scored
on different held-out windows (each the most recent data of its own training window), so there
a challenger within PROMOTION_TOLERANCE of the champion still counts as "not worse" — except
for the error classifier, whose champion is scored on the challenger's own held-out rows
(`compare_on_heldout`) and then compared strictly; the tolerance rule is its fallback only when
that comparison is not fair (the champion trained on those rows) or not possible.
Why a version was or was not promoted is kept in its history row's ``metrics["promotion"]``
(with ``compared_with``) and shown by the model detail API (`model_training_summary`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.utils import timezone

from feeding_hearts.catalog import SERVICES
from ml_prediction.engines.types import InsufficientData, TrainingReport
from ml_prediction.models import (
    AnomalyDetection,
    MLModel,
    ModelTrainingHistory,
    OutcomeSource,
    PredictionFeedback,
    PreventiveAction,
)
from ml_prediction.services import registry
from ml_prediction.services.features import (
    bucket_frame_for_service,
    error_name_counts_for_service,
    error_total_for_service,
    lookback_window,
    metric_quantile_series,
)
from ml_prediction.services.locks import process_alive

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
MODEL_TYPES: tuple[str, ...] = (
    MLModel.ModelType.ANOMALY_DETECTION,
    MLModel.ModelType.ERROR_CLASSIFIER,
    MLModel.ModelType.TIME_SERIES_FORECAST,
    MLModel.ModelType.ROOT_CAUSE,
)
CLASSIFIER_ALGORITHMS: tuple[str, ...] = ("xgboost", "random_forest")
# The fleet's histories go to the XGBoost predictor, the default champion. The RandomForest
# challenger keeps to the service's own history: with the fleet it cost 4× as long (52.8 s
# against 12.2 s per service, docs/benchmarks/engines.md), which pushed `make demo` past 5 minutes.
FLEET_ALGORITHM = "xgboost"
# (metric, higher_is_better) in order of preference; the first one both versions have decides.
PRIMARY_METRICS: dict[str, tuple[tuple[str, bool], ...]] = {
    MLModel.ModelType.ANOMALY_DETECTION: (("f1", True), ("auc_pr", True), ("precision", True)),
    # roc_auc_macro: the mean of the per-head ROC-AUCs (the pooled roc_auc mixes heads of very
    # different base rates and rates higher than every head); the pooled one stays as the
    # fallback for champions trained before the macro was reported.
    MLModel.ModelType.ERROR_CLASSIFIER: (
        ("roc_auc_macro", True),
        ("roc_auc", True),
        ("f1", True),
        ("brier", False),
    ),
    MLModel.ModelType.TIME_SERIES_FORECAST: (("mase", False), ("smape", False), ("mae", False)),
    MLModel.ModelType.ROOT_CAUSE: (("incidents", True),),
}
# Across runs only: "not worse" allows this much noise between two different held-out windows.
PROMOTION_TOLERANCE = 0.01
# The episode's root-cause key, kept by the analysis on its anomaly rows' ``contributing_features``
# (the row has no column for it), so the root-cause library learns past incidents with their cause.
ROOT_CAUSE_KEY_FEATURE = "root_cause_key"
# ... and the end of the hour that root cause was computed on (ISO): a quick run keeps the
# explanation of an earlier run, so the bucket's own hour is not the hour its figures describe.
ROOT_CAUSE_AS_OF_FEATURE = "root_cause_as_of"
# ... and, for a bad release, the release it names: a quick run that continues the episode
# recommends rolling back that release, as the run that explained it did.
ROOT_CAUSE_RELEASE_FEATURE = "root_cause_release"
# ... and, for a slow or unreachable dependency, the host the errors name: the continued
# episode's circuit breaker and network check name it too.
ROOT_CAUSE_DEPENDENCY_FEATURE = "root_cause_dependency"
# ... and the decision path behind the cause (one line a step: error type, service, system
# state, similar past issues), so whoever reads the row sees why, not only what.
ROOT_CAUSE_PATH_FEATURE = "root_cause_path"
# Forecast series from the bucket frame: name → (frame column, aggregation to hourly).
FORECAST_SERIES: dict[str, tuple[str, str]] = {
    "error_count": ("total_count", "sum"),
}
# The latency forecast: the hourly p95 of the service's own request-latency samples
# (MetricSample), which ML_CAPACITY_LIMITS["response_time_p95"] (a request-latency limit in ms)
# describes. Not the rollups' rt_p95: that is the response time of the requests that *failed*,
# mostly timeouts near 30 s, and compared with a request-latency limit it put every service
# permanently at risk.
LATENCY_FORECAST = "response_time_p95"
LATENCY_METRIC = "response_time_ms"
LATENCY_QUANTILE = 0.95


def _config() -> dict[str, Any]:
    return settings.ML_PREDICTION_CONFIG


def training_lookback_days() -> float:
    return float(_config().get("TRAINING_LOOKBACK_DAYS", 30))


def engine_config(cls: type) -> Any:
    """Build an engine's config dataclass from ML_PREDICTION_CONFIG.

    A field is set from the key of the same name in upper case (``anomaly_threshold`` ←
    ``ANOMALY_THRESHOLD``), then from ``ML_PREDICTION_CONFIG["ENGINE_OVERRIDES"][ClassName]``
    (tests and benchmarks use it to reduce epochs). Fields with no match keep their defaults.
    An engine that knows its own mapping (``from_ml_config`` / ``from_settings``) builds it.
    """
    config = _config()
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in (config.get("ENGINE_OVERRIDES") or {}).get(cls.__name__, {}).items()
        if k in names
    }
    for factory in ("from_ml_config", "from_settings"):
        if hasattr(cls, factory):
            return dataclasses.replace(getattr(cls, factory)(config), **overrides)
    kwargs = {name: config[name.upper()] for name in names if name.upper() in config}
    kwargs.update(overrides)
    return cls(**kwargs)


def training_reap_orphans(*, service: str | None = None) -> int:
    """Mark ``running`` history rows whose worker is gone (or ran past the limit) ``failed``."""
    limit = timedelta(seconds=_config()["MAX_TRAINING_TIME"] + 120)
    now = timezone.now()
    host = socket.gethostname()
    rows = ModelTrainingHistory.objects.filter(status=ModelTrainingHistory.Status.RUNNING)
    if service:
        rows = rows.filter(service=service)
    reaped = 0
    for row in rows:
        reason = ""
        if row.started_at < now - limit:
            reason = "training exceeded MAX_TRAINING_TIME without finishing (reaped)"
        elif row.worker_hostname == host and row.worker_pid and not process_alive(row.worker_pid):
            reason = f"worker process {row.worker_pid} on {host} died during training (reaped)"
        if reason:
            updated = ModelTrainingHistory.objects.filter(
                training_id=row.training_id, status=ModelTrainingHistory.Status.RUNNING
            ).update(
                status=ModelTrainingHistory.Status.FAILED,
                failure_reason=reason,
                completed_at=now,
                duration_seconds=(now - row.started_at).total_seconds(),
            )
            reaped += updated
            if updated:
                logger.warning("training %s of %s: %s", row.training_id, row.service, reason)
    return reaped


def _primary(model_type: str, new: dict, old: dict) -> tuple[str, bool] | None:
    for name, higher in PRIMARY_METRICS.get(model_type, ()):
        if isinstance(new.get(name), int | float) and isinstance(old.get(name), int | float):
            return name, higher
    return None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def champion_decision(
    *, model_type: str, challenger: dict, champion: dict | None
) -> tuple[bool, str]:
    """(promote?, why) across runs: promote unless the challenger is worse than the active
    model on the first metric both have, by more than PROMOTION_TOLERANCE.

    The two were measured on different held-out windows, hence the tolerance; the reason names
    the metric and both values either way.
    """
    if champion is None:
        return True, "no active model"
    metric = _primary(model_type, challenger, champion)
    if metric is None:
        wanted = ", ".join(name for name, _ in PRIMARY_METRICS.get(model_type, ()))
        return True, f"no held-out metric both versions have ({wanted}); newest wins"
    name, higher = metric
    new, old = float(challenger[name]), float(champion[name])
    margin = PROMOTION_TOLERANCE if higher else PROMOTION_TOLERANCE * max(1.0, abs(old))
    lower = new < old if higher else new > old
    worse = new < old - margin if higher else new > old + margin
    if worse:
        return False, f"{name} {_fmt(new)} is worse than the active model's {_fmt(old)}"
    if lower:
        return True, (
            f"{name} {_fmt(new)} vs active {_fmt(old)}: within the {PROMOTION_TOLERANCE:g} "
            "tolerance between different held-out windows"
        )
    return True, f"{name} {_fmt(new)} vs active {_fmt(old)}"


def candidate_decision(
    *, model_type: str, challenger: dict, incumbent: dict
) -> tuple[bool, str | None, float | None, float | None]:
    """(does ``challenger`` beat ``incumbent``?, metric, challenger's, incumbent's value) for
    two candidates of one run, scored on the same held-out rows: strictly, no tolerance.

    A tie, or no metric both have, keeps the incumbent (the run's default algorithm comes
    first): without it the order of training decided, and a forest 0.009 worse on every
    held-out metric replaced XGBoost. Error classifiers are compared on the macro ROC-AUC of
    the heads both have (`_shared_heads_macro`).
    """
    shared = _shared_heads_macro(model_type, challenger, incumbent)
    if shared is not None:
        new, old = shared
        return new > old, "roc_auc_macro", new, old
    metric = _primary(model_type, challenger, incumbent)
    if metric is None:
        return False, None, None, None
    name, higher = metric
    new, old = float(challenger[name]), float(incumbent[name])
    return (new > old if higher else new < old), name, new, old


def _shared_heads_macro(model_type: str, new: dict, old: dict) -> tuple[float, float] | None:
    """The error classifiers' macro ROC-AUC over the prediction heads both have.

    Each reports the mean over its own heads; one that skipped a hard head (too few positives
    without the fleet's histories) would otherwise win by averaging over easier ones.
    """
    if model_type != MLModel.ModelType.ERROR_CLASSIFIER:
        return None
    heads = sorted(
        key
        for key, value in new.items()
        if key.endswith(".roc_auc")
        and "@" in key
        and isinstance(value, int | float)
        and isinstance(old.get(key), int | float)
    )
    if not heads:
        return None
    return (
        round(sum(float(new[h]) for h in heads) / len(heads), 4),
        round(sum(float(old[h]) for h in heads) / len(heads), 4),
    )


def feedback_frame_for_service(*, service: str, since: datetime) -> pd.DataFrame:
    """Labels from people: verdicts and marks of occurrence, one row per judged prediction.

    Columns: timestamp (the bucket predicted from), target (category), horizon_minutes, occurred
    (True = the error happened / true positive, False = false positive), as the predictor reads.
    """
    rows: dict[Any, dict[str, Any]] = {}
    for fb in (
        PredictionFeedback.objects.filter(prediction__service=service, created_at__gte=since)
        .select_related("prediction")
        .order_by("created_at")
    ):
        p = fb.prediction
        rows[p.prediction_id] = {
            "timestamp": p.prediction_bucket,
            "target": p.predicted_category or p.predicted_error_type,
            "horizon_minutes": p.time_horizon_minutes,
            "occurred": fb.verdict == PredictionFeedback.Verdict.TRUE_POSITIVE,
        }
    from ml_prediction.models import ErrorPrediction

    # a person's mark only: an outcome the data resolved is the training's own label again,
    # made with an older model's burst thresholds
    for p in ErrorPrediction.objects.filter(
        service=service,
        created_at__gte=since,
        actual_error_occurred__isnull=False,
        actual_outcome_source=OutcomeSource.PERSON,
    ).exclude(prediction_id__in=list(rows)):
        rows[p.prediction_id] = {
            "timestamp": p.prediction_bucket,
            "target": p.predicted_category or p.predicted_error_type,
            "horizon_minutes": p.time_horizon_minutes,
            "occurred": bool(p.actual_error_occurred),
        }
    frame = pd.DataFrame(
        list(rows.values()), columns=["timestamp", "target", "horizon_minutes", "occurred"]
    )
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def error_type_names_for_service(
    *, service: str, end: datetime, span: timedelta = timedelta(days=1)
) -> dict[str, str]:
    """Target (category, or "critical") → the most frequent concrete error type of the last
    ``span`` (a day for training; the analysis asks for the last hour, what is thrown now).

    A bounded ErrorLog window read through the (service, occurred_at) index, not a full scan.
    """
    from django.db.models import Count

    from error_logging.models import ErrorLog

    window = ErrorLog.objects.filter(
        service=service, occurred_at__gte=end - span, occurred_at__lt=end
    ).order_by()
    names: dict[str, str] = {}
    for row in window.values("category", "error_type").annotate(n=Count("id")).order_by("-n"):
        names.setdefault(row["category"], row["error_type"])
    top_critical = (
        window.filter(severity="critical")
        .values("error_type")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if top_critical:
        names["critical"] = top_critical["error_type"]
    return names


def hourly_series(frame: pd.DataFrame, column: str, how: str) -> pd.Series:
    """An hourly series of one bucket-frame column (forecasts are made per hour).

    Counts (``sum``) are 0 in an hour without errors; a metric (``max``) stays NaN in an hour
    without samples, so the forecaster interpolates short gaps and refuses a mostly-missing
    series instead of forecasting invented zeros.
    """
    series = frame[column].astype(float)
    if how == "sum":
        return series.resample("1h").sum().fillna(0.0)
    return series.resample("1h").max()


def forecast_series(
    frame: pd.DataFrame, *, latency: pd.Series | None = None
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """(series to forecast, name → why it is not forecast) for a service's forecaster bundle.

    Errors always; ``response_time_p95`` from ``latency`` (the hourly p95 of the service's
    response-time samples, see ``LATENCY_FORECAST``); every capacity-limited metric the service
    reported. A series the service never reported is left out with its reason: forecasting it
    gave a constant 0.0 (the frontends' ``db_pool_in_use``) that looks like a measurement. A
    metric reported only as zeros is left out too: a frontend without a database pool sends
    ``db_pool_in_use`` 0, and its forecast says nothing either.
    """
    series = {name: hourly_series(frame, col, how) for name, (col, how) in FORECAST_SERIES.items()}
    skipped: dict[str, str] = {}
    candidates: dict[str, tuple[pd.Series | None, str]] = {
        LATENCY_FORECAST: (latency, f"{LATENCY_METRIC} metric samples"),
    }
    for name in _config()["CAPACITY_LIMITS"]:
        if name in series or name in candidates:
            continue
        column = f"metric_{name}"
        values = hourly_series(frame, column, "max") if column in frame.columns else None
        candidates[name] = (values, f"{name} metric samples")
    for name, (values, what) in candidates.items():
        if values is None or not values.notna().any():
            skipped[name] = f"the service reported no {what} in the training window"
        elif not (values.dropna() != 0).any():
            skipped[name] = f"the service reported only zeros as {what}; nothing to forecast"
        else:
            series[name] = values
    return series, skipped


def latency_series_for_service(*, service: str, frame: pd.DataFrame) -> pd.Series:
    """The hourly p95 of ``service``'s response-time samples over the frame's window."""
    step = frame.index[1] - frame.index[0] if len(frame) > 1 else pd.Timedelta(hours=1)
    return metric_quantile_series(
        service=service,
        metric_name=LATENCY_METRIC,
        start=frame.index[0].to_pydatetime(),
        end=(frame.index[-1] + step).to_pydatetime(),
        q=LATENCY_QUANTILE,
        step_minutes=60,
    )


def _fit(
    model_type: str,
    *,
    service: str,
    frame: pd.DataFrame,
    algorithm: str | None,
    fleet_frames: Sequence[pd.DataFrame] = (),
    progress: Progress | None = None,
) -> tuple[Any, TrainingReport, str]:
    """Fit one model; returns (artifact with save/load, report, framework).

    ``progress`` hears what was left out (a forecast series the service never reported).
    """
    if model_type == MLModel.ModelType.ANOMALY_DETECTION:
        from ml_prediction.engines.anomaly import AnomalyConfig, fit_anomaly_model

        anomaly_model = fit_anomaly_model(frame, config=engine_config(AnomalyConfig))
        return anomaly_model, anomaly_model.report, "scikit-learn"
    if model_type == MLModel.ModelType.ERROR_CLASSIFIER:
        from ml_prediction.engines.predictor import PredictorConfig, fit_error_predictor

        since = frame.index[0].to_pydatetime()
        feedback = feedback_frame_for_service(service=service, since=since)
        model = fit_error_predictor(
            frame,
            config=engine_config(PredictorConfig),
            algorithm=algorithm or "xgboost",
            feedback=feedback if not feedback.empty else None,
            error_type_names=error_type_names_for_service(
                service=service, end=frame.index[-1].to_pydatetime()
            ),
            fleet_frames=fleet_frames,
        )
        framework = "xgboost" if algorithm == "xgboost" else "scikit-learn"
        return model, model.report, framework
    if model_type == MLModel.ModelType.TIME_SERIES_FORECAST:
        from ml_prediction.engines.features import first_reported_bucket
        from ml_prediction.engines.forecasting import ForecastConfig, fit_forecaster

        config = engine_config(ForecastConfig)
        forecasters = {}
        reports = {}
        latency = latency_series_for_service(service=service, frame=frame) if len(frame) else None
        series_by_name, skipped = forecast_series(frame, latency=latency)
        reported = first_reported_bucket(frame)
        if reported is not None:
            # The frame is zero-filled back to the start of the lookback: summed per hour, a
            # service's days before its first report would reach the forecaster as a long
            # quiet history and pass its length checks.
            since = reported.floor("1h")
            series_by_name = {name: values.loc[since:] for name, values in series_by_name.items()}
        for name, series in series_by_name.items():
            try:
                forecasters[name] = fit_forecaster(series, metric_name=name, config=config)
                reports[name] = forecasters[name].report
            except InsufficientData as exc:
                skipped[name] = f"insufficient data: {exc}"
        for name, reason in skipped.items():
            logger.info("forecast of %s/%s skipped: %s", service, name, reason)
            if progress is not None:
                progress(f"{service}/{model_type}: {name} not forecast ({reason})")
        if "error_count" not in forecasters:
            raise InsufficientData("no forecaster could be fitted for error_count")
        main = reports["error_count"]
        metrics = dict(main.metrics)
        for name, rep in reports.items():
            for key, value in rep.metrics.items():
                metrics[f"{name}.{key}"] = value
        report = dataclasses.replace(
            main,
            metrics=metrics,
            hyperparameters={
                **{n: r.algorithm for n, r in reports.items()},
                **{n: f"not forecast: {why}" for n, why in skipped.items()},
            },
        )
        return registry.ForecastBundle(forecasters), report, "statsmodels/prophet/keras"
    if model_type == MLModel.ModelType.ROOT_CAUSE:
        from ml_prediction.engines.anomaly import anomalous_runs, previous_run_end
        from ml_prediction.engines.root_cause import (
            episode_explained_at,
            evidence_start,
            evidence_window,
            incident_signature,
        )

        incidents = []
        anomalies = list(
            AnomalyDetection.objects.filter(
                service=service,
                is_anomaly=True,
                window_start__gte=frame.index[0].to_pydatetime(),
            )
            .exclude(root_cause_hypothesis="")
            .order_by("window_start")
        )
        # Rows written before the cause key was kept on them: the cause of the actions linked
        # to any bucket of the episode (actions go to its highest-scoring bucket, not its first).
        action_causes = dict(
            PreventiveAction.objects.filter(anomaly__in=[a.anomaly_id for a in anomalies])
            .exclude(root_cause="")
            .values_list("anomaly_id", "root_cause")
        )
        bucket = pd.Timedelta(minutes=_config()["BUCKET_MINUTES"])
        episodes = anomalous_runs(anomalies, bucket=bucket, at=lambda a: a.window_start)
        for episode in episodes:
            first = episode[0]
            cause = _episode_cause_key(episode, action_causes)
            if cause in ("", "unknown"):
                continue  # an incident without a known cause would vote for it (B4)
            at = episode_explained_at(first.window_start, episode[-1].window_start, bucket)
            window = evidence_window(frame.loc[:at])
            if window.empty:
                continue
            # the error names of the window's recent hour (from the end of the episode before
            # it), as the analysis passes them for the current incident: without them a past
            # incident's signature lacks the message templates the current one has, and the two
            # never look alike
            since = previous_run_end(
                episodes, first.window_start, bucket=bucket, at=lambda a: a.window_start
            )
            recent_end = (window.index[-1] + bucket).to_pydatetime()
            names = error_name_counts_for_service(
                service=service, start=evidence_start(recent_end, since), end=recent_end
            )
            incidents.append(
                {
                    "incident_id": str(first.anomaly_id),
                    "occurred_at": first.window_start.isoformat(),
                    "cause_key": cause,
                    "summary": first.root_cause_hypothesis[:300],
                    "signature": incident_signature(window, error_types=names, since=since),
                }
            )
        if not incidents:
            raise InsufficientData("no analysed incidents with a root cause in the lookback yet")
        report = TrainingReport(
            algorithm="incident_similarity",
            train_samples=len(incidents),
            validation_samples=0,
            metrics={"incidents": float(len(incidents))},
        )
        return registry.IncidentLibrary(incidents), report, "numpy"
    raise ValueError(f"unknown model type {model_type!r}")


def _episode_cause_key(episode: list[AnomalyDetection], action_causes: dict[Any, str]) -> str:
    """The incident's root-cause key: the one the analysis kept on its rows, else its actions'."""
    for anomaly in episode:
        key = (anomaly.contributing_features or {}).get(ROOT_CAUSE_KEY_FEATURE)
        if isinstance(key, str) and key:
            return key
    for anomaly in episode:
        if action_causes.get(anomaly.anomaly_id):
            return str(action_causes[anomaly.anomaly_id])
    return ""


def _finish(history: ModelTrainingHistory, status: str, **fields: Any) -> None:
    now = timezone.now()
    history.status = status
    history.completed_at = now
    history.duration_seconds = (now - history.started_at).total_seconds()
    for name, value in fields.items():
        setattr(history, name, value)
    history.save()


@dataclasses.dataclass
class _Candidate:
    """A fitted, stored (inactive) version waiting for its promotion decision."""

    history: ModelTrainingHistory
    record: MLModel
    report: TrainingReport
    label: str
    artifact: Any = None


def _fit_candidate(
    *,
    service: str,
    model_type: str,
    algorithm: str | None,
    frame: pd.DataFrame,
    error_total: int,
    task_id: str,
    progress: Progress,
    fleet_frames: Sequence[pd.DataFrame] = (),
) -> _Candidate | ModelTrainingHistory:
    """Fit and store one version; a finished (skipped / failed) history row when it cannot."""
    history = ModelTrainingHistory.objects.create(
        service=service,
        model_type=model_type,
        model_algorithm=algorithm or "",
        status=ModelTrainingHistory.Status.RUNNING,
        task_id=task_id,
        worker_pid=os.getpid(),
        worker_hostname=socket.gethostname(),
    )
    label = f"{service}/{model_type}{'/' + algorithm if algorithm else ''}"
    minimum = _config()["MIN_TRAINING_SAMPLES"]
    if error_total < minimum:
        reason = f"{error_total} errors in the last {training_lookback_days():g} days; MIN_TRAINING_SAMPLES is {minimum} (env ML_TRAINING_SAMPLES_MIN)"
        _finish(history, ModelTrainingHistory.Status.SKIPPED, failure_reason=reason)
        progress(f"{label}: skipped ({reason})")
        return history
    progress(f"{label}: training on {len(frame)} buckets…")
    try:
        artifact, report, framework = _fit(
            model_type,
            service=service,
            frame=frame,
            algorithm=algorithm,
            fleet_frames=fleet_frames,
            progress=progress,
        )
    except InsufficientData as exc:
        _finish(
            history, ModelTrainingHistory.Status.SKIPPED, failure_reason=f"insufficient data: {exc}"
        )
        progress(f"{label}: skipped (insufficient data: {exc})")
        return history
    except Exception as exc:
        # SoftTimeLimitExceeded lands here too: the run failed, the active model keeps serving.
        logger.exception("training %s failed", label)
        _finish(
            history,
            ModelTrainingHistory.Status.FAILED,
            failure_reason=f"{type(exc).__name__}: {exc}"[:2000],
        )
        progress(f"{label}: FAILED ({type(exc).__name__}: {exc})")
        if type(exc).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded"):
            raise
        return history
    record = registry.registry_store(
        service=service,
        model_type=model_type,
        artifact=artifact,
        report=report,
        framework=framework,
        config={
            "bucket_minutes": _config()["BUCKET_MINUTES"],
            "lookback_days": training_lookback_days(),
        },
    )
    return _Candidate(history=history, record=record, report=report, label=label, artifact=artifact)


def _compared_with(model: MLModel, basis: str) -> dict[str, Any]:
    return {
        "model_id": str(model.model_id),
        "algorithm": model.model_algorithm,
        "version": model.version,
        "basis": basis,
    }


def _conclude(
    candidate: _Candidate,
    *,
    promote: bool,
    why: str,
    compared_with: MLModel | None,
    basis: str,
    champion: MLModel | None,
    progress: Progress,
) -> ModelTrainingHistory:
    """Activate or retire the candidate and finish its history row with the reason."""
    record, report = candidate.record, candidate.report
    if promote:
        registry.model_activate(model_id=record.model_id)
    else:
        registry.model_retire(model_id=record.model_id)
    metrics = dict(record.metrics)
    metrics["promotion"] = why
    if champion is not None:
        metrics["champion_model_id"] = str(champion.model_id)
    metrics["compared_with"] = (
        _compared_with(compared_with, basis) if compared_with is not None else None
    )
    _finish(
        candidate.history,
        ModelTrainingHistory.Status.COMPLETED,
        model=record,
        model_algorithm=report.algorithm,
        training_samples_count=report.train_samples,
        validation_samples_count=report.validation_samples,
        final_accuracy=record.accuracy,
        final_precision=record.precision,
        final_recall=record.recall,
        final_f1_score=record.f1_score,
        metrics=metrics,
        hyperparameters={
            k: v
            for k, v in report.hyperparameters.items()
            if isinstance(v, int | float | str | bool | None)
        },
        promoted=promote,
    )
    progress(
        f"{candidate.label}: v{record.version} {'promoted' if promote else 'kept inactive'} ({why})"
    )
    return candidate.history


def _active_model(*, service: str, model_type: str) -> MLModel | None:
    return (
        MLModel.objects.filter(service=service, model_type=model_type, status=MLModel.Status.ACTIVE)
        .order_by("-version")
        .first()
    )


def _train_candidates(
    *,
    service: str,
    model_type: str,
    algorithms: Sequence[str | None],
    frame: pd.DataFrame,
    error_total: int,
    task_id: str,
    progress: Progress,
    fleet_frames: Sequence[pd.DataFrame] = (),
) -> list[ModelTrainingHistory]:
    """Fit every algorithm of one model type on the same frame, pick the run's winner strictly
    (`candidate_decision`; the first algorithm is the default and keeps a tie), then compare
    only the winner with the active model (`champion_decision`). Losers stay inactive with the
    reason naming the metric and both values."""
    champion = _active_model(service=service, model_type=model_type)
    histories: list[ModelTrainingHistory] = []
    fitted: list[_Candidate] = []
    for algorithm in algorithms:
        result = _fit_candidate(
            service=service,
            model_type=model_type,
            algorithm=algorithm,
            frame=frame,
            error_total=error_total,
            task_id=task_id,
            progress=progress,
            fleet_frames=fleet_frames if algorithm == FLEET_ALGORITHM else (),
        )
        histories.append(result.history if isinstance(result, _Candidate) else result)
        if isinstance(result, _Candidate):
            fitted.append(result)
    if not fitted:
        return histories
    winner, beaten = fitted[0], ""
    beaten_candidate: _Candidate | None = None  # the last candidate the winner was judged over
    losers: list[tuple[_Candidate, _Candidate, str]] = []  # (loser, winner over it, why)
    for other in fitted[1:]:
        better, name, new, old = candidate_decision(
            model_type=model_type, challenger=other.record.metrics, incumbent=winner.record.metrics
        )
        a, b = other.report.algorithm, winner.report.algorithm
        if name is None:
            losers.append(
                (
                    other,
                    winner,
                    f"no held-out metric shared with {b} of this run; {b} (default) kept",
                )
            )
            continue
        assert new is not None and old is not None
        if better:
            why = f"{name} {_fmt(old)} vs {a}'s {_fmt(new)} on the same held-out rows of this run"
            losers.append((winner, other, f"lost to {a} of this run: {why}"))
            beaten = (
                f"beat {b} of this run ({name} {_fmt(new)} vs {_fmt(old)}, same held-out rows); "
            )
            beaten_candidate, winner = winner, other
        else:
            tie = " (a tie keeps the default)" if new == old else ""
            losers.append(
                (
                    other,
                    winner,
                    f"lost to {b} of this run: {name} {_fmt(new)} vs {b}'s {_fmt(old)} on the "
                    f"same held-out rows{tie}",
                )
            )
            beaten = (
                f"beat {a} of this run ({name} {_fmt(old)} vs {_fmt(new)}, same held-out rows); "
            )
            beaten_candidate = other
    for loser, over, why in losers:
        if loser is winner:
            continue
        _conclude(
            loser,
            promote=False,
            why=why,
            compared_with=over.record,
            basis="same training run",
            champion=champion,
            progress=progress,
        )
    promote, why, basis = _decide_against_champion(
        model_type=model_type, winner=winner, champion=champion, frame=frame
    )
    # Without an active model the decision was the one over the run's other candidate: name it,
    # as the reason does ("beat xgboost of this run …") and as the loser names the winner.
    compared_with: MLModel | None = champion
    if champion is None and beaten_candidate is not None:
        compared_with, basis = beaten_candidate.record, "same training run"
    _conclude(
        winner,
        promote=promote,
        why=beaten + why,
        compared_with=compared_with,
        basis=basis,
        champion=champion,
        progress=progress,
    )
    return histories


def _decide_against_champion(
    *, model_type: str, winner: _Candidate, champion: MLModel | None, frame: pd.DataFrame
) -> tuple[bool, str, str]:
    """(promote?, why, basis). The error classifier's champion is re-scored on the winner's
    held-out rows so the two are compared on the same data, strictly (a tie promotes the
    newer version, trained on fresher data); everything else, and the classifier when that
    is not possible, falls back to the reported metrics with the tolerance."""
    fallback = ""
    if champion is not None and model_type == MLModel.ModelType.ERROR_CLASSIFIER:
        from ml_prediction.engines.predictor import compare_on_heldout

        try:
            old_artifact = registry.registry_load(record=champion)
            same = compare_on_heldout(winner.artifact, old_artifact, frame)
        except InsufficientData as exc:
            fallback = f"not re-scored on the same rows ({exc}); "
        except Exception as exc:  # a corrupt or unloadable champion must not block training
            logger.warning("re-scoring champion %s failed", champion.model_id, exc_info=True)
            fallback = f"not re-scored on the same rows ({type(exc).__name__}: {exc}); "
        else:
            promote = same.challenger >= same.champion
            relation = "vs" if promote else "is worse than"
            why = (
                f"roc_auc_macro {_fmt(same.challenger)} {relation} the active model's "
                f"{_fmt(same.champion)} on the same {same.rows} held-out buckets from "
                f"{same.since:%Y-%m-%d %H:%M} UTC ({len(same.heads)} heads both have)"
            )
            return promote, why, "active model, same held-out rows"
    promote, why = champion_decision(
        model_type=model_type,
        challenger=winner.record.metrics,
        champion=champion.metrics if champion else None,
    )
    return promote, fallback + why, "active model"


def training_run_for_service(
    *,
    service: str,
    model_types: list[str] | None = None,
    progress: Progress | None = None,
    task_id: str = "",
    as_of: datetime | None = None,
) -> list[ModelTrainingHistory]:
    """Train every model type of ``service`` (or ``model_types``); one history row per fit.

    Call it while holding the service's training lock (the task and the command do).
    """
    say = progress or (lambda message: logger.info(message))
    types = list(model_types or MODEL_TYPES)
    unknown = [t for t in types if t not in MODEL_TYPES]
    if unknown:
        raise ValueError(f"unknown model types {unknown}; known: {', '.join(MODEL_TYPES)}")
    reaped = training_reap_orphans(service=service)
    if reaped:
        say(f"{service}: marked {reaped} orphaned running training(s) failed")
    start, end = lookback_window(hours=training_lookback_days() * 24, as_of=as_of)
    started = time.perf_counter()
    frame = bucket_frame_for_service(service=service, start=start, end=end)
    error_total = error_total_for_service(service=service, start=start, end=end)
    say(
        f"{service}: {len(frame)} buckets, {error_total} errors ({time.perf_counter() - started:.1f}s)"
    )
    fleet: list[pd.DataFrame] = []
    if MLModel.ModelType.ERROR_CLASSIFIER in types and _config().get(
        "PREDICTION_FLEET_TRAINING", True
    ):
        started = time.perf_counter()
        fleet = fleet_frames_for_service(service=service, start=start, end=end)
        say(
            f"{service}: {len(fleet)} other services' histories for the error predictor "
            f"({FLEET_ALGORITHM}, {time.perf_counter() - started:.1f}s)"
        )
    histories: list[ModelTrainingHistory] = []
    for model_type in types:
        algorithms: tuple[str | None, ...] = (
            CLASSIFIER_ALGORITHMS if model_type == MLModel.ModelType.ERROR_CLASSIFIER else (None,)
        )
        histories.extend(
            _train_candidates(
                service=service,
                model_type=model_type,
                algorithms=algorithms,
                frame=frame,
                error_total=error_total,
                task_id=task_id,
                progress=say,
                fleet_frames=fleet,
            )
        )
    return histories


def fleet_frames_for_service(*, service: str, start: datetime, end: datetime) -> list[pd.DataFrame]:
    """The other services' bucket histories over the same window, for the error predictor.

    Only services with errors in the window count; the predictor skips any that are too short.
    """
    frames = []
    for other in SERVICES:
        if other == service:
            continue
        frame = bucket_frame_for_service(service=other, start=start, end=end)
        if len(frame) and float(frame["total_count"].sum()) > 0:
            frames.append(frame)
    return frames


FEEDBACK_FIELDS: dict[str, str] = {
    # report key (engines.predictor.feedback_metrics) → name in the model detail API
    "feedback_rows": "labels",
    "feedback_applied": "applied",
    "feedback_changed": "changed",
    "feedback_overruled_by_data": "overruled_by_data",
    "feedback_changed_labels_train": "changed_labels_train",
    "feedback_changed_labels_calibration": "changed_labels_calibration",
    "feedback_heldout_not_applied": "heldout_not_applied",
    # versions trained before held-out labels were kept as the data's
    "feedback_changed_labels_test": "changed_labels_test",
}


def _beaten_in_run(history: ModelTrainingHistory) -> dict[str, Any] | None:
    """The candidate of the same run that lost to ``history``'s model: its row names that
    model in ``compared_with`` (two small queries; only for winners stored without one)."""
    loser = (
        ModelTrainingHistory.objects.filter(
            service=history.service,
            model_type=history.model_type,
            status=ModelTrainingHistory.Status.COMPLETED,
            metrics__compared_with__model_id=str(history.model_id),
            metrics__compared_with__basis="same training run",
        )
        .exclude(model_id=history.model_id)
        .exclude(model_id__isnull=True)
        .order_by("-completed_at")
        .values_list("model_id", flat=True)
        .first()
    )
    record = MLModel.objects.filter(pk=loser).first() if loser is not None else None
    return _compared_with(record, "same training run") if record is not None else None


@dataclasses.dataclass(frozen=True)
class ModelTrainingSummary:
    """How a model version came to be and why it was (not) promoted, for the model detail."""

    training_id: str
    trained_at: datetime | None
    promoted: bool
    promotion_reason: str
    compared_with: dict[str, Any] | None
    feedback: dict[str, int] | None


def model_training_summary(*, model: MLModel) -> ModelTrainingSummary | None:
    """The completed training run that produced ``model`` (None: it was not trained here).

    ``compared_with``: the version the decision was made against (the active model, or the
    other candidate of the same run), from the history row; rows written before it was kept
    fall back to ``champion_model_id``, and a run's winner stored without it when there was no
    active model (its reason says "beat … of this run") to the candidate whose row names it as
    the winner over it. ``feedback``: the labels feedback gave the training (None for model
    types and versions that do not report it).
    """
    history = (
        ModelTrainingHistory.objects.filter(
            model_id=model.model_id, status=ModelTrainingHistory.Status.COMPLETED
        )
        .order_by("-completed_at")
        .first()
    )
    if history is None:
        return None
    metrics = history.metrics or {}
    compared = metrics.get("compared_with")
    if compared is None and metrics.get("champion_model_id"):
        compared = {"model_id": metrics["champion_model_id"], "basis": "active model"}
    if compared is None and "of this run" in str(metrics.get("promotion", "")):
        compared = _beaten_in_run(history)
    source = model.metrics or metrics
    feedback = (
        {name: int(source[key]) for key, name in FEEDBACK_FIELDS.items() if key in source}
        if "feedback_rows" in source
        else None
    )
    return ModelTrainingSummary(
        training_id=str(history.training_id),
        trained_at=history.completed_at,
        promoted=history.promoted,
        promotion_reason=str(metrics.get("promotion", "")),
        compared_with=compared,
        feedback=feedback,
    )
