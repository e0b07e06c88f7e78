"""Insights: readable findings with the numbers behind them, de-duplicated while still open.

Types: ``rising_trend`` (last 6 h vs the same hours a day and a week earlier), ``recurring_pattern`` (an hour of the day
that is busy on most days of the last week), ``capacity_warning`` (a forecast crossing its
capacity limit), ``hotspot`` (one endpoint or fingerprint dominating the last hour, from
ErrorLog over that bounded window via the (service, occurred_at) index) and ``model_drift``
(the tracked precision of the error predictor's alerts well below its held-out precision).

An insight's ``dedup_key`` names its type and subject; while an insight with that key is
``active`` or ``acknowledged`` a new finding refreshes it instead of adding a row. An open
insight that a detector which ran (over that subject) no longer finds is ``resolved``
(``resolved_at`` set); a detector that did not run resolves nothing. People acknowledge
(seen) or dismiss (not useful) an insight; a dismissed one stays silent while its finding
persists, and a finding that returns after it cleared opens a new insight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ml_prediction.engines.forecasting import format_number, format_time
from ml_prediction.engines.types import ForecastPoint, ForecastResult
from ml_prediction.models import AIInsight, MLModel
from ml_prediction.services.audit import audit_record
from ml_prediction.services.cache import read_cache_bump
from ml_prediction.services.errors import InvalidTransition, NotFound
from ml_prediction.services.jsonsafe import json_safe

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
OPEN_STATUSES = (AIInsight.Status.ACTIVE, AIInsight.Status.ACKNOWLEDGED)
RISING_HOURS = 6  # the recent window, compared with the same hours a day and a week earlier
RISING_MIN_ERRORS = 30  # the recent window needs at least this many errors to talk about a trend
RISING_WARNING_RATIO = 1.5
RISING_CRITICAL_RATIO = 3.0
PATTERN_MIN_DAYS = 5  # days of hourly history needed before calling an hour "recurring"
PATTERN_RATIO = 2.0
HOTSPOT_MIN_ERRORS = 20
HOTSPOT_SHARE = 0.5
DRIFT_DROP = 0.15  # precision points below the held-out precision
DRIFT_MIN_PREDICTIONS = 20  # resolved alert-level predictions needed to measure the precision
DRIFT_DAYS = 3


@dataclass(frozen=True)
class InsightDraft:
    insight_type: str
    subject: str
    severity: str
    title: str
    description: str
    supporting_data: dict[str, Any] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)

    def dedup_key(self, service: str) -> str:
        return dedup_key(service, self.insight_type, self.subject)


def dedup_key(service: str, insight_type: str, subject: str) -> str:
    return f"{service}:{insight_type}:{subject}"[:200]


class InsightFindings(list[InsightDraft]):
    """The drafts of one detection, and what it looked at (for resolving what it no longer
    finds): ``scopes`` maps each insight type whose detector ran to the subjects it covered,
    None for "every subject". A plain list (a failed detection) has no scopes: it resolves
    nothing."""

    def __init__(
        self, drafts: list[InsightDraft], scopes: dict[str, frozenset[str] | None]
    ) -> None:
        super().__init__(drafts)
        self.scopes = scopes


@dataclass(frozen=True)
class SeasonalErrorCounts:
    """Errors in the last ``hours`` and in the same hours one day and one week earlier.

    A reference is None when the service's error history does not reach back to it (its first
    rollup is later than the reference window's start): unknown, which is not zero.
    """

    hours: int
    recent: int
    day_before: int | None
    week_before: int | None


def seasonal_error_counts(
    *, service: str, end: datetime, hours: int = RISING_HOURS
) -> SeasonalErrorCounts:
    """The counts ``_rising_trend`` compares, from the per-minute rollups (three sums and the
    service's first rollup, all through the (service, bucket) index)."""
    from error_logging.models import ErrorRollup
    from ml_prediction.services.features import error_total_for_service

    window = timedelta(hours=hours)
    first = (
        ErrorRollup.objects.filter(service=service)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )

    def count(back: timedelta) -> int | None:
        start = end - back - window
        if back and (first is None or first > start):
            return None
        return error_total_for_service(service=service, start=start, end=end - back)

    return SeasonalErrorCounts(
        hours=hours,
        recent=count(timedelta(0)) or 0,
        day_before=count(timedelta(days=1)),
        week_before=count(timedelta(days=7)),
    )


def _rising_trend(service: str, counts: SeasonalErrorCounts) -> list[InsightDraft]:
    """Errors of the last hours against the same hours one day and one week earlier.

    Why not the hours just before: errors follow the daily traffic cycle, so the morning was
    always "2.5× the night" and the insight fired on every service every morning. The rise must
    hold against every seasonal reference the history has; with neither (a service younger
    than a day) there is nothing to compare with and nothing is said.
    """
    references = {
        label: value
        for label, value in (("yesterday", counts.day_before), ("a week ago", counts.week_before))
        if value is not None
    }
    if counts.recent < RISING_MIN_ERRORS or not references:
        return []
    ratio = counts.recent / max(max(references.values()), 1)  # it must hold against each one
    if ratio < RISING_WARNING_RATIO:
        return []
    severity = "critical" if ratio >= RISING_CRITICAL_RATIO else "warning"
    against = " and ".join(
        f"{value} {label} ({counts.recent / max(value, 1):.1f}×)"
        for label, value in references.items()
    )
    missing = (
        ""
        if len(references) == 2
        else " The error history does not reach back to the other reference."
    )
    return [
        InsightDraft(
            insight_type="rising_trend",
            subject="errors_6h",
            severity=severity,
            title=(
                f"{service}: errors up {ratio:.1f}× on the same {counts.hours} hours "
                f"{' and '.join(references)}"
            ),
            description=(
                f"{counts.recent} errors in the last {counts.hours} hours against, in the same "
                f"hours, {against}.{missing}"
            ),
            supporting_data={
                "recent_6h": counts.recent,
                "same_hours_1d_ago": counts.day_before,
                "same_hours_7d_ago": counts.week_before,
                "ratio": round(ratio, 2),
            },
            recommendations=["Check recent deploys and upstream dependencies of this service."],
        )
    ]


def _recurring_pattern(service: str, hourly: pd.DataFrame) -> list[InsightDraft]:
    if hourly is None or hourly.empty:
        return []
    counts = hourly["total_count"].astype(float)
    days = counts.index.normalize().nunique()
    if days < PATTERN_MIN_DAYS or counts.sum() <= 0:
        return []
    overall = counts.mean()
    by_hour = counts.groupby(counts.index.hour)
    means = by_hour.mean()
    hour = int(means.idxmax())
    peak = float(means.loc[hour])
    if overall <= 0 or peak < PATTERN_RATIO * overall:
        return []
    at_hour = counts[counts.index.hour == hour]
    busy_days = int((at_hour >= PATTERN_RATIO * overall).sum())
    if busy_days < max(3, int(0.6 * days)):
        return []
    weekday = counts.groupby(counts.index.day_of_week).sum()
    return [
        InsightDraft(
            insight_type="recurring_pattern",
            subject=f"hour_{hour:02d}",
            severity="info",
            title=f"{service}: errors peak every day around {hour:02d}:00 UTC",
            description=(
                f"Between {hour:02d}:00 and {hour:02d}:59 UTC the service averages {format_number(peak)} errors "
                f"per hour, {peak / overall:.1f}× its hourly mean of {format_number(overall)}; this happened on "
                f"{busy_days} of the last {days} days."
            ),
            supporting_data={
                "hour_utc": hour,
                "mean_at_hour": round(peak, 1),
                "hourly_mean": round(overall, 1),
                "busy_days": busy_days,
                "days": int(days),
                "busiest_weekday": int(weekday.idxmax()),
            },
            recommendations=["Schedule capacity or batch jobs away from this hour."],
        )
    ]


def _capacity(service: str, forecasts: list[ForecastResult]) -> list[InsightDraft]:
    """One insight per forecast at risk, naming both moments: when the forecast first crosses
    the limit (the deadline for the recommendation) and when it peaks (they were conflated:
    the first point over the limit was labelled "Peak")."""
    drafts = []
    for f in forecasts:
        if not f.capacity_warning or f.capacity_limit is None:
            continue
        limit = format_number(f.capacity_limit)
        peaks = f"peaks at {format_number(f.peak_value)} around {format_time(f.peak_at)}"
        over = [p for p in f.points if p.value >= f.capacity_limit]
        crossing: ForecastPoint | None
        if over:
            severity, crossing = "critical", over[0]
            description = (
                f"The {f.metric_name} forecast crosses the limit of {limit} at "
                f"{format_time(crossing.timestamp)} ({format_number(crossing.value)}) and "
                f"{peaks} ({f.algorithm})."
            )
        else:
            upper = [p for p in f.points if p.upper >= f.capacity_limit]
            severity, crossing = "warning", (upper[0] if upper else None)
            reaches = (
                f"reaches the limit of {limit} at {format_time(crossing.timestamp)}"
                if crossing
                else f"comes near the limit of {limit}"
            )
            description = (
                f"The upper bound of the {f.metric_name} forecast {reaches}; the forecast "
                f"{peaks} ({f.algorithm})."
            )
        deadline = crossing.timestamp if crossing else f.peak_at
        drafts.append(
            InsightDraft(
                insight_type="capacity_warning",
                subject=f.metric_name,
                severity=severity,
                title=(
                    f"{service}: {f.metric_name} forecast to reach "
                    f"{format_number(f.peak_value)} (limit {limit})"
                ),
                description=description,
                supporting_data={
                    "metric": f.metric_name,
                    "peak_value": round(f.peak_value, 2),
                    "peak_at": f.peak_at.isoformat(),
                    "crosses_limit_at": crossing.timestamp.isoformat() if crossing else None,
                    "capacity_limit": f.capacity_limit,
                    "trend": f.trend_direction,
                },
                recommendations=[
                    f"Add capacity for {f.metric_name} before {format_time(deadline)}."
                ],
            )
        )
    return drafts


def _hotspots(service: str, end: datetime) -> list[InsightDraft]:
    from error_logging.models import ErrorLog

    start = end - timedelta(hours=1)
    window = ErrorLog.objects.filter(service=service, occurred_at__gte=start, occurred_at__lt=end)
    drafts = []
    for column, label in (("endpoint", "endpoint"), ("fingerprint", "fingerprint")):
        rows = list(window.order_by().values(column).annotate(n=Count("id")).order_by("-n")[:5])
        total = sum(r["n"] for r in rows)
        if not rows:
            continue
        total = window.count() if len(rows) == 5 else total
        top = rows[0]
        if not top[column] or total < HOTSPOT_MIN_ERRORS or top["n"] < HOTSPOT_SHARE * total:
            continue
        share = top["n"] / total
        severity = "critical" if share >= 0.8 and top["n"] >= 100 else "warning"
        supporting = {
            label: top[column],
            "count": top["n"],
            "total": total,
            "share": round(share, 3),
        }
        if column == "fingerprint":
            drafts.append(_fingerprint_hotspot(service, window, top, total, share, severity))
            continue
        drafts.append(
            InsightDraft(
                insight_type="hotspot",
                subject=f"{label}:{top[column]}"[:150],
                severity=severity,
                title=f"{service}: {share:.0%} of the last hour's errors come from one {label}",
                description=f"{top['n']} of {total} errors in the last hour share the {label} {top[column]!s}.",
                supporting_data=supporting,
                recommendations=[f"Investigate {label} {top[column]!s} first."],
            )
        )
    return drafts


def _fingerprint_hotspot(
    service: str, window: Any, top: dict[str, Any], total: int, share: float, severity: str
) -> InsightDraft:
    """One error group dominating the hour, named by what people recognise: its type and
    message template. Found on call: the insight named a 64-character hash that no page or API
    endpoint resolves; the hash stays in ``supporting_data`` for the error tracker."""
    from ml_prediction.engines.root_cause import message_template

    fingerprint = str(top["fingerprint"])
    example = (
        window.filter(fingerprint=fingerprint)
        .order_by("-occurred_at")
        .values("error_type", "message")
        .first()
        or {}
    )
    error_type = str(example.get("error_type") or "")
    template = message_template(str(example.get("message") or ""))
    name = (
        f"{error_type}: {template}" if template else error_type or f"fingerprint {fingerprint[:12]}"
    )
    return InsightDraft(
        insight_type="hotspot",
        subject=f"fingerprint:{fingerprint}"[:150],
        severity=severity,
        title=f"{service}: {share:.0%} of the last hour's errors are one error, {error_type or 'unknown type'}",
        description=f"{top['n']} of {total} errors in the last hour are the same error: {name} "
        f"(fingerprint {fingerprint[:12]}).",
        supporting_data={
            "fingerprint": fingerprint,
            "error_type": error_type,
            "message_template": template,
            "count": top["n"],
            "total": total,
            "share": round(share, 3),
        },
        recommendations=[f"Investigate {name} first."],
    )


def _drift(service: str, as_of: datetime) -> list[InsightDraft]:
    return _drift_measured(service, as_of)[0]


def _drift_measured(service: str, as_of: datetime) -> tuple[list[InsightDraft], frozenset[str]]:
    """(drift findings, the model types whose tracked precision could be measured).

    Like with like: the analysis stores only predictions at or above PREDICTION_THRESHOLD, so
    what can be tracked is the precision of those (of the resolved ones, how many happened:
    `feedback.tracked_precision`), and it is compared with the model's held-out precision at
    that same threshold (``MLModel.precision``). The held-out *accuracy* it was compared with
    before is dominated by the many quiet buckets, which the stored predictions do not
    contain, so a healthy model read as a critical drift. A type with too few resolved
    predictions is not measured and its open drift insight is left alone.
    """
    from ml_prediction.services.feedback import tracked_precision

    drafts = []
    measured: set[str] = set()
    since = as_of - timedelta(days=DRIFT_DAYS)
    for model in MLModel.objects.filter(
        service=service,
        status=MLModel.Status.ACTIVE,
        model_type=MLModel.ModelType.ERROR_CLASSIFIER,
        precision__isnull=False,
    ):
        tracked = tracked_precision(model_id=model.model_id, since=since)
        made = tracked.resolved_positives
        precision = tracked.precision
        if precision is None or made < DRIFT_MIN_PREDICTIONS:
            continue
        measured.add(model.model_type)
        held_out = model.precision
        if held_out is None:  # filtered out above; said again for the type checker
            continue
        drop = held_out - precision
        if drop < DRIFT_DROP:
            continue
        drafts.append(
            InsightDraft(
                insight_type="model_drift",
                subject=f"{model.model_type}",
                severity="critical" if drop >= 2 * DRIFT_DROP else "warning",
                title=(
                    f"{service}: {model.model_type} precision fell to {precision:.0%} "
                    f"(held-out {held_out:.0%})"
                ),
                description=(
                    f"Of {made} resolved predictions at or above the alert threshold in the last "
                    f"{DRIFT_DAYS} days, {tracked.happened} came true: a precision of "
                    f"{precision:.1%}, {drop:.1%} below the {held_out:.1%} measured on "
                    f"held-out data at the same threshold (v{model.version})."
                ),
                supporting_data={
                    "model_id": str(model.model_id),
                    "held_out_precision": round(held_out, 4),
                    "tracked_precision": round(precision, 4),
                    "resolved_predictions": int(made),
                    "came_true": int(tracked.happened),
                },
                recommendations=[
                    "Retrain this model with the latest feedback (train_models --service)."
                ],
            )
        )
    return drafts, frozenset(measured)


def insights_detect(
    *,
    service: str,
    forecasts: list[ForecastResult],
    as_of: datetime,
    frame: pd.DataFrame | None = None,
    hourly: pd.DataFrame | None = None,
) -> list[InsightDraft]:
    """Every finding for one service now (nothing is written).

    ``frame`` (the analysis' bucket frame) is accepted but no longer read: the rising trend
    needs the same hours a week back, which it sums from the rollups itself.
    """
    if hourly is None:
        from ml_prediction.services.features import bucket_frame_for_service

        hourly = bucket_frame_for_service(
            service=service,
            start=as_of - timedelta(days=7),
            end=as_of,
            bucket_minutes=60,
            percentiles=False,
        )
    drafts: list[InsightDraft] = []
    scopes: dict[str, frozenset[str] | None] = {}

    def capacity() -> tuple[list[InsightDraft], frozenset[str] | None]:
        return _capacity(service, forecasts), frozenset(f.metric_name for f in forecasts)

    detectors: list[tuple[str, Any]] = [
        (
            "rising_trend",
            lambda: (
                _rising_trend(service, seasonal_error_counts(service=service, end=as_of)),
                None,
            ),
        ),
        ("recurring_pattern", lambda: (_recurring_pattern(service, hourly), None)),
        ("hotspot", lambda: (_hotspots(service, as_of), None)),
        ("model_drift", lambda: _drift_measured(service, as_of)),
    ]
    if forecasts:  # no forecasts this run: the capacity detector did not run
        detectors.insert(2, ("capacity_warning", capacity))
    for insight_type, detect in detectors:
        try:
            found, scope = detect()
        except Exception:  # one broken detector must not hide the others
            logger.exception("insight detector failed for %s", service)
            continue
        drafts.extend(found)
        scopes[insight_type] = scope
    return InsightFindings(drafts, scopes)


def _resolve_cleared(
    *, service: str, findings: list[InsightDraft], found_keys: set[str]
) -> list[Any]:
    """Close the open insights that a detector which ran no longer finds; returns their ids.

    Active and acknowledged ones become ``resolved``; a dismissed one keeps its status and gets
    ``resolved_at`` (its finding cleared, so a return opens a new insight).
    """
    scopes = getattr(findings, "scopes", None)
    if not scopes:
        return []
    covered = Q()
    for insight_type, subjects in scopes.items():
        if subjects is None:
            covered |= Q(insight_type=insight_type)
        elif subjects:
            keys = [dedup_key(service, insight_type, subject) for subject in subjects]
            covered |= Q(insight_type=insight_type, dedup_key__in=keys)
    if not covered:
        return []
    stale = (
        AIInsight.objects.filter(service=service, resolved_at__isnull=True)
        .filter(status__in=(*OPEN_STATUSES, AIInsight.Status.DISMISSED))
        .filter(covered)
        .exclude(dedup_key__in=list(found_keys))
    )
    now = timezone.now()
    ids = list(stale.values_list("insight_id", flat=True))
    if ids:
        AIInsight.objects.filter(insight_id__in=ids, status__in=OPEN_STATUSES).update(
            status=AIInsight.Status.RESOLVED, resolved_at=now, updated_at=now
        )
        AIInsight.objects.filter(insight_id__in=ids, status=AIInsight.Status.DISMISSED).update(
            resolved_at=now, updated_at=now
        )
    return ids


def insights_store(*, service: str, drafts: list[InsightDraft]) -> tuple[list[Any], list[Any]]:
    """Create new insights, refresh open twins, resolve what the detection no longer finds
    (``drafts`` from `insights_detect`: see `_resolve_cleared`); returns (created ids, updated
    ids). A finding whose insight a person dismissed is not raised again while it persists.
    Supporting numbers that are not finite are stored as null."""
    by_key = {d.dedup_key(service): d for d in drafts}
    created: list[Any] = []
    updated: list[Any] = []
    with transaction.atomic(using=ML_DB):
        resolved = _resolve_cleared(service=service, findings=drafts, found_keys=set(by_key))
        if resolved:
            logger.info("%s: %d insight(s) resolved", service, len(resolved))
        silenced = set(
            AIInsight.objects.filter(
                service=service,
                dedup_key__in=list(by_key),
                status=AIInsight.Status.DISMISSED,
                resolved_at__isnull=True,
            ).values_list("dedup_key", flat=True)
        )
        by_key = {key: d for key, d in by_key.items() if key not in silenced}
        open_rows = {
            row.dedup_key: row
            for row in AIInsight.objects.select_for_update().filter(
                service=service, dedup_key__in=list(by_key), status__in=OPEN_STATUSES
            )
        }
        new_rows = []
        for key, draft in by_key.items():
            row = open_rows.get(key)
            if row is not None:
                row.title = draft.title[:300]
                row.description = draft.description
                row.severity = draft.severity
                row.supporting_data = json_safe(draft.supporting_data)
                row.recommendations = draft.recommendations
                row.save(
                    update_fields=[
                        "title",
                        "description",
                        "severity",
                        "supporting_data",
                        "recommendations",
                        "updated_at",
                    ]
                )
                updated.append(row.insight_id)
                continue
            new_rows.append(
                AIInsight(
                    service=service,
                    insight_type=draft.insight_type,
                    title=draft.title[:300],
                    description=draft.description,
                    severity=draft.severity,
                    # jsonb refuses NaN/inf (a forecast peak of inf failed the whole
                    # analysis transaction): they are stored as null
                    supporting_data=json_safe(draft.supporting_data),
                    recommendations=draft.recommendations,
                    dedup_key=key,
                )
            )
        AIInsight.objects.bulk_create(new_rows)
        created = [r.insight_id for r in new_rows]
    return created, updated


def insights_generate(*, service: str, as_of: datetime | None = None) -> dict[str, Any]:
    """Detect and store insights for one service from stored data (the 30-minute beat task)."""
    from ml_prediction.engines.types import ForecastPoint
    from ml_prediction.models import TimeSeriesForecast
    from ml_prediction.services.features import lookback_window

    _, end = lookback_window(hours=24, as_of=as_of)
    latest: dict[str, Any] = {}
    # the latest forecast of every metric, at risk or not: one no longer at risk resolves its
    # capacity warning
    for row in TimeSeriesForecast.objects.filter(service=service, forecast_end__gte=end).order_by(
        "-forecast_start"
    )[:50]:
        latest.setdefault(row.metric_name, row)
    forecasts = [_forecast_from_row(row, ForecastPoint) for row in latest.values()]
    drafts = insights_detect(service=service, forecasts=forecasts, as_of=end)
    created, updated = insights_store(service=service, drafts=drafts)
    return {"service": service, "created": len(created), "updated": len(updated)}


def _forecast_from_row(row: Any, point_cls: type) -> ForecastResult:
    points = [
        point_cls(
            timestamp=pd.Timestamp(p["timestamp"]).to_pydatetime(),
            value=float(p["value"] or 0.0),
            lower=float(p["lower"] or 0.0),
            upper=float(p["upper"] or 0.0),
        )
        for p in row.forecast_values
    ]
    return ForecastResult(
        metric_name=row.metric_name,
        algorithm=row.model_algorithm,
        points=points,
        interval_width=row.interval_width,
        trend_direction=row.trend_direction,
        peak_value=row.predicted_peak_value or 0.0,
        peak_at=row.predicted_peak_at or row.forecast_start,
        capacity_limit=row.capacity_limit,
        capacity_warning=row.capacity_warning,
    )


def _locked_insight(insight_id: Any) -> AIInsight:
    found = AIInsight.objects.select_for_update().filter(pk=insight_id).first()
    if found is None:
        raise NotFound(f"No insight with id {insight_id}.")
    return found


def insight_acknowledge(*, insight_id: Any, actor: str) -> AIInsight:
    """Mark an active insight as seen by a person; raises ``InvalidTransition`` otherwise (it
    was already acknowledged, dismissed or resolved). It stays open: the analysis keeps
    refreshing it and resolves it when the finding clears."""
    with transaction.atomic(using=ML_DB):
        insight = _locked_insight(insight_id)
        if insight.status != AIInsight.Status.ACTIVE:
            raise InvalidTransition(
                f"Insight {insight_id} is {insight.status}; only an active insight can be "
                "acknowledged."
            )
        insight.status = AIInsight.Status.ACKNOWLEDGED
        insight.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="insight.acknowledge",
            object_type="insight",
            object_id=insight.insight_id,
            service=insight.service,
        )
    read_cache_bump()
    return insight


def insight_dismiss(*, insight_id: Any, actor: str) -> AIInsight:
    """Close an active or acknowledged insight as not useful; raises ``InvalidTransition`` for
    one already dismissed or resolved. While its finding persists it is not raised again."""
    with transaction.atomic(using=ML_DB):
        insight = _locked_insight(insight_id)
        if insight.status not in OPEN_STATUSES:
            raise InvalidTransition(
                f"Insight {insight_id} is {insight.status}; only an open insight can be dismissed."
            )
        previous = insight.status
        insight.status = AIInsight.Status.DISMISSED
        insight.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="insight.dismiss",
            object_type="insight",
            object_id=insight.insight_id,
            service=insight.service,
            details={"previous_status": previous},
        )
    read_cache_bump()
    return insight
