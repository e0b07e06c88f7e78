"""Insights: readable findings with the numbers behind them, de-duplicated while still open.

Types: ``rising_trend`` (last 6 h vs the same hours a day and a week earlier), ``recurring_pattern`` (an hour of the day
that is busy on most days of the last week), ``capacity_warning`` (a forecast crossing its
capacity limit), ``hotspot`` (one endpoint or fingerprint dominating the last hour, from
ErrorLog over that bounded window via the (service, occurred_at) index) and ``model_drift``
(tracked accuracy well below the accuracy measured at training).

An insight's ``dedup_key`` names its type and subject; while an insight with that key is
``active`` or ``acknowledged`` a new finding refreshes it instead of adding a row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Avg, Count, Sum

from ml_prediction.engines.forecasting import format_number, format_time
from ml_prediction.engines.types import ForecastResult
from ml_prediction.models import AIInsight, MLModel, ModelPerformanceTracking

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
DRIFT_DROP = 0.15  # accuracy points below the training accuracy
DRIFT_MIN_PREDICTIONS = 20


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
        return f"{service}:{self.insight_type}:{self.subject}"[:200]


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
        drafts.append(
            InsightDraft(
                insight_type="hotspot",
                subject=f"{label}:{top[column]}"[:150],
                severity="critical" if share >= 0.8 and top["n"] >= 100 else "warning",
                title=f"{service}: {share:.0%} of the last hour's errors come from one {label}",
                description=f"{top['n']} of {total} errors in the last hour share the {label} {top[column]!s}.",
                supporting_data={
                    label: top[column],
                    "count": top["n"],
                    "total": total,
                    "share": round(share, 3),
                },
                recommendations=[f"Investigate {label} {top[column]!s} first."],
            )
        )
    return drafts


def _drift(service: str, as_of: datetime) -> list[InsightDraft]:
    drafts = []
    since = as_of.date() - timedelta(days=3)
    for model in MLModel.objects.filter(
        service=service, status=MLModel.Status.ACTIVE, accuracy__isnull=False
    ):
        tracked = ModelPerformanceTracking.objects.filter(
            model=model, tracking_date__gte=since
        ).aggregate(accuracy=Avg("accuracy_today"), made=Sum("predictions_made"))
        accuracy = tracked["accuracy"]
        made = int(tracked["made"] or 0)
        if accuracy is None or made < DRIFT_MIN_PREDICTIONS:
            continue
        drop = model.accuracy - accuracy
        if drop < DRIFT_DROP:
            continue
        drafts.append(
            InsightDraft(
                insight_type="model_drift",
                subject=f"{model.model_type}",
                severity="critical" if drop >= 2 * DRIFT_DROP else "warning",
                title=f"{service}: {model.model_type} accuracy fell to {accuracy:.0%} (trained at {model.accuracy:.0%})",
                description=(
                    f"Tracked accuracy over the last 3 days is {accuracy:.1%} on {made} predictions, "
                    f"{drop:.1%} below the {model.accuracy:.1%} measured at training (v{model.version})."
                ),
                supporting_data={
                    "model_id": str(model.model_id),
                    "training_accuracy": round(model.accuracy, 4),
                    "tracked_accuracy": round(accuracy, 4),
                    "predictions": int(made),
                },
                recommendations=[
                    "Retrain this model with the latest feedback (train_models --service)."
                ],
            )
        )
    return drafts


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
    for detect in (
        lambda: _rising_trend(service, seasonal_error_counts(service=service, end=as_of)),
        lambda: _recurring_pattern(service, hourly),
        lambda: _capacity(service, forecasts),
        lambda: _hotspots(service, as_of),
        lambda: _drift(service, as_of),
    ):
        try:
            drafts.extend(detect())
        except Exception:  # one broken detector must not hide the others
            logger.exception("insight detector failed for %s", service)
    return drafts


def insights_store(*, service: str, drafts: list[InsightDraft]) -> tuple[list[Any], list[Any]]:
    """Create new insights, refresh open twins; returns (created ids, updated ids)."""
    if not drafts:
        return [], []
    by_key = {d.dedup_key(service): d for d in drafts}
    created: list[Any] = []
    updated: list[Any] = []
    with transaction.atomic(using=ML_DB):
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
                row.supporting_data = draft.supporting_data
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
                    supporting_data=draft.supporting_data,
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
    for row in TimeSeriesForecast.objects.filter(
        service=service, is_at_risk=True, forecast_end__gte=end
    ).order_by("-forecast_start")[:50]:
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
