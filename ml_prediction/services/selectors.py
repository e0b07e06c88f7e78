"""Every read of the ML API: base querysets for the list endpoints and the aggregate views.

Selectors decide *which* rows an endpoint means (the window of a list, what "high risk" or
"pending" is); the API's filter sets narrow them further by the query parameters. Aggregates
use a fixed, small number of queries whatever the table sizes.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import NotSupportedError
from django.db.models import (
    Avg,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from feeding_hearts.catalog import SERVICES
from ml_prediction.models import (
    AIInsight,
    AnalysisRun,
    AnomalyDetection,
    AuditEvent,
    ErrorPrediction,
    MLModel,
    ModelPerformanceTracking,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.services.errors import NotFound

if TYPE_CHECKING:
    from ml_prediction.engines.root_cause import FleetIncident

DEFAULT_PREDICTION_HOURS = 24
DASHBOARD_WINDOW_DAYS = 7
PENDING_ACTION_STATUSES = (PreventiveAction.Status.RECOMMENDED, PreventiveAction.Status.SCHEDULED)
UNRESOLVED_INSIGHT_STATUSES = (AIInsight.Status.ACTIVE, AIInsight.Status.ACKNOWLEDGED)
PRIORITY_ORDER = ("critical", "high", "medium", "low")


def _config(key: str) -> Any:
    return settings.ML_PREDICTION_CONFIG[key]


def parse_uuid(value: Any, *, what: str) -> uuid.UUID:
    """A UUID from a URL segment; anything else is ``NotFound`` (an invalid id names nothing)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"No {what} with id {value!r} (not a UUID).") from None


def _get(queryset: QuerySet, *, pk: Any, what: str) -> Any:
    found = queryset.filter(pk=parse_uuid(pk, what=what)).first()
    if found is None:
        raise NotFound(f"No {what} with id {pk}.")
    return found


# --- models ----------------------------------------------------------------------------------
def model_list() -> QuerySet[MLModel]:
    return MLModel.objects.order_by("service", "model_type", "-version", "-created_at", "model_id")


def model_get(*, model_id: Any) -> MLModel:
    return _get(MLModel.objects.all(), pk=model_id, what="model")


def model_performance(*, model_id: Any, days: int = 30) -> dict[str, Any]:
    """The guide's performance shape: current metrics and the daily trend, newest first."""
    model = model_get(model_id=model_id)
    since = timezone.now().date() - timedelta(days=days)
    rows = ModelPerformanceTracking.objects.filter(
        model_id=model.model_id, tracking_date__gte=since
    ).order_by("-tracking_date")
    return {
        "model_id": model.model_id,
        "model_name": model.model_name,
        "current_metrics": {
            "accuracy": model.accuracy,
            "precision": model.precision,
            "recall": model.recall,
            "f1_score": model.f1_score,
        },
        "recent_trend": [
            {
                "date": row.tracking_date,
                "accuracy": row.accuracy_today,
                "precision": row.precision_today,
                "recall": row.recall_today,
                "predictions_made": row.predictions_made,
                "predictions_correct": row.predictions_correct,
                "false_positives": row.false_positives,
                "errors_prevented": row.errors_prevented,
            }
            for row in rows
        ],
    }


def model_features(*, model_id: Any) -> dict[str, Any]:
    """Feature names with their importances, most important first (unknown importance last)."""
    model = model_get(model_id=model_id)
    importances = model.feature_importances or {}
    names = list(model.feature_names or []) or list(importances)
    features = [{"name": name, "importance": importances.get(name)} for name in names]
    features.sort(key=lambda f: (f["importance"] is None, -(f["importance"] or 0.0)))
    return {
        "model_id": model.model_id,
        "model_name": model.model_name,
        "features_count": model.features_count or len(features),
        "features": features,
    }


# --- predictions -----------------------------------------------------------------------------
def _made_since(since: datetime) -> Q:
    """Predictions made from a bucket at or after ``since``.

    A prediction is placed in time by the bucket it was made from (``prediction_bucket``), as
    the dashboard's counts place it, not by when an analysis wrote the row: a backfill writes
    days-old buckets with ``created_at`` = now. The ``created_at`` bound is implied (a row is
    written after its bucket) and lets the query use the ``created_at`` index.
    """
    return Q(prediction_bucket__gte=since, created_at__gte=since)


