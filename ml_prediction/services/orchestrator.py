"""PredictionOrchestrator: features → active models → engines → ML rows, then alerts.

``quick`` scores anomalies (and explains an episode going on, with its preventive actions:
its alert is usually the first page); ``full`` adds predictions, forecasts, root cause with preventive
actions, and insights; ``deep`` is full plus a root cause for every anomalous episode of the
lookback. Each anomaly is explained, and acted on, with its own episode's root cause; only what
is current (``current_cutoff``) creates pending actions or pages, so a backfill or an old part of
the lookback is stored and explained without either (docs/ALERTS.md). Everything one run writes goes to the ML database in one transaction; rows are upserted
on their per-bucket unique keys, so running twice on the same data updates instead of
duplicating. After the commit, high-risk results go to ``alerts_dispatch`` (which records the
``alert_triggered`` decision) and the read cache is bumped.

An engine that raises ``InsufficientData`` or has no trained model is recorded under
``skipped`` in the summary and the other engines keep going. Every run, completed or failed,
leaves an ``AnalysisRun`` row (a completed one in the same transaction as its results).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from feeding_hearts.catalog import LEVELS, SERVICES
from ml_prediction.engines.root_cause import (
    RECENT_MINUTES,
    TRAFFIC_REFERENCE_WEEKS,
    FleetIncident,
    ReleaseSeen,
    episode_explained_at,
    evidence_start,
)
from ml_prediction.engines.types import (
    ActionRecommendation,
    AnomalyScore,
    ErrorPredictionResult,
    ForecastResult,
    InsufficientData,
    ModelNotTrained,
    RootCauseResult,
)
from ml_prediction.models import (
    AnalysisRun,
    AnomalyDetection,
    ErrorPrediction,
    MLModel,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.services import feedback as feedback_service
from ml_prediction.services import insights as insights_service
from ml_prediction.services import registry
from ml_prediction.services.features import (
    bucket_frame_for_service,
    error_name_counts_for_service,
    floor_to_bucket,
    lookback_window,
    metric_weekly_means_for_service,
    release_errors_for_service,
)
from ml_prediction.services.jsonsafe import finite, json_safe
from ml_prediction.services.locks import service_lock
from ml_prediction.services.selectors import (
    fleet_incidents,
    head_base_rate,
    head_gate_auc,
    head_may_page,
    head_trusted,
    lift_shown,
)
from ml_prediction.services.training import (
    LATENCY_FORECAST,
    ROOT_CAUSE_AS_OF_FEATURE,
    ROOT_CAUSE_DEPENDENCY_FEATURE,
    ROOT_CAUSE_KEY_FEATURE,
    ROOT_CAUSE_PATH_FEATURE,
    ROOT_CAUSE_RELEASE_FEATURE,
    engine_config,
    error_type_names_for_service,
    forecast_series,
    latency_series_for_service,
)

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
ANALYSIS_TYPES: tuple[str, ...] = tuple(AnalysisRun.AnalysisType.values)
# Anomaly rows written per run: the last hour of closed buckets (earlier ones were written by
# earlier runs; rescoring them is idempotent anyway). ``deep`` rewrites the whole lookback.
WRITE_BUCKETS = 12
LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}
ANALYSIS_LOCK_SECONDS = 600  # safety expiry; a finished run releases the lock at once
# How far back the root cause looks for other services' incidents: their beginnings matter
# within the recent hour and FLEET_LEAD_MINUTES before it; an incident going on for longer
# must not seem to begin inside that span.
FLEET_LOOKBACK_HOURS = 4


class AnalysisInputError(ValueError):
    """A bad service name or analysis type (the API turns it into a 400)."""


def _config() -> dict[str, Any]:
    return settings.ML_PREDICTION_CONFIG


def _engine_missing(exc: ModuleNotFoundError, module: str) -> bool:
    return exc.name is not None and module.startswith(exc.name)


def validate_analysis_request(service: str, analysis_type: str) -> None:
    if service not in SERVICES:
        raise AnalysisInputError(f"service {service!r} is unknown; known: {', '.join(SERVICES)}")
    if analysis_type not in ANALYSIS_TYPES:
        raise AnalysisInputError(
            f"analysis_type {analysis_type!r} is unknown; use one of: {', '.join(ANALYSIS_TYPES)}"
        )


@dataclass
class _Episode:
    """A run of consecutive anomalous buckets, its root cause and that cause's actions."""

    cause: RootCauseResult
    scores: list[AnomalyScore]
    recommendations: list[ActionRecommendation]
    as_of: datetime  # the end of the hour the cause was computed on


@dataclass(frozen=True)
class _Explanation:
    """What an anomaly row says about its episode: cause, hypothesis, confidence, what to do."""

    cause_key: str = ""
    hypothesis: str = ""
    confidence: float | None = None
    recommended_action: str = ""
    as_of: str = ""  # ISO end of the hour the hypothesis describes ("in the last hour")
    release: str = ""  # bad_release: the release the cause names (the rollback's target)
    dependency: str = ""  # a slow/unreachable dependency: the host the errors name
    path: tuple[str, ...] = ()  # the decision path behind the cause


_NO_EXPLANATION = _Explanation()