def prediction_list(*, hours: float = DEFAULT_PREDICTION_HOURS) -> QuerySet[ErrorPrediction]:
    """Predictions made in the last ``hours`` hours (``_made_since``), newest first.

    One analysis stores all its predictions with the same ``created_at``: within it, the most
    likely first, then the primary key, so pages never overlap or skip rows.
    """
    since = timezone.now() - timedelta(hours=hours)
    return ErrorPrediction.objects.filter(_made_since(since)).order_by(
        "-created_at", "-probability", "prediction_id"
    )


def prediction_current() -> QuerySet[ErrorPrediction]:
    """The predictions of each service's latest prediction run: what the service is at risk of
    now, not the history of every 5-minute bucket.

    A full analysis predicts from the last complete bucket (``prediction_bucket``, the bucket
    before its ``as_of``) and stores one row per (type, horizon) that reaches
    PREDICTION_THRESHOLD, so the service's newest bucket holds its latest set and an older
    bucket's rows are superseded. A later run that found no risk stores no prediction; its
    ``AnalysisRun`` row (``predicted``: a prediction model scored it) with a later ``as_of``
    retires them. A re-run of the same bucket (a manual trigger), a quick run (anomalies only),
    a failed run or a backfill of older data does not. Both sides are analysis times
    (``as_of``), never the wall clock: a run that started late keeps its own predictions.
    """
    bucket = timedelta(minutes=settings.ML_PREDICTION_CONFIG["BUCKET_MINUTES"])
    newer_bucket = ErrorPrediction.objects.filter(
        service=OuterRef("service"), prediction_bucket__gt=OuterRef("prediction_bucket")
    )
    later_run = AnalysisRun.objects.filter(
        service=OuterRef("service"),
        status=AnalysisRun.Status.COMPLETED,
        predicted=True,
        as_of__gt=ExpressionWrapper(
            OuterRef("prediction_bucket") + bucket, output_field=DateTimeField()
        ),
    )
    return ErrorPrediction.objects.exclude(Exists(newer_bucket)).exclude(Exists(later_run))


def analysis_run_list() -> QuerySet[AnalysisRun]:
    """Every recorded analysis, newest first (a total order for pagination)."""
    return AnalysisRun.objects.order_by("-completed_at", "run_id")


def analysis_run_get(*, run_id: Any) -> AnalysisRun:
    return _get(AnalysisRun.objects.all(), pk=run_id, what="analysis run")


def prediction_high_risk(*, hours: float | None = None) -> QuerySet[ErrorPrediction]:
    """Current predictions (``prediction_current``) at or above HIGH_PROBABILITY_THRESHOLD
    whose predicted time has not passed, from a head with held-out skill (``head_trusted``);
    with ``hours``, only those made in the last ``hours`` hours. The plain prediction list
    keeps the history, the heads without skill included. A prediction no stored model made
    (written by other code, or its model deleted) has no head to judge: its probability decides.

    A 24-hour head at 0.41-0.47 held-out ROC-AUC said "82%" and was listed here (and acted
    on) although its ranking of outcomes is worse than a coin's.
    """
    found = (
        prediction_current()
        .alias(head_auc=head_gate_auc_expression(), head_base=head_base_rate_expression())
        .filter(
            Q(model__isnull=True) | Q(head_auc__gte=_config("ALERT_MIN_HEAD_AUC")),
            # the usual state is no risk (``lift_shown``)
            Q(head_base__isnull=True)
            | Q(probability__gte=F("head_base") * _config("ALERT_MIN_LIFT")),
            probability__gte=_config("HIGH_PROBABILITY_THRESHOLD"),
            predicted_timestamp__gte=timezone.now(),
        )
    )
    if hours is not None:
        found = found.filter(_made_since(timezone.now() - timedelta(hours=hours)))
    return found.order_by("-probability", "-created_at", "prediction_id")


def prediction_get(*, prediction_id: Any) -> ErrorPrediction:
    return _get(ErrorPrediction.objects.all(), pk=prediction_id, what="prediction")


# --- prediction heads ------------------------------------------------------------------------
# A prediction comes from one head of its model: a classifier per (target, horizon), whose
# held-out ROC-AUC the model's metrics keep as "<target>@<horizon>.roc_auc". One rule for the
# orchestrator (confidence, actions, pages), high_risk/ and the API's head_roc_auc / pages.


def head_metric_key(*, target: str, horizon_minutes: int, gate: bool = False) -> str:
    return f"{target}@{horizon_minutes}.{'cal_roc_auc' if gate else 'roc_auc'}"


def _metric_number(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def head_roc_auc(
    metrics: Mapping[str, Any] | None, *, target: str, horizon_minutes: int
) -> float | None:
    """The head's held-out ROC-AUC from its model's metrics; None when it was not measured
    (no positive, or no negative, in the held-out window)."""
    return _metric_number(metrics, head_metric_key(target=target, horizon_minutes=horizon_minutes))


def head_gate_auc(
    metrics: Mapping[str, Any] | None, *, target: str, horizon_minutes: int
) -> float | None:
    """The ROC-AUC the trust rule reads: the head's skill on its calibration rows (before the
    held-out test), else, for models trained before it was recorded, the held-out one.

    Choosing which heads to trust by their held-out ROC-AUC and then reporting that ROC-AUC
    for the heads chosen would flatter it; the calibration rows keep the two apart.
    """
    cal = _metric_number(
        metrics, head_metric_key(target=target, horizon_minutes=horizon_minutes, gate=True)
    )
    if cal is not None:
        return cal
    return head_roc_auc(metrics, target=target, horizon_minutes=horizon_minutes)


def head_trusted(roc_auc: float | None, *, floor: float) -> bool:
    """Has the head shown held-out skill: a measured ROC-AUC of at least ``floor``
    (ALERT_MIN_HEAD_AUC)?

    Confidence is how far to trust the number. A head that ranks outcomes no better than
    chance, or whose ranking was never measured, earns none: its prediction is stored as
    history with ``confidence_level`` low, is not high risk and recommends no action.
    """
    return roc_auc is not None and roc_auc >= floor


def head_may_page(roc_auc: float | None, *, floor: float) -> bool:
    """May the head page (``orchestrator.pages_worthy``)? Only a trusted one: a head whose
    skill was never measured (no burst in its calibration or held-out rows) has shown none,
    and a page on it would be confidence the stored row itself does not claim."""
    return head_trusted(roc_auc, floor=floor)


def head_base_rate(
    metrics: Mapping[str, Any] | None, *, target: str, horizon_minutes: int
) -> float | None:
    """The share of the head's training buckets that were positive; None for models trained
    before it was recorded."""
    return _metric_number(metrics, f"{target}@{horizon_minutes}.base_rate")


def lift_shown(probability: float, base_rate: float | None, *, min_lift: float) -> bool:
    """Does the probability say more than the head's usual rate (ALERT_MIN_LIFT times it)?

    Found on call: right after training, a quiet service paged "ErrorBurst: 100% within 24
    hours" every cooldown. Its 24-hour head ranked well, but 85% of its days had a burst: the
    page announced the service's normal state. Unknown (older models): the rule is not applied.
    """
    return base_rate is None or probability >= min_lift * base_rate


@dataclass(frozen=True)
class HeadSkill:
    """What the held-out test of its head says about one stored prediction."""

    roc_auc: float | None
    pages: bool  # probability >= ALERT_PROBABILITY from a head that may page, above its usual
    base_rate: float | None = None


def prediction_head_skill(
    *, metrics: Mapping[str, Any] | None, target: str, horizon_minutes: int, probability: float
) -> HeadSkill:
    auc = head_roc_auc(metrics, target=target, horizon_minutes=horizon_minutes)
    gate = head_gate_auc(metrics, target=target, horizon_minutes=horizon_minutes)
    base_rate = head_base_rate(metrics, target=target, horizon_minutes=horizon_minutes)
    floor = _config("ALERT_MIN_HEAD_AUC")
    pages = (
        probability >= _config("ALERT_PROBABILITY")
        and head_may_page(gate, floor=floor)
        and lift_shown(probability, base_rate, min_lift=_config("ALERT_MIN_LIFT"))
    )
    return HeadSkill(roc_auc=auc, pages=pages, base_rate=base_rate)


def model_metrics(*, model_ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """model_id → metrics of the given models, in one query (the heads of a page of rows)."""
    wanted = {m for m in model_ids if m is not None}
    if not wanted:
        return {}
    return dict(MLModel.objects.filter(pk__in=wanted).values_list("pk", "metrics"))


class _JSONNumberAt(Func):
    """``json[key]`` as a float, the key computed per row; NULL unless it is a JSON number.

    Django's key transforms take a constant key, and a head's key is built from the row's own
    target and horizon. The ML database is PostgreSQL, or SQLite in the embedded mode.
    """

    arity = 2
    output_field = FloatField()

    def _parts(self, compiler: Any) -> tuple[str, str, tuple]:
        (obj, obj_params), (key, key_params) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        return obj, key, (*obj_params, *key_params)

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: Any = None,
        template: Any = None,
        arg_joiner: Any = None,
        **extra: Any,
    ) -> tuple[str, Any]:
        raise NotSupportedError(f"head ROC-AUC lookups are not written for {connection.vendor}")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        obj, key, params = self._parts(compiler)
        sql = (
            f"(CASE WHEN jsonb_typeof({obj} -> ({key})) = 'number' "
            f"THEN ({obj} ->> ({key}))::double precision END)"
        )
        return sql, (*params, *params)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        obj, key, params = self._parts(compiler)
        path = f"('$.\"' || ({key}) || '\"')"
        sql = (
            f"(CASE WHEN json_type({obj}, {path}) IN ('integer', 'real') "
            f"THEN json_extract({obj}, {path}) END)"
        )
        return sql, (*params, *params)


def _head_metric_at(suffix: str) -> Func:
    """The prediction's head's ``<target>@<horizon><suffix>`` model metric in SQL (NULL when it
    is not a number)."""
    key = Concat(
        F("predicted_category"),
        Value("@"),
        Cast("time_horizon_minutes", CharField()),
        Value(suffix),
        output_field=CharField(),
    )
    return _JSONNumberAt(F("model__metrics"), key)


def head_gate_auc_expression() -> Func:
    """A prediction's gate ROC-AUC (``head_gate_auc``) in SQL: NULL without a model or a
    measured AUC."""
    return Coalesce(
        _head_metric_at(".cal_roc_auc"), _head_metric_at(".roc_auc"), output_field=FloatField()
    )


def head_base_rate_expression() -> Func:
    """A prediction's head base rate (``head_base_rate``) in SQL: NULL when not kept."""
    return _head_metric_at(".base_rate")


# --- anomalies -------------------------------------------------------------------------------


def cause_computed_at(anomaly: AnomalyDetection) -> datetime:
    """The end of the hour the row's root cause was computed on: kept by the analysis in
    ``contributing_features`` (a quick run keeps an earlier run's cause, so the figures are not
    the bucket's own hour); the bucket's end for rows stored before it was kept."""
    from django.utils.dateparse import parse_datetime

    from ml_prediction.services.training import ROOT_CAUSE_AS_OF_FEATURE

    features = (
        anomaly.contributing_features if isinstance(anomaly.contributing_features, dict) else {}
    )
    value = features.get(ROOT_CAUSE_AS_OF_FEATURE)
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or anomaly.window_end


def cause_path_lines(anomaly: AnomalyDetection) -> list[str]:
    """The decision path behind the row's cause as a page says it: each step's "the last hour"
    as the hour it meant, its conclusion in words (the row keeps the keys, for API clients);
    empty for rows stored before the path was kept."""
    from ml_prediction.engines.root_cause import cause_as_of, step_in_words
    from ml_prediction.services.training import ROOT_CAUSE_PATH_FEATURE

    features = anomaly.contributing_features
    steps = features.get(ROOT_CAUSE_PATH_FEATURE) if isinstance(features, dict) else None
    if not isinstance(steps, list):
        return []
    at = cause_computed_at(anomaly)
    return [step_in_words(cause_as_of(str(step), at=at)) for step in steps]


def fleet_incidents(*, exclude_service: str, start: datetime, end: datetime) -> list[FleetIncident]:
    """The other services' incidents flagged in [start, end), as the root cause takes them
    (`root_cause.FleetIncident`): one per run of consecutive flagged buckets (the analyses'
    episode), dated by its first bucket, with the cause key any of its rows keeps. A run cut by
    ``start`` seems to begin there: ask for more than the span whose beginnings matter."""
    from ml_prediction.engines.anomaly import anomalous_runs
    from ml_prediction.engines.root_cause import FleetIncident
    from ml_prediction.services.training import ROOT_CAUSE_KEY_FEATURE

    rows = (
        AnomalyDetection.objects.filter(
            is_anomaly=True, window_start__gte=start, window_start__lt=end
        )
        .exclude(service=exclude_service)
        .values_list("service", "window_start", "contributing_features")
    )
    per_service: dict[str, list[tuple[str, datetime, Any]]] = {}
    for row in rows:
        per_service.setdefault(row[0], []).append(row)
    bucket = timedelta(minutes=settings.ML_PREDICTION_CONFIG["BUCKET_MINUTES"])
    incidents = []
    for service, flagged in sorted(per_service.items()):
        for run in anomalous_runs(flagged, bucket=bucket, at=lambda r: r[1]):
            keys = [r[2].get(ROOT_CAUSE_KEY_FEATURE) for r in run if isinstance(r[2], dict)]
            cause = next((k for k in keys if isinstance(k, str) and k), "")
            incidents.append(FleetIncident(service, run[0][1], cause))
    return incidents


# Newest window first. Not ``-detected_at``: every analysis re-scores the buckets of its
# lookback and stamps them all with the same ``detected_at``, so whole batches would tie and
# come out in any order. (service, metric_name, window_start) is unique: a total order.
ANOMALY_ORDER = ("-window_start", "service", "metric_name")


def anomaly_list() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.order_by(*ANOMALY_ORDER)


def anomaly_unacknowledged() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.filter(is_anomaly=True, acknowledged=False).order_by(
        *ANOMALY_ORDER
    )


def anomaly_critical() -> QuerySet[AnomalyDetection]:
    return AnomalyDetection.objects.filter(is_anomaly=True, severity_level="critical").order_by(
        *ANOMALY_ORDER
    )


def anomaly_get(*, anomaly_id: Any) -> AnomalyDetection:
    return _get(AnomalyDetection.objects.all(), pk=anomaly_id, what="anomaly")


# --- forecasts -------------------------------------------------------------------------------
# One analysis stores its forecasts with one ``created_at``; (service, metric_name,
# forecast_start) is unique, so the tie-break makes the order total.
FORECAST_ORDER = ("-created_at", "service", "metric_name", "-forecast_start")


def forecast_list() -> QuerySet[TimeSeriesForecast]:
    return TimeSeriesForecast.objects.order_by(*FORECAST_ORDER)


def forecast_latest_for_service(*, service: str) -> list[TimeSeriesForecast]:
    """The newest forecast of each metric of one service (two queries)."""
    if service not in SERVICES:
        raise NotFound(f"Unknown service {service!r}; one of: {', '.join(SERVICES)}.")
    latest = (
        TimeSeriesForecast.objects.filter(service=service)
        .values("metric_name")
        .annotate(newest=Max("created_at"))
    )
    wanted = Q(pk__in=[])
    for row in latest:
        wanted |= Q(metric_name=row["metric_name"], created_at=row["newest"])
    return list(TimeSeriesForecast.objects.filter(wanted, service=service).order_by("metric_name"))


def forecast_at_risk() -> QuerySet[TimeSeriesForecast]:
    """The newest forecast of each (service, metric) when it crosses its capacity limit and its
    horizon has not ended. Every analysis stores a new forecast per metric (one per hour
    started): an older one that crossed the limit is superseded, not a current risk."""
    newer = TimeSeriesForecast.objects.filter(
        service=OuterRef("service"),
        metric_name=OuterRef("metric_name"),
        created_at__gt=OuterRef("created_at"),
    )
    return (
        TimeSeriesForecast.objects.filter(is_at_risk=True, forecast_end__gte=timezone.now())
        .exclude(Exists(newer))
        .order_by(*FORECAST_ORDER)
    )


# --- actions ---------------------------------------------------------------------------------
def action_list() -> QuerySet[PreventiveAction]:
    return PreventiveAction.objects.order_by("-created_at", "action_id")


def action_pending() -> QuerySet[PreventiveAction]:
    return PreventiveAction.objects.filter(status__in=PENDING_ACTION_STATUSES).order_by(
        "-created_at", "action_id"
    )


def action_by_priority(
    *, pending: QuerySet[PreventiveAction] | None = None, per_priority: int = 50
) -> list[dict[str, Any]]:
    """Pending actions grouped by priority, critical first; each group capped (5 queries).

    ``pending`` is ``action_pending()`` narrowed by the caller (the API's list filters).
    """
    if pending is None:
        pending = action_pending()
    counts = dict(pending.order_by().values_list("priority").annotate(n=Count("action_id")))
    groups = []
    for priority in PRIORITY_ORDER:
        rows = list(pending.filter(priority=priority)[:per_priority])
        groups.append({"priority": priority, "count": counts.get(priority, 0), "results": rows})
    return groups


def action_get(*, action_id: Any) -> PreventiveAction:
    return _get(PreventiveAction.objects.all(), pk=action_id, what="action")


# --- insights --------------------------------------------------------------------------------
def insight_list() -> QuerySet[AIInsight]:
    return AIInsight.objects.order_by("-created_at", "insight_id")


def insight_active() -> QuerySet[AIInsight]:
    return AIInsight.objects.filter(status=AIInsight.Status.ACTIVE).order_by(
        "-created_at", "insight_id"
    )


def insight_summary_by_service() -> dict[str, Any]:
    """The guide's ``{"summary": [{service, total, critical, warning, unresolved}]}`` (1 query)."""
    rows = (
        AIInsight.objects.order_by()
        .values("service")
        .annotate(
            total=Count("insight_id"),
            critical=Count("insight_id", filter=Q(severity=AIInsight.Severity.CRITICAL)),
            warning=Count("insight_id", filter=Q(severity=AIInsight.Severity.WARNING)),
            unresolved=Count("insight_id", filter=Q(status__in=UNRESOLVED_INSIGHT_STATUSES)),
        )
        .order_by("service")
    )
    return {"summary": list(rows)}


# --- audit -----------------------------------------------------------------------------------
def audit_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-created_at", "audit_id")


# --- health ----------------------------------------------------------------------------------
def analyses_since(*, since: datetime) -> tuple[int, list[str]]:
    """(how many services completed an analysis since ``since``, what failed in each service's
    latest analysis since then: ``"java"`` when the run failed, ``"vue (forecasts)"`` when it
    completed without some of its stages), from the ``AnalysisRun`` rows in one small query."""
    latest: dict[str, str] = {}
    completed: set[str] = set()
    runs = AnalysisRun.objects.filter(completed_at__gte=since).order_by("completed_at")
    for service, status, summary in runs.values_list("service", "status", "summary"):
        if status == AnalysisRun.Status.FAILED:
            latest[service] = service
            continue
        completed.add(service)
        stages = (summary or {}).get("failed_stages") or []
        latest[service] = f"{service} ({', '.join(stages)})" if stages else ""
    return len(completed), sorted(what for what in latest.values() if what)


def health_deductions(
    *,
    active_models: int,
    analysed_1h: bool,
    critical_unacked: int = 0,
    failing: list[str] | tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """What the health score loses, and why — shown beside the score, so that a 75 on the
    dashboard next to a 100 from ``/api/ml/health/`` (which leaves anomalies out: it is the
    system's health, for probes) says where the difference comes from."""
    out: list[dict[str, Any]] = []
    if active_models == 0:
        out.append({"points": 50, "reason": "no active model: run train_models"})
    if not analysed_1h:
        out.append({"points": 25, "reason": "no analysis ran in the last hour: is beat running?"})
    if failing:
        out.append(
            {
                "points": min(25, 5 * len(failing)),
                "reason": f"the latest analysis of {', '.join(failing)} failed: see "
                "/api/ml/analysis-runs/",
            }
        )
    if critical_unacked:
        plural = "y" if critical_unacked == 1 else "ies"
        out.append(
            {
                "points": min(25, 5 * critical_unacked),
                "reason": f"{critical_unacked} paged critical anomal{plural} not acknowledged",
            }
        )
    return out


def health_score(deductions: list[dict[str, Any]]) -> int:
    """The guide's health check score — 100, less 50 without an active model, less 25 when no
    analysis ran in the last hour (the guide says "without predictions", which a quiet system
    rightly has none of) — less 5 per service whose latest analysis failed and, on the
    dashboard, per critical anomaly that paged and is not acknowledged (at most 25 each)."""
    return max(0, 100 - sum(d["points"] for d in deductions))


# --- dashboard -------------------------------------------------------------------------------


def dashboard_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """The guide's dashboard summary, in five small aggregate queries.

    ``predictions`` and ``anomalies`` cover the last DASHBOARD_WINDOW_DAYS days (an all-time
    total grows without bound and stops meaning anything); ``recent_activity`` the last 24 h.
    Predictions are placed in time by their ``prediction_bucket``, anomalies by ``window_start``.
    """
    now = now or timezone.now()
    window_start = now - timedelta(days=DASHBOARD_WINDOW_DAYS)
    day_ago = now - timedelta(hours=24)
    hour_ago = now - timedelta(hours=1)
    high = _config("HIGH_PROBABILITY_THRESHOLD")

    # Windows count what happened in them: a prediction by the bucket it was made from, an
    # anomaly by its window, not by when an analysis wrote the row (``created_at`` /
    # ``detected_at``), which a backfill or a re-analysis sets to now for days-old history.
    made_in_window = Q(prediction_bucket__gte=window_start)
    predictions = (
        ErrorPrediction.objects.filter(made_in_window)
        .order_by()
        .aggregate(
            total=Count("prediction_id", filter=made_in_window),
            high_probability=Count(
                "prediction_id", filter=made_in_window & Q(probability__gte=high)
            ),
            alerts_triggered=Count(
                "prediction_id", filter=made_in_window & Q(alert_triggered=True)
            ),
            accurate=Count("prediction_id", filter=made_in_window & Q(actual_error_occurred=True)),
            last_24h=Count("prediction_id", filter=Q(prediction_bucket__gte=day_ago)),
        )
    )
    anomaly = Q(is_anomaly=True, window_start__gte=window_start)
    anomalies = (
        AnomalyDetection.objects.filter(anomaly)
        .order_by()
        .aggregate(
            total=Count("anomaly_id", filter=anomaly),
            critical=Count("anomaly_id", filter=anomaly & Q(severity_level="critical")),
            unacknowledged=Count("anomaly_id", filter=anomaly & Q(acknowledged=False)),
            # Only pages count against health: a critical bucket of a backfill or of an
            # episode already paged for is history or a duplicate, not an open incident (a
            # demo's two days of history pinned the score at 75 on a quiet system).
            critical_unacknowledged=Count(
                "anomaly_id",
                filter=anomaly
                & Q(severity_level="critical", acknowledged=False, alert_triggered=True),
            ),
            last_24h=Count("anomaly_id", filter=anomaly & Q(window_start__gte=day_ago)),
        )
    )
    by_service = list(
        MLModel.objects.filter(status=MLModel.Status.ACTIVE)
        .order_by()
        .values("service")
        .annotate(
            active=Count("model_id"),
            avg_accuracy=Avg("accuracy"),
            last_trained_at=Max("last_trained_at"),
        )
        .order_by("service")
    )
    actions_executed_24h = PreventiveAction.objects.filter(
        status=PreventiveAction.Status.EXECUTED, executed_at__gte=day_ago
    ).count()
    active_models = sum(row["active"] for row in by_service)
    analysed, failing = analyses_since(since=hour_ago)
    deductions = health_deductions(
        active_models=active_models,
        analysed_1h=analysed > 0,
        critical_unacked=anomalies["critical_unacknowledged"],
        failing=failing,
    )
    return {
        "timestamp": now,
        "health_score": health_score(deductions),
        "health_deductions": deductions,
        "window_days": DASHBOARD_WINDOW_DAYS,
        "predictions": {
            "total": predictions["total"],
            "high_probability": predictions["high_probability"],
            "alerts_triggered": predictions["alerts_triggered"],
            "accurate": predictions["accurate"],
        },
        "anomalies": {
            "total": anomalies["total"],
            "critical": anomalies["critical"],
            "unacknowledged": anomalies["unacknowledged"],
        },
        "models": {"active": active_models, "by_service": by_service},
        "recent_activity": {
            "predictions_24h": predictions["last_24h"],
            "anomalies_24h": anomalies["last_24h"],
            "actions_executed_24h": actions_executed_24h,
        },
    }