def _stored_path(value: Any) -> tuple[str, ...]:
    """A row's stored decision path; rows written before it was kept have none."""
    return tuple(str(step) for step in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class _PlannedAction:
    """An action to store, with the cause it answers and the result it is for."""

    recommendation: ActionRecommendation
    cause_key: str
    prediction_id: Any
    anomaly_id: Any


class PredictionOrchestrator:
    """The guide's central coordinator: ``PredictionOrchestrator().run_full_analysis('django')``."""

    def __init__(self, *, as_of: datetime | None = None) -> None:
        self.as_of = as_of

    # ------------------------------------------------------------------ public

    def run_full_analysis(
        self, service: str, analysis_type: str = "full", *, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """Analyse one service; returns a JSON-ready summary (counts, ids, timings, skips)."""
        validate_analysis_request(service, analysis_type)
        run = _Run(service=service, analysis_type=analysis_type, as_of=as_of or self.as_of)
        return run.execute()

    def run_all_services(self, analysis_type: str = "full") -> dict[str, Any]:
        """Analyse every service in turn; one failing service does not stop the others."""
        started = time.perf_counter()
        results: dict[str, Any] = {}
        for service in SERVICES:
            try:
                results[service] = self.run_full_analysis(service, analysis_type)
            except AnalysisInputError:
                raise
            except Exception as exc:
                logger.exception("analysis of %s failed", service)
                results[service] = {"service": service, "status": "failed", "error": str(exc)}
        return {
            "analysis_type": analysis_type,
            "services": results,
            "failed": sorted(s for s, r in results.items() if r.get("status") == "failed"),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }


def analysis_run_locked(
    *, service: str, analysis_type: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """Run one analysis under the service's analysis lock (raises ``LockHeld`` when busy)."""
    validate_analysis_request(service, analysis_type)
    with service_lock(service=service, kind="analysis", timeout=ANALYSIS_LOCK_SECONDS):
        return PredictionOrchestrator().run_full_analysis(service, analysis_type, as_of=as_of)


class ErrorPredictor:
    """The guide's ``ErrorPredictor().predict_errors('django')``: current predictions, not stored."""

    def predict_errors(self, service: str) -> list[dict[str, Any]]:
        validate_analysis_request(service, "full")
        start, end = lookback_window(hours=_config()["LOOKBACK_HOURS"])
        frame = bucket_frame_for_service(service=service, start=start, end=end)
        loaded = registry.registry_load_active(
            service=service, model_type=MLModel.ModelType.ERROR_CLASSIFIER
        )
        from ml_prediction.engines.predictor import PredictorConfig

        results = loaded.artifact.predict(frame, config=engine_config(PredictorConfig))
        results = confidence_judged(results, loaded.record, _config())
        return [json_safe(asdict(r)) for r in results]


class _Run:
    """One analysis of one service: gather in memory, then write everything in one transaction."""

    def __init__(self, *, service: str, analysis_type: str, as_of: datetime | None) -> None:
        self.service = service
        self.analysis_type = analysis_type
        self.as_of = as_of or timezone.now()
        self.started_at = timezone.now()
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.skipped: dict[str, str] = {}
        self.failed_stages: list[str] = []
        self.models: dict[str, Any] = {}
        self.learning = False

    def _timed(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 1)

    def _guarded(self, name: str, fn: Callable[[], Any], fallback: Any) -> Any:
        """Run one stage after anomaly detection; its crash must not cost the others.

        Anomaly scores are the core of a run: if they fail, the run fails. A later stage that
        raises (an engine bug on data nobody foresaw, a model artifact that no longer loads) is
        logged with its traceback and named in ``failed_stages`` and ``skipped``; the run still
        stores and alerts on what the other stages found.
        """
        try:
            return self._timed(name, fn)
        except Exception as exc:
            logger.exception("analysis %s/%s: %s failed", self.service, self.analysis_type, name)
            self.failed_stages.append(name)
            self.skipped[name] = f"failed: {type(exc).__name__}: {exc}"[:500]
            return fallback

    def _active(self, model_type: str) -> registry.LoadedModel | None:
        try:
            loaded = registry.registry_load_active(service=self.service, model_type=model_type)
        except registry.ArtifactIntegrityError as exc:
            self.skipped[str(model_type)] = f"artifact refused: {exc}"
            return None
        except ModelNotTrained as exc:
            self.skipped[str(model_type)] = str(exc)
            return None
        except ModuleNotFoundError as exc:
            self.skipped[str(model_type)] = f"engine not available: {exc}"
            return None
        self.models[str(model_type)] = {
            "model_id": str(loaded.record.model_id),
            "version": loaded.record.version,
            "algorithm": loaded.record.model_algorithm,
        }
        return loaded

    # ------------------------------------------------------------------ engines

    def _anomalies(self, frame: pd.DataFrame) -> tuple[list[AnomalyScore], MLModel | None]:
        try:
            from ml_prediction.engines.anomaly import AnomalyConfig, score_without_model
        except ModuleNotFoundError as exc:
            if not _engine_missing(exc, "ml_prediction.engines.anomaly"):
                raise
            self.skipped["anomaly_detection"] = "anomaly engine not available"
            return [], None
        config = engine_config(AnomalyConfig)
        loaded = self._active(MLModel.ModelType.ANOMALY_DETECTION)
        try:
            if loaded is None:
                self.learning = True
                scores = score_without_model(frame, config=config)
                record = None
            else:
                scores = loaded.artifact.score(frame, config=config)
                record = loaded.record
        except InsufficientData as exc:
            self.skipped["anomaly_detection"] = f"insufficient data: {exc}"
            return [], None
        if self.analysis_type != "deep" and len(frame) > 0:
            first = frame.index[max(0, len(frame) - WRITE_BUCKETS)].to_pydatetime()
            scores = [s for s in scores if s.timestamp >= first]
        return scores, record

    def _predictions(
        self, frame: pd.DataFrame
    ) -> tuple[list[ErrorPredictionResult], MLModel | None]:
        loaded = self._active(MLModel.ModelType.ERROR_CLASSIFIER)
        if loaded is None:
            return [], None
        from ml_prediction.engines.predictor import PredictorConfig

        try:
            results = loaded.artifact.predict(frame, config=engine_config(PredictorConfig))
        except InsufficientData as exc:
            self.skipped["error_classifier"] = f"insufficient data: {exc}"
            return [], None
        # The model names each category by its most frequent type at training time; a page
        # should name the type being thrown now ("OperationalError" was paged while only
        # DatabaseConnectionTimeout came in).
        end = floor_to_bucket(self.as_of, _config()["BUCKET_MINUTES"])
        current = error_type_names_for_service(
            service=self.service, end=end, span=timedelta(hours=1)
        )
        results = [
            replace(r, predicted_error_type=current[r.target]) if r.target in current else r
            for r in results
        ]
        return confidence_judged(results, loaded.record, _config()), loaded.record

    def _observed_hours(
        self, frame: pd.DataFrame, names: set[str], *, start: datetime, end: datetime
    ) -> dict[str, pd.Series]:
        """The lookback's complete hours of each forecast series, aggregated as training does,
        so a stored forecast can follow what happened since its model was trained."""
        if frame.empty:
            return {}
        latency = (
            latency_series_for_service(service=self.service, frame=frame)
            if LATENCY_FORECAST in names
            else None
        )
        series, _ = forecast_series(frame, latency=latency)
        hour = pd.Timedelta(hours=1)
        first, last = pd.Timestamp(start), pd.Timestamp(end)
        return {
            name: values[(values.index >= first) & (values.index + hour <= last)]
            for name, values in series.items()
            if name in names
        }

    def _forecasts(
        self, frame: pd.DataFrame, *, start: datetime, end: datetime
    ) -> tuple[list[ForecastResult], MLModel | None]:
        loaded = self._active(MLModel.ModelType.TIME_SERIES_FORECAST)
        if loaded is None:
            return [], None
        from ml_prediction.engines.forecasting import capacity_warning_for

        current = self._current_forecast_config()
        horizon = timedelta(hours=_config()["FORECAST_HORIZON"])
        observed = self._observed_hours(
            frame, set(loaded.artifact.forecasters), start=start, end=end
        )
        results = []
        for name, forecaster in loaded.artifact.forecasters.items():
            if name in observed:
                # the hours since training: a surge or lull outside the band carries over
                forecaster = forecaster.conditioned_on(observed[name])
            step = timedelta(minutes=forecaster.config.step_minutes)
            # Forecasters start after their training data; cover from there up to now + horizon
            # and keep exactly the horizon from the next step: every metric of one analysis
            # then starts at the same hour with the same number of points (a series trained an
            # hour earlier added a finished or half-observed hour and a 25th point).
            first = floor_to_bucket(self.as_of, forecaster.config.step_minutes) + step
            last = forecaster.last_timestamp.to_pydatetime()
            steps = max(1, math.ceil((first + horizon - last) / step))
            steps = min(steps, int(horizon / step) + 24 * 14)
            try:
                result = forecaster.forecast(horizon_steps=steps)
            except InsufficientData as exc:
                self.skipped[f"forecast:{name}"] = str(exc)
                continue
            future = [p for p in result.points if first <= p.timestamp < first + horizon]
            if not future:
                self.skipped[f"forecast:{name}"] = "the forecaster's horizon ended; retrain"
                continue
            values = [p.value for p in future]
            peak = max(range(len(values)), key=values.__getitem__)
            # Judged against the limit configured now, not the one frozen in the trained
            # forecaster's config (B5), and on the part still to come: an over-limit part
            # already in the past warns nobody.
            limit = (current or forecaster.config).limit_for(result.metric_name)
            warning = capacity_warning_for(result.metric_name, future, limit)
            results.append(
                ForecastResult(
                    metric_name=result.metric_name,
                    algorithm=result.algorithm,
                    points=future,
                    interval_width=result.interval_width,
                    trend_direction=result.trend_direction,
                    peak_value=values[peak],
                    peak_at=future[peak].timestamp,
                    capacity_limit=limit,
                    capacity_warning=warning,
                    backtest=result.backtest,
                    status=result.status,
                )
            )
        return results, loaded.record

    def _current_forecast_config(self) -> Any:
        """The forecast config built from the settings now (CAPACITY_LIMITS as configured today);
        ``None`` when they cannot be read, so the trained forecasters' own limits apply."""
        from ml_prediction.engines.forecasting import ForecastConfig

        try:
            return engine_config(ForecastConfig)
        except (TypeError, ValueError) as exc:
            logger.warning("CAPACITY_LIMITS unusable (%s); using the trained limits", exc)
            self.skipped["capacity_limits"] = f"configured limits unusable: {exc}"
            return None

    def _root_cause(
        self,
        frame: pd.DataFrame,
        *,
        error_types: dict[str, int],
        releases: list[ReleaseSeen] | None = None,
        at: datetime | None = None,
        since: datetime | None = None,
    ) -> RootCauseResult | None:
        try:
            from ml_prediction.engines.root_cause import PastIncident, analyze_root_cause
        except ModuleNotFoundError as exc:
            if not _engine_missing(exc, "ml_prediction.engines.root_cause"):
                raise
            self.skipped["root_cause"] = "root-cause engine not available"
            return None
        history = []
        loaded = self._active(MLModel.ModelType.ROOT_CAUSE)
        if loaded is not None:
            history = [_past_incident(PastIncident, item) for item in loaded.artifact.incidents]
            history = [h for h in history if h is not None]
        window = frame if at is None else frame.loc[: pd.Timestamp(at)]
        week_ago = fleet = None
        if not window.empty:
            end = (
                window.index[-1] + timedelta(minutes=_config()["BUCKET_MINUTES"])
            ).to_pydatetime()
            week_ago = self._traffic_weeks_ago(end)
            fleet = self._fleet(end)
        try:
            return analyze_root_cause(
                window,
                service=self.service,
                error_types=error_types,
                history=history,
                since=since,
                releases=releases,
                traffic_week_ago=week_ago,
                fleet=fleet,
            )
        except InsufficientData as exc:
            self.skipped["root_cause"] = f"insufficient data: {exc}"
            return None

    def _traffic_weeks_ago(self, end: datetime) -> list[float | None]:
        """The request rate over the hour of the week of the hour ending at ``end``, in each of
        the TRAFFIC_REFERENCE_WEEKS weeks before: the root cause's traffic reference (against
        yesterday, a Monday's ordinary traffic is a surge; against last week alone, last
        Monday's surge is this Monday's normal)."""
        return self._timed(
            "traffic_weeks_ago",
            lambda: metric_weekly_means_for_service(
                service=self.service,
                metric_name="request_count",
                start=end - timedelta(minutes=RECENT_MINUTES),
                end=end,
                weeks=TRAFFIC_REFERENCE_WEEKS,
            ),
        )

    def _fleet(self, end: datetime) -> list[FleetIncident]:
        """The other services' incidents the analyses flagged in the hours before ``end``: the
        root cause names one that began shortly before this service's errors rose (and a back
        end's may be a front end's cause)."""
        return self._timed(
            "fleet",
            lambda: fleet_incidents(
                exclude_service=self.service,
                start=end - timedelta(hours=FLEET_LOOKBACK_HOURS),
                end=end,
            ),
        )

    def _actions(
        self,
        cause_key: str,
        *,
        severity: str,
        probability: float,
        release: str = "",
        dependency: str = "",
    ) -> list[ActionRecommendation]:
        try:
            from ml_prediction.engines.actions import recommend_actions
        except ModuleNotFoundError as exc:
            if not _engine_missing(exc, "ml_prediction.engines.actions"):
                raise
            self.skipped["actions"] = "actions engine not available"
            return []
        return recommend_actions(
            cause_key=cause_key,
            severity=severity,
            probability=probability,
            service=self.service,
            release=release,
            dependency=dependency,
        )

    # ------------------------------------------------------------------ run

    def execute(self) -> dict[str, Any]:
        try:
            return self._execute()
        except Exception as exc:
            self._record_failure(exc)
            raise

    def _record_failure(self, exc: Exception) -> None:
        """A failed run is recorded too (health shows it); if the ML database is what failed,
        the log has to do."""
        try:
            self._record_run(
                AnalysisRun.Status.FAILED,
                summary={"timings_ms": self.timings},
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
        except Exception:
            logger.exception("could not record the failed analysis of %s", self.service)

    def _record_run(self, status: str, **fields: Any) -> AnalysisRun:
        """This run's ``AnalysisRun`` row: one place for what every row records."""
        return AnalysisRun.objects.create(
            service=self.service,
            analysis_type=self.analysis_type,
            as_of=floor_to_bucket(self.as_of, _config()["BUCKET_MINUTES"]),
            status=status,
            started_at=self.started_at,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 1),
            **fields,
        )

    def _execute(self) -> dict[str, Any]:
        started = self.started
        config = _config()
        start, end = lookback_window(hours=config["LOOKBACK_HOURS"], as_of=self.as_of)
        frame = self._timed(
            "features", lambda: bucket_frame_for_service(service=self.service, start=start, end=end)
        )
        scores, anomaly_model = self._timed("anomalies", lambda: self._anomalies(frame))
        predictions: list[ErrorPredictionResult] = []
        prediction_model = forecast_model = None
        forecasts: list[ForecastResult] = []
        cause: RootCauseResult | None = None
        recommendations: list[ActionRecommendation] = []
        episodes: list[_Episode] = []
        insight_drafts: list[insights_service.InsightDraft] = []
        full = self.analysis_type in ("full", "deep")
        threshold = config["PREDICTION_THRESHOLD"]
        if full:
            predictions, prediction_model = self._guarded(
                "predictions", lambda: self._predictions(frame), ([], None)
            )
            predictions = _dedup_predictions([p for p in predictions if p.probability >= threshold])
            forecasts, forecast_model = self._guarded(
                "forecasts", lambda: self._forecasts(frame, start=start, end=end), ([], None)
            )
        # Only a head with held-out skill may move anyone to act: the others are stored as
        # history (an "Investigate" at priority critical came from a 24-hour head at 0.43).
        actionable = [p for p in predictions if _actionable(p, prediction_model, config)]
        bucket = timedelta(minutes=config["BUCKET_MINUTES"])
        # lazily, like every engine
        from ml_prediction.engines.anomaly import anomalous_runs, previous_run_end

        runs = anomalous_runs(
            (s for s in scores if s.is_anomaly), bucket=bucket, at=lambda s: s.timestamp
        )
        all_runs = runs  # a quick run narrows ``runs`` to the unexplained ones below

        def episode_since(start: datetime) -> datetime | None:
            return previous_run_end(all_runs, start, bucket=bucket, at=lambda s: s.timestamp)

        # still going on: fewer than ANOMALY_RECOVERY_BUCKETS normal buckets since its last one
        ongoing_since = end - config["ANOMALY_RECOVERY_BUCKETS"] * bucket
        ongoing = [run for run in runs if run[-1].timestamp >= ongoing_since]
        # the current cause explains the ongoing episode: from the end of the one before it
        current_since = episode_since(ongoing[0][0].timestamp) if ongoing else None
        # The current root cause explains the last hour (the window it is computed on): the
        # predictions, and the anomaly episodes still going on in that hour. A quick run (the
        # one ingestion triggers, usually the first to see an outage) explains a current
        # episode too: its alert is the first page, and a page without a likely cause or an
        # action to take was what on-call got before the next full run.
        recent_start = end - WRITE_BUCKETS * bucket
        current_runs = [run for run in runs if run[-1].timestamp >= recent_start]
        continuing: list[list[AnomalyScore]] = []  # a quick run's already explained episodes
        if not full and current_runs:
            # ... but only an episode nobody explained yet: one incident keeps one root cause
            # between full runs (a page's cause changing minutes later was a complaint too)
            unexplained = self._unexplained(current_runs, bucket=bucket)
            continuing = [run for run in current_runs if run not in unexplained]
            current_runs = runs = unexplained
        if full or current_runs:
            if predictions or current_runs:

                def current_cause() -> RootCauseResult | None:
                    start = evidence_start(end, current_since)
                    error_types = self._timed(
                        "error_types",
                        lambda: error_name_counts_for_service(
                            service=self.service, start=start, end=end
                        ),
                    )
                    releases = self._timed(
                        "releases",
                        lambda: release_errors_for_service(
                            service=self.service, start=start, end=end
                        ),
                    )
                    return self._root_cause(
                        frame, error_types=error_types, releases=releases, since=current_since
                    )

                cause = self._guarded("root_cause", current_cause, None)
                if cause is not None and (actionable or current_runs):
                    current_anomalies = [s for run in current_runs for s in run]
                    severity, probability = _worst(actionable, current_anomalies)
                    recommendations = self._guarded(
                        "actions",
                        lambda: self._actions(
                            cause.cause_key,
                            severity=severity,
                            probability=probability,
                            release=cause.suspect_release,
                            dependency=cause.suspect_dependency,
                        ),
                        [],
                    )
            episodes = self._guarded(
                "episode_root_cause",
                lambda: self._episodes(
                    frame,
                    runs,
                    current=cause,
                    recent_start=recent_start,
                    end=end,
                    ongoing_since=ongoing_since,
                    since=episode_since,
                ),
                [],
            )
        if full:
            insight_drafts = self._guarded(
                "insights",
                lambda: insights_service.insights_detect(
                    service=self.service, frame=frame, forecasts=forecasts, as_of=end
                ),
                [],
            )
        summary = self._timed(
            "write",
            lambda: self._write(
                scores=scores,
                anomaly_model=anomaly_model,
                predictions=predictions,
                prediction_model=prediction_model,
                forecasts=forecasts,
                forecast_model=forecast_model,
                cause=cause,
                recommendations=recommendations,
                episodes=episodes,
                continuing=continuing,
                insight_drafts=insight_drafts,
            ),
        )
        summary.update(
            {
                "service": self.service,
                "analysis_type": self.analysis_type,
                "status": "completed",
                "as_of": end.isoformat(),
                "buckets": len(frame),
                "learning": self.learning,
                "models": self.models,
                "skipped": self.skipped,
                "failed_stages": self.failed_stages,
                "timings_ms": self.timings,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )
        logger.info(
            "analysis %s/%s: %d anomalies, %d predictions, %d forecasts in %.0f ms",
            self.service,
            self.analysis_type,
            summary["anomalies"]["detected"],
            summary["predictions"]["stored"],
            summary["forecasts"]["stored"],
            summary["duration_ms"],
        )
        return summary

    def _unexplained(
        self, runs: list[list[AnomalyScore]], *, bucket: timedelta
    ) -> list[list[AnomalyScore]]:
        """The anomalous runs none of whose buckets (nor the bucket just before) has a stored
        root cause: new episodes. The others keep theirs (``_explanations`` carries it on)."""
        first = min(run[0].timestamp for run in runs) - bucket
        last = max(run[-1].timestamp for run in runs)
        stored = set(
            AnomalyDetection.objects.filter(
                service=self.service,
                is_anomaly=True,
                window_start__gte=first,
                window_start__lte=last,
            )
            .exclude(root_cause_hypothesis="")
            .values_list("metric_name", "window_start")
        )
        return [
            run
            for run in runs
            if not any(
                (s.metric_name, s.timestamp) in stored
                or (s.metric_name, s.timestamp - bucket) in stored
                for s in run
            )
        ]

    def _episodes(
        self,
        frame: pd.DataFrame,
        runs: list[list[AnomalyScore]],
        *,
        current: RootCauseResult | None,
        recent_start: datetime,
        end: datetime,
        ongoing_since: datetime,
        since: Callable[[datetime], datetime | None],
    ) -> list[_Episode]:
        """The root cause and actions of each anomalous episode, from the episode's own window.

        An episode still going on is explained by the current root cause (computed on the
        window that holds it); one that is over (earlier in the last hour, or earlier in the
        lookback a ``deep`` run rescores) by a root cause computed on the window ending 15
        minutes into it (or at its end, if shorter), never by the current one: it may have had
        another cause. Found measuring the incident library: a blip 40 minutes before a pool
        outage was explained, and learnt, as a pool exhaustion. Either way an episode's evidence
        begins after the episode before it (``since``: `anomaly.previous_run_end`).
        """
        bucket = timedelta(minutes=_config()["BUCKET_MINUTES"])
        episodes = []
        for run in runs:
            start = run[0].timestamp
            if run[-1].timestamp >= ongoing_since:
                cause, as_of = current, end
            elif self.analysis_type == "deep" or run[-1].timestamp >= recent_start:
                # explained as an analysis 15 minutes into the episode would have seen it (the
                # root-cause evaluation's window): at its first bucket a pool that saturates is
                # often still below its threshold, and the episode read as another cause
                at = episode_explained_at(start, run[-1].timestamp, bucket)
                after = since(start)
                window = {
                    "service": self.service,
                    "start": evidence_start((at + bucket).to_pydatetime(), after),
                    "end": (at + bucket).to_pydatetime(),
                }
                cause = self._root_cause(
                    frame,
                    error_types=error_name_counts_for_service(**window),
                    releases=release_errors_for_service(**window),
                    at=at,
                    since=after,
                )
                as_of = (at + bucket).to_pydatetime()
            else:
                cause = None
            if cause is None:
                continue
            severity, probability = _worst([], run)
            episodes.append(
                _Episode(
                    cause=cause,
                    scores=run,
                    recommendations=self._actions(
                        cause.cause_key,
                        severity=severity,
                        probability=probability,
                        release=cause.suspect_release,
                        dependency=cause.suspect_dependency,
                    ),
                    as_of=as_of,
                )
            )
        return episodes

    def _pending_actions(
        self,
        *,
        predictions: list[ErrorPredictionResult],
        cause: RootCauseResult | None,
        recommendations: list[ActionRecommendation],
        episodes: list[_Episode],
        continuing: list[list[AnomalyScore]],
        explanations: dict[tuple, _Explanation],
        prediction_ids: dict[tuple, Any],
        anomaly_ids: dict[tuple, Any],
    ) -> list[_PlannedAction]:
        """The actions to recommend now, each tied to the anomaly or prediction it is for.

        Only what is current gets a pending action (see ``current_cutoff``): an anomaly episode
        whose last bucket ended within ``ANOMALY_CURRENT_MINUTES`` (its own root cause's actions,
        attached to its highest-scoring bucket), and the predictions of a run that is not a
        backfill (the current root cause's actions, attached to the likeliest prediction).
        Episodes that are long over keep their hypothesis and ``recommended_action`` text on
        their rows, but put nothing in the pending list: the incident is over.

        An episode shorter than ``ANOMALY_ALERT_MIN_BUCKETS`` gets none either: the evidence a
        page needs is the evidence a to-do needs. A lone flagged bucket is mostly noise (the
        learning state's rules flagged 2.7 such blips per service-day, 1.3 since they read a
        count from its own tail: `evaluate prediction`), and each put "Increase the database
        connection pool" in the pending list for two hours.
        The episode's actions come with its next bucket (``continuing``: a quick run keeps an
        explained episode's cause, so its actions come from the stored explanation), in the
        run whose alert pages, so the page still lists them.
        """
        since = current_cutoff()
        config = _config()
        bucket = timedelta(minutes=config["BUCKET_MINUTES"])
        need = config["ANOMALY_ALERT_MIN_BUCKETS"]
        planned: list[_PlannedAction] = []

        def to_act_on(run: list[AnomalyScore]) -> bool:
            return run[-1].timestamp + bucket >= since and _buckets(run) >= need

        def top_key(run: list[AnomalyScore]) -> tuple:
            top = max(run, key=lambda s: (s.anomaly_score, s.timestamp))
            return (top.metric_name, top.timestamp)

        for episode in sorted(episodes, key=lambda e: e.scores[-1].timestamp, reverse=True):
            if not to_act_on(episode.scores):
                continue
            anomaly_id = anomaly_ids.get(top_key(episode.scores))
            planned += [
                _PlannedAction(r, r.cause_key or episode.cause.cause_key, None, anomaly_id)
                for r in episode.recommendations
            ]
        for run in continuing:
            if not to_act_on(run):
                continue
            ids = [anomaly_ids[(s.metric_name, s.timestamp)] for s in run]
            if PreventiveAction.objects.filter(anomaly_id__in=ids).exists():
                continue  # acted on when it first had the buckets (or by a full run)
            explained = explanations.get(top_key(run), _NO_EXPLANATION)
            cause_key = explained.cause_key
            if not cause_key:
                continue
            severity, probability = _worst([], run)
            anomaly_id = anomaly_ids[top_key(run)]
            planned += [
                _PlannedAction(r, r.cause_key or cause_key, None, anomaly_id)
                for r in self._actions(
                    cause_key,
                    severity=severity,
                    probability=probability,
                    release=explained.release,
                    dependency=explained.dependency,
                )
            ]
        if predictions and cause is not None and self.as_of >= since:
            prediction_id = _top_prediction_id(prediction_ids, predictions)
            planned += [
                _PlannedAction(r, r.cause_key or cause.cause_key, prediction_id, None)
                for r in recommendations
            ]
        return planned

    def _explanations(
        self, scores: list[AnomalyScore], episodes: list[_Episode], *, bucket: timedelta
    ) -> dict[tuple, _Explanation]:
        """Each flagged bucket's root cause, hypothesis and recommended action to store.

        A bucket of an episode this run explained gets that episode's. Otherwise (a ``quick``
        run computes no root cause; a full run whose root cause failed) the bucket keeps what an
        earlier run stored on its row, and a bucket scored for the first time continues the
        explanation of the bucket before it in the same run of anomalous buckets. A quick run
        every minute of a burst must not blank the live incident's "Likely cause" (B3).
        """
        explained: dict[tuple, _Explanation] = {}
        for episode in episodes:
            item = _Explanation(
                cause_key=episode.cause.cause_key or "",
                hypothesis=episode.cause.hypothesis,
                confidence=finite(episode.cause.confidence),
                recommended_action="; ".join(r.title for r in episode.recommendations),
                as_of=episode.as_of.isoformat(),
                release=episode.cause.suspect_release,
                dependency=episode.cause.suspect_dependency,
                path=tuple(episode.cause.decision_path),
            )
            for s in episode.scores:
                explained[(s.metric_name, s.timestamp)] = item
        missing = [
            s for s in scores if s.is_anomaly and (s.metric_name, s.timestamp) not in explained
        ]
        if not missing:
            return explained
        stored = (
            AnomalyDetection.objects.filter(
                service=self.service,
                is_anomaly=True,
                window_start__gte=min(s.timestamp for s in missing) - bucket,
                window_start__lte=max(s.timestamp for s in missing),
            )
            .exclude(root_cause_hypothesis="")
            .values_list(
                "metric_name",
                "window_start",
                "root_cause_hypothesis",
                "root_cause_confidence",
                "recommended_action",
                "contributing_features",
            )
        )
        previous: dict[tuple, _Explanation] = {
            (metric, start): _Explanation(
                cause_key=str((features or {}).get(ROOT_CAUSE_KEY_FEATURE) or ""),
                hypothesis=hypothesis,
                confidence=confidence,
                recommended_action=action,
                as_of=str((features or {}).get(ROOT_CAUSE_AS_OF_FEATURE) or ""),
                release=str((features or {}).get(ROOT_CAUSE_RELEASE_FEATURE) or ""),
                dependency=str((features or {}).get(ROOT_CAUSE_DEPENDENCY_FEATURE) or ""),
                path=_stored_path((features or {}).get(ROOT_CAUSE_PATH_FEATURE)),
            )
            for metric, start, hypothesis, confidence, action, features in stored
        }
        for s in sorted(missing, key=lambda s: s.timestamp):
            key = (s.metric_name, s.timestamp)
            earlier = (s.metric_name, s.timestamp - bucket)
            found = previous.get(key) or explained.get(earlier) or previous.get(earlier)
            if found is not None:
                explained[key] = found
        return explained

    def _write(
        self,
        *,
        scores: list[AnomalyScore],
        anomaly_model: MLModel | None,
        predictions: list[ErrorPredictionResult],
        prediction_model: MLModel | None,
        forecasts: list[ForecastResult],
        forecast_model: MLModel | None,
        cause: RootCauseResult | None,
        recommendations: list[ActionRecommendation],
        episodes: list[_Episode],
        continuing: list[list[AnomalyScore]],
        insight_drafts: list[insights_service.InsightDraft],
    ) -> dict[str, Any]:
        config = _config()
        bucket = timedelta(minutes=config["BUCKET_MINUTES"])
        now = timezone.now()
        explanations = self._explanations(scores, episodes, bucket=bucket)
        anomaly_rows = []
        for s in scores:
            explained = explanations.get((s.metric_name, s.timestamp), _NO_EXPLANATION)
            features = json_safe(s.contributing_features)
            if explained.cause_key:
                features[ROOT_CAUSE_KEY_FEATURE] = explained.cause_key
            if explained.as_of:
                features[ROOT_CAUSE_AS_OF_FEATURE] = explained.as_of
            if explained.release:
                features[ROOT_CAUSE_RELEASE_FEATURE] = explained.release
            if explained.dependency:
                features[ROOT_CAUSE_DEPENDENCY_FEATURE] = explained.dependency
            if explained.path:
                features[ROOT_CAUSE_PATH_FEATURE] = list(explained.path)
            anomaly_rows.append(
                AnomalyDetection(
                    model=anomaly_model,
                    service=self.service,
                    metric_name=s.metric_name,
                    window_start=s.timestamp,
                    window_end=s.timestamp + bucket,
                    detected_at=now,
                    observed_value=finite(s.observed),
                    expected_value=finite(s.expected),
                    anomaly_score=finite(s.anomaly_score) or 0.0,
                    is_anomaly=bool(s.is_anomaly),
                    severity_level=s.severity_level,
                    anomaly_type=s.anomaly_type or "",
                    detection_state=s.state,
                    detector_scores=json_safe(s.detector_scores),
                    contributing_features=features,
                    root_cause_hypothesis=explained.hypothesis,
                    root_cause_confidence=explained.confidence,
                    recommended_action=explained.recommended_action,
                )
            )
        prediction_rows = [
            ErrorPrediction(
                model=prediction_model,
                service=self.service,
                predicted_error_type=p.predicted_error_type or p.target,
                predicted_category=p.target,
                predicted_severity=p.predicted_severity,
                probability=finite(p.probability) or 0.0,
                confidence_level=p.confidence_level,
                time_horizon_minutes=p.time_horizon_minutes,
                prediction_bucket=p.timestamp,
                predicted_timestamp=p.predicted_timestamp,
                contributing_factors=json_safe([asdict(f) for f in p.contributing_factors]),
                root_cause_hypothesis=cause.hypothesis if cause else "",
                recommended_actions=json_safe([asdict(r) for r in recommendations])
                if _actionable(p, prediction_model, config)
                else [],
                affected_users_count=p.affected_users_estimate,
                created_at=now,
            )
            for p in predictions
        ]
        forecast_rows = [
            TimeSeriesForecast(
                model=forecast_model,
                service=self.service,
                metric_name=f.metric_name,
                model_algorithm=f.algorithm,
                forecast_start=f.points[0].timestamp,
                forecast_end=f.points[-1].timestamp,
                horizon_hours=hours_covered(f.points),
                interval_width=f.interval_width,
                forecast_values=json_safe([asdict(p) for p in f.points]),
                trend_direction=f.trend_direction,
                predicted_peak_value=finite(f.peak_value),
                predicted_peak_at=f.peak_at,
                capacity_limit=finite(f.capacity_limit),
                capacity_warning=f.capacity_warning,
                is_at_risk=bool(f.capacity_warning),
                backtest_metrics=json_safe({**f.backtest, "status": f.status}),
                created_at=now,
            )
            for f in forecasts
        ]
        with transaction.atomic(using=ML_DB):
            anomaly_ids = _upsert(
                AnomalyDetection,
                self.service,
                anomaly_rows,
                key=("metric_name", "window_start"),
                update_fields=_ANOMALY_UPDATE,
            )
            feedback_service.acknowledgement_carried_over(
                service=self.service,
                anomaly_ids=[
                    anomaly_ids[(s.metric_name, s.timestamp)] for s in scores if s.is_anomaly
                ],
            )
            prediction_ids = _upsert(
                ErrorPrediction,
                self.service,
                prediction_rows,
                key=("prediction_bucket", "predicted_error_type", "time_horizon_minutes"),
                update_fields=[],  # a stored prediction is a record: see _upsert
            )
            forecast_ids = _upsert(
                TimeSeriesForecast,
                self.service,
                forecast_rows,
                key=("metric_name", "forecast_start"),
                update_fields=_FORECAST_UPDATE,
            )
            action_ids = _store_actions(
                self.service,
                self._pending_actions(
                    predictions=[
                        p for p in predictions if _actionable(p, prediction_model, config)
                    ],
                    cause=cause,
                    recommendations=recommendations,
                    episodes=episodes,
                    continuing=continuing,
                    explanations=explanations,
                    prediction_ids=prediction_ids,
                    anomaly_ids=anomaly_ids,
                ),
            )
            created, updated = insights_service.insights_store(
                service=self.service, drafts=insight_drafts
            )
            self._record_run(
                AnalysisRun.Status.COMPLETED,
                predicted=prediction_model is not None,
                completed_at=now,
                summary={
                    "anomalies_detected": sum(1 for s in scores if s.is_anomaly),
                    "predictions_stored": len(prediction_rows),
                    "forecasts_stored": len(forecast_rows),
                    "actions_created": len(action_ids),
                    "learning": self.learning,
                    "skipped": self.skipped,
                    "failed_stages": self.failed_stages,
                },
            )
            # Only what is current pages: a backfill (as_of in the past) or the older part of a
            # deep lookback is stored and explained, not sent to anyone.
            current_since = current_cutoff()
            alert_predictions = [
                str(prediction_ids[_pkey(p)])
                for p in pages_worthy(predictions, prediction_model, config)
                if self.as_of >= current_since
            ]
            alert_anomalies = [
                str(anomaly_ids[(s.metric_name, s.timestamp)])
                for s in scores
                if s.is_anomaly
                and LEVEL_RANK.get(s.severity_level, 0) >= LEVEL_RANK["high"]
                and s.timestamp + bucket >= current_since
            ]
            # Automation (ML_AUTOMATION_ENABLED) acts on what is current only, like the pages.
            automate = [str(i) for i in action_ids] if self.as_of >= current_since else []
            service, learning = self.service, self.learning
            transaction.on_commit(
                lambda: _after_commit(
                    service=service,
                    prediction_ids=alert_predictions,
                    anomaly_ids=alert_anomalies,
                    learning=learning,
                    action_ids=automate,
                ),
                using=ML_DB,
            )
        detected = [str(anomaly_ids[(s.metric_name, s.timestamp)]) for s in scores if s.is_anomaly]
        return {
            "anomalies": {
                "scored": len(scores),
                "detected": len(detected),
                "critical": sum(
                    1 for s in scores if s.is_anomaly and s.severity_level == "critical"
                ),
                "ids": detected,
                "state": "learning" if self.learning else "active",
            },
            "predictions": {
                "stored": len(prediction_rows),
                "high_risk": len(alert_predictions),
                "ids": [str(v) for v in prediction_ids.values()],
            },
            "forecasts": {
                "stored": len(forecast_rows),
                "at_risk": sum(1 for f in forecasts if f.capacity_warning),
                "ids": [str(v) for v in forecast_ids.values()],
            },
            "root_cause": None
            if cause is None
            else {
                "cause_key": cause.cause_key,
                "hypothesis": cause.hypothesis,
                "confidence": finite(cause.confidence),
                "suspect_release": cause.suspect_release,
                "suspect_dependency": cause.suspect_dependency,
                "decision_path": list(cause.decision_path),
                "similar_incidents": [
                    {
                        "incident_id": i.incident_id,
                        "similarity": finite(i.similarity),
                        "summary": i.summary,
                        "cause_key": i.cause_key,
                    }
                    for i in cause.similar_incidents
                ],
            },
            "actions": {"created": len(action_ids), "ids": [str(i) for i in action_ids]},
            "insights": {
                "created": len(created),
                "updated": len(updated),
                "ids": [str(i) for i in created + updated],
            },
            "alerts": {"prediction_ids": alert_predictions, "anomaly_ids": alert_anomalies},
        }


def _after_commit(
    *,
    service: str,
    prediction_ids: list,
    anomaly_ids: list,
    learning: bool,
    action_ids: list | None = None,
) -> None:
    from ml_prediction.services.cache import read_cache_bump

    try:
        from ml_prediction.services.alerts import alerts_dispatch

        alerts_dispatch(
            service=service,
            prediction_ids=prediction_ids,
            anomaly_ids=anomaly_ids,
            learning=learning,
        )
    except Exception:  # alerting must never fail an analysis that is already committed
        logger.exception("alerts_dispatch failed for %s", service)
    if action_ids and _config()["AUTOMATION_ENABLED"]:
        try:
            from ml_prediction.tasks import execute_automated_actions

            execute_automated_actions.delay(action_ids)
        except Exception:  # broker down: the actions stay recommended for a person
            logger.exception("could not queue the automated actions of %s", service)
    read_cache_bump()


def _past_incident(cls: type, item: dict[str, Any]) -> Any:
    """A stored library entry as the engine's PastIncident (fields it does not know are dropped)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in item.items() if k in names}
    if isinstance(values.get("occurred_at"), str):
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    try:
        return cls(**values)
    except TypeError:
        logger.warning("incident library entry does not fit PastIncident: %s", sorted(item))
        return None


def _buckets(run: list[AnomalyScore]) -> int:
    """How many buckets an episode spans (several metrics of one bucket are one)."""
    return len({s.timestamp for s in run})


def _worst(
    predictions: list[ErrorPredictionResult], anomalies: list[AnomalyScore]
) -> tuple[str, float]:
    severity, probability = "low", 0.0
    for p in predictions:
        if LEVEL_RANK.get(p.predicted_severity, 0) > LEVEL_RANK[severity]:
            severity = p.predicted_severity
        probability = max(probability, p.probability)
    for a in anomalies:
        if LEVEL_RANK.get(a.severity_level, 0) > LEVEL_RANK[severity]:
            severity = a.severity_level
        probability = max(probability, a.anomaly_score)
    return severity, probability


def _head_auc(p: ErrorPredictionResult, model: MLModel | None) -> float | None:
    """The ROC-AUC the trust rule reads (``selectors.head_gate_auc``)."""
    metrics = model.metrics if model is not None else None
    return head_gate_auc(metrics, target=p.target, horizon_minutes=p.time_horizon_minutes)


def _trusted(p: ErrorPredictionResult, model: MLModel | None, config: dict[str, Any]) -> bool:
    """Is ``p`` from a head with held-out skill (``selectors.head_trusted``)?"""
    return head_trusted(_head_auc(p, model), floor=config["ALERT_MIN_HEAD_AUC"])


def _head_base_rate(p: ErrorPredictionResult, model: MLModel | None) -> float | None:
    """The base rate the lift rule reads (``selectors.head_base_rate``)."""
    metrics = model.metrics if model is not None else None
    return head_base_rate(metrics, target=p.target, horizon_minutes=p.time_horizon_minutes)


def _actionable(p: ErrorPredictionResult, model: MLModel | None, config: dict[str, Any]) -> bool:
    """May ``p`` move anyone to act (actions, the current cause's recommendations)? A head with
    held-out skill (``_trusted``) whose probability is above its usual rate (``lift_shown``):
    the acceptance pass saw a 24-hour head at 77% with a 42% base rate create a critical
    "Open the circuit breaker" for the service's normal state."""
    if not _trusted(p, model, config):
        return False
    return lift_shown(p.probability, _head_base_rate(p, model), min_lift=config["ALERT_MIN_LIFT"])


def confidence_judged(
    predictions: list[ErrorPredictionResult], model: MLModel | None, config: dict[str, Any]
) -> list[ErrorPredictionResult]:
    """The predictions with ``confidence_level`` "low" where the head has no held-out skill.

    The engine grades confidence by the probability alone. Confidence is how far to trust the
    number, and a head that cannot rank outcomes better than chance (a held-out ROC-AUC below
    ALERT_MIN_HEAD_AUC, or none measured) earns none: its "82%" was shown as high confidence.
    """
    return [
        p if _trusted(p, model, config) else replace(p, confidence_level="low") for p in predictions
    ]


def pages_worthy(
    predictions: list[ErrorPredictionResult], model: MLModel | None, config: dict[str, Any]
) -> list[ErrorPredictionResult]:
    """The predictions that may page: at ALERT_PROBABILITY, from a head (target × horizon)
    whose held-out ROC-AUC reaches ALERT_MIN_HEAD_AUC. The 24-hour heads measured about 0.51 —
    chance — yet their "82% within 24 hours" went out in pages. A head whose skill was never
    measured (no burst in its calibration or held-out rows) does not page either: trust is
    earned (``selectors.head_may_page``; the API's ``pages`` says the same per prediction).
    Nor does a probability below ALERT_MIN_LIFT times the head's base rate
    (``selectors.lift_shown``)."""
    floor = config["ALERT_MIN_HEAD_AUC"]
    out = []
    for p in predictions:
        if p.probability < config["ALERT_PROBABILITY"]:
            continue
        auc = _head_auc(p, model)
        if not head_may_page(auc, floor=floor):
            logger.info(
                "%s@%s at %.2f not paged: its ROC-AUC is %s",
                p.target,
                p.time_horizon_minutes,
                p.probability,
                "not measured" if auc is None else f"{auc:.2f}",
            )
            continue
        base_rate = _head_base_rate(p, model)
        if not lift_shown(p.probability, base_rate, min_lift=config["ALERT_MIN_LIFT"]):
            logger.info(
                "%s@%s at %.2f not paged: its head's base rate is %.2f (ALERT_MIN_LIFT %.1f)",
                p.target,
                p.time_horizon_minutes,
                p.probability,
                base_rate,
                config["ALERT_MIN_LIFT"],
            )
            continue
        out.append(p)
    return out


def hours_covered(points: list[Any]) -> int:
    """The hours a forecast's points cover: each point stands for one step from its timestamp,
    so 24 hourly points cover 24 hours (last − first gave 23 beside ML_FORECAST_HORIZON=24).
    A single point is taken as hourly, the forecasts' step."""
    step = points[1].timestamp - points[0].timestamp if len(points) > 1 else timedelta(hours=1)
    covered = points[-1].timestamp - points[0].timestamp + step
    return max(1, round(covered.total_seconds() / 3600))


def _pkey(p: ErrorPredictionResult) -> tuple:
    return (p.timestamp, p.predicted_error_type or p.target, p.time_horizon_minutes)


def _dedup_predictions(predictions: list[ErrorPredictionResult]) -> list[ErrorPredictionResult]:
    """One row per unique key (two targets may name the same concrete type): keep the likeliest."""
    best: dict[tuple, ErrorPredictionResult] = {}
    for p in predictions:
        key = _pkey(p)
        if key not in best or p.probability > best[key].probability:
            best[key] = p
    return list(best.values())


def _top_prediction_id(ids: dict[tuple, Any], predictions: list[ErrorPredictionResult]) -> Any:
    if not predictions:
        return None
    top = max(predictions, key=lambda p: p.probability)
    return ids.get(_pkey(top))


def current_cutoff(now: datetime | None = None) -> datetime:
    """Results about time before this are history: they neither page nor create pending actions.

    ``ANOMALY_CURRENT_MINUTES`` (default 120, two hourly full analyses) back from the wall
    clock, not from an analysis' ``as_of``, so a backfill or a deep re-analysis of an old
    lookback stores and explains what it finds without paging anyone about it.
    """
    return (now or timezone.now()) - timedelta(minutes=_config()["ANOMALY_CURRENT_MINUTES"])


_ANOMALY_UPDATE = [
    "model",
    "window_end",
    "detected_at",
    "observed_value",
    "expected_value",
    "anomaly_score",
    "is_anomaly",
    "severity_level",
    "anomaly_type",
    "detection_state",
    "detector_scores",
    "contributing_features",
    "root_cause_hypothesis",
    "root_cause_confidence",
    "recommended_action",
]
_FORECAST_UPDATE = [
    "model",
    "model_algorithm",
    "forecast_end",
    "horizon_hours",
    "interval_width",
    "forecast_values",
    "trend_direction",
    "predicted_peak_value",
    "predicted_peak_at",
    "capacity_limit",
    "capacity_warning",
    "is_at_risk",
    "backtest_metrics",
    "created_at",
]


def _upsert(
    model: Any, service: str, rows: list, *, key: tuple[str, ...], update_fields: list[str]
) -> dict[tuple, Any]:
    """Insert or update rows per (service, *key) and return their ids keyed by ``key``.

    Only ``update_fields`` are overwritten, so acknowledgements, feedback, outcomes and alert
    state set on an earlier run of the same bucket survive a re-run. With none, an existing row
    is kept as it is: a prediction that was stored, paged and judged must keep the model and
    probability it was paged and judged with, whatever a re-run with a newer model computes
    (its feedback would otherwise count for a model that never made it).
    """
    if not rows:
        return {}
    if update_fields:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["service", *key],
            update_fields=update_fields,
        )
    else:
        model.objects.bulk_create(rows, ignore_conflicts=True)
    lookups = {f"{field}__in": {getattr(r, field) for r in rows} for field in key}
    found = model.objects.filter(service=service, **lookups).values_list(*key, "pk")
    return {tuple(values[:-1]): values[-1] for values in found}


def _merge_planned(planned: list[_PlannedAction]) -> dict[str, tuple[_PlannedAction, list[str]]]:
    """action_type → (the plan to store, every cause it answers), one per action type.

    The same action planned for several causes in one run (an episode and the predictions, or
    two episodes) is one row: the higher priority, the links of both, all of the causes.
    """
    merged: dict[str, tuple[_PlannedAction, list[str]]] = {}
    for item in planned:
        action_type = item.recommendation.action_type
        found = merged.get(action_type)
        if found is None:
            merged[action_type] = (item, [item.cause_key])
            continue
        earlier, causes = found
        higher = max(
            (earlier.recommendation, item.recommendation),
            key=lambda r: LEVEL_RANK.get(r.priority, 0),
        )
        merged[action_type] = (
            _PlannedAction(
                higher,
                earlier.cause_key,
                earlier.prediction_id or item.prediction_id,
                earlier.anomaly_id or item.anomaly_id,
            ),
            causes if item.cause_key in causes else [*causes, item.cause_key],
        )
    return merged


def _recently_done(service: str, action_types: list[str], *, since: datetime) -> set[str]:
    """Action types of ``service`` a person executed or skipped since ``since``.

    The window is ``ANOMALY_CURRENT_MINUTES`` (``current_cutoff``): the time the product treats
    an incident as current. An action done within it answered this incident, so recommending
    it again is noise; after it, a problem still there is a new or lasting incident the action
    did not cure, and it may be recommended again. (Not the alert cooldown: that tunes paging
    noise and may be 0.) Expired and merged rows were closed by the system, not a person, and
    do not count.
    """
    rows = PreventiveAction.objects.filter(
        service=service,
        action_type__in=action_types,
        status__in=[PreventiveAction.Status.EXECUTED, PreventiveAction.Status.SKIPPED],
        executed_at__gte=since,
    ).values_list("action_type", "execution_result")
    system_modes = {"expired", "merged"}
    return {t for t, result in rows if (result or {}).get("mode") not in system_modes}


def _store_actions(service: str, planned: list[_PlannedAction]) -> list[Any]:
    """Store the planned actions, one pending row per (service, action type); new rows' ids.

    An action already pending for the service is not added again: a second cause extends that
    row's evidence (its causes, the newer prediction/anomaly links, the higher priority). An
    action a person executed or skipped recently (``_recently_done``) is not recommended again.
    Older duplicate pending rows of one type (left by earlier versions) are closed as
    ``merged`` into the newest. Then the service's pending actions whose incident is over
    expire (``actions_expire``).
    """
    from ml_prediction.services.actions import actions_expire

    merged = _merge_planned(planned)
    rows: list[PreventiveAction] = []
    if merged:
        now = timezone.now()
        done = _recently_done(service, list(merged), since=current_cutoff(now))
        pending: dict[str, PreventiveAction] = {}
        twins: list[PreventiveAction] = []
        open_rows = PreventiveAction.objects.select_for_update().filter(
            service=service,
            action_type__in=list(merged),
            status__in=[PreventiveAction.Status.RECOMMENDED, PreventiveAction.Status.SCHEDULED],
        )
        for row in open_rows.order_by("-created_at"):
            if row.action_type in pending:
                twins.append(row)
            else:
                pending[row.action_type] = row
        extended = []
        for action_type, (item, causes) in merged.items():
            existing = pending.get(action_type)
            if existing is not None:
                extended.append(_extend_action(existing, item, causes))
            elif action_type not in done:
                rows.append(
                    PreventiveAction(
                        prediction_id=item.prediction_id,
                        anomaly_id=item.anomaly_id,
                        service=service,
                        action_type=action_type,
                        title=item.recommendation.title[:200],
                        description=item.recommendation.description,
                        root_cause=", ".join(c for c in causes if c)[:100],
                        priority=item.recommendation.priority,
                        can_be_automated=item.recommendation.can_be_automated,
                        estimated_impact=item.recommendation.estimated_impact,
                        dedup_key=f"{service}:{action_type}"[:200],
                    )
                )
        PreventiveAction.objects.bulk_update(
            extended, ["root_cause", "priority", "prediction", "anomaly"]
        )
        for twin in twins:
            twin.status = PreventiveAction.Status.SKIPPED
            twin.executed_by = "ml_prediction"
            twin.executed_at = now
            twin.execution_result = {
                "mode": "merged",
                "reason": "a duplicate pending row of the same action",
                "merged_into": str(pending[twin.action_type].action_id),
            }
        PreventiveAction.objects.bulk_update(
            twins, ["status", "executed_by", "executed_at", "execution_result"]
        )
        PreventiveAction.objects.bulk_create(rows)
    actions_expire(service=service)
    return [r.action_id for r in rows]


def _extend_action(
    row: PreventiveAction, item: _PlannedAction, causes: list[str]
) -> PreventiveAction:
    """A pending row answering another cause too: add the cause, link the newer evidence (so
    expiry follows the live incident), keep the higher priority."""
    known = [c.strip() for c in row.root_cause.split(",") if c.strip()]
    row.root_cause = ", ".join([*known, *(c for c in causes if c and c not in known)])[:100]
    if LEVEL_RANK.get(item.recommendation.priority, 0) > LEVEL_RANK.get(row.priority, 0):
        row.priority = item.recommendation.priority
    row.prediction_id = item.prediction_id or row.prediction_id
    row.anomaly_id = item.anomaly_id or row.anomaly_id
    return row


# Actions still to be done (not executed, not skipped).
OPEN_ACTION_STATUSES = ("recommended", "scheduled")


def results_cleanup(*, older_than: datetime) -> dict[str, int]:
    """Delete analysis results created before ``older_than`` (their feedback goes with them).

    Predictions are judged by their ``created_at``; anomalies by their bucket; forecasts by the
    end of their horizon; analysis runs by when they ended. Models, training history, actions,
    insights and audit stay.
    Whatever its age, an unacknowledged critical anomaly stays (nobody has looked at it yet),
    and so do the prediction and anomaly behind an unexecuted high or critical action (the
    action is still to be done and its evidence must stay readable).
    """
    open_actions = PreventiveAction.objects.filter(
        status__in=OPEN_ACTION_STATUSES, priority__in=("high", "critical")
    )
    with transaction.atomic(using=ML_DB):
        predictions = (
            ErrorPrediction.objects.filter(created_at__lt=older_than)
            .exclude(pk__in=open_actions.filter(prediction__isnull=False).values("prediction"))
            .delete()[1]
        )
        anomalies = (
            AnomalyDetection.objects.filter(window_start__lt=older_than)
            .exclude(acknowledged=False, severity_level="critical")
            .exclude(pk__in=open_actions.filter(anomaly__isnull=False).values("anomaly"))
            .delete()[1]
        )
        forecasts = TimeSeriesForecast.objects.filter(forecast_end__lt=older_than).delete()[1]
        runs = AnalysisRun.objects.filter(completed_at__lt=older_than).delete()[1]
    from ml_prediction.services.cache import read_cache_bump

    read_cache_bump()
    return {
        "predictions": predictions.get("ml_prediction.ErrorPrediction", 0),
        "anomalies": anomalies.get("ml_prediction.AnomalyDetection", 0),
        "forecasts": forecasts.get("ml_prediction.TimeSeriesForecast", 0),
        "analysis_runs": runs.get("ml_prediction.AnalysisRun", 0),
    }
