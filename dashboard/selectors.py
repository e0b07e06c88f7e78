"""Reads for the ops dashboard: chart series per service and the lists beside them.

Every figure is in *errors per minute*, whatever bucket size the rollups, the forecasts and the
anomaly windows were made at, so the observed line, the forecast band and the anomaly marks share
one axis. The lists mirror what the API's selectors return.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models import CharField, Count, Q, Sum
from django.db.models.functions import Cast, Substr, TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from error_logging.models import ErrorLog, ErrorRollup
from feeding_hearts.catalog import SERVICES
from ml_prediction.engines.root_cause import cause_as_of, cause_phrase
from ml_prediction.models import (
    AIInsight,
    AnalysisRun,
    AnomalyDetection,
    ErrorPrediction,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.services import selectors as api
from ml_prediction.services.feedback import CLOCK_SKEW, horizon_of, occurrence_rule

ERROR_METRIC = "error_count"
LEVEL_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class ChartPoint:
    at: datetime
    value: float


@dataclass(frozen=True)
class BandPoint:
    at: datetime
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class AnomalyMark:
    at: datetime
    value: float
    severity_level: str
    anomaly_type: str
    score: float


@dataclass(frozen=True)
class ServiceChart:
    """What one service's chart shows; ``has_data`` is False only when nothing is stored."""

    service: str
    start: datetime
    end: datetime
    observed: list[ChartPoint] = field(default_factory=list)
    forecast: list[BandPoint] = field(default_factory=list)
    forecast_algorithm: str = ""
    anomalies: list[AnomalyMark] = field(default_factory=list)
    errors_last_24h: int = 0
    # The newest analysed window (as_of) and whether that run failed: a chart that looks calm
    # because nothing has analysed it for hours must not look healthy.
    analysed_until: datetime | None = None
    last_run_failed: bool = False
    last_run_error: str = ""

    @property
    def has_data(self) -> bool:
        return bool(self.observed or self.forecast or self.anomalies)


def _minutes_between(first: datetime, second: datetime) -> float:
    return max((second - first).total_seconds() / 60.0, 1.0)


def _hour_expression() -> Any:
    """The start of the hour of a rollup bucket, grouped by the database.

    SQLite truncates dates through a Python function per row (slow on ~30k rows); its stored
    text "YYYY-MM-DD HH:MM:SS" is cut to the hour instead. PostgreSQL uses ``date_trunc``.
    """
    if connections[router.db_for_read(ErrorRollup)].vendor == "sqlite":
        return Substr(Cast("bucket", CharField()), 1, 13)
    return TruncHour("bucket")


def _as_hour(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return value


def _hourly_totals(
    *, start: datetime, end: datetime, day_start: datetime
) -> tuple[dict[str, dict[datetime, int]], dict[str, int]]:
    """Errors per service per hour, and per service since ``day_start``: two grouped queries
    over the per-minute rollups for every service at once."""
    window = ErrorRollup.objects.filter(bucket__gte=start, bucket__lt=end)
    hourly: dict[str, dict[datetime, int]] = defaultdict(dict)
    rows = (
        window.annotate(hour=_hour_expression())
        .values("service", "hour")
        .annotate(total=Sum("total_count"))
        .order_by()
    )
    for row in rows:
        hourly[row["service"]][_as_hour(row["hour"])] = row["total"] or 0
    last_day = {
        row["service"]: row["total"] or 0
        for row in window.filter(bucket__gte=day_start)
        .values("service")
        .annotate(total=Sum("total_count"))
        .order_by()
    }
    return hourly, last_day


def _observed_series(
    hours: dict[datetime, int], *, start: datetime, end: datetime
) -> list[ChartPoint]:
    """The hourly error rate (per minute) of one service; hours without rollups are zero."""
    if not hours:
        return []
    points = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        span = _minutes_between(max(hour, start), min(hour + timedelta(hours=1), end))
        points.append(ChartPoint(at=hour, value=hours.get(hour, 0) / span))
        hour += timedelta(hours=1)
    return points


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, timezone.UTC)
        return parsed
    return None


def _forecast_band(forecast: TimeSeriesForecast | None) -> list[BandPoint]:
    """The stored forecast values as a per-minute rate (the step is read from the timestamps)."""
    if forecast is None:
        return []
    raw = []
    for item in forecast.forecast_values or []:
        at = _as_datetime(item.get("timestamp") if isinstance(item, dict) else None)
        if at is None:
            continue
        value = float(item.get("value") or 0.0)
        raw.append(
            (
                at,
                value,
                float(item.get("lower", value) if item.get("lower") is not None else value),
                float(item.get("upper", value) if item.get("upper") is not None else value),
            )
        )
    raw.sort(key=lambda r: r[0])
    if not raw:
        return []
    if len(raw) > 1:
        step = _minutes_between(raw[0][0], raw[1][0])
    else:
        step = _minutes_between(forecast.forecast_start, forecast.forecast_end)
    return [
        BandPoint(at=at, value=max(v, 0.0) / step, lower=max(lo, 0.0) / step, upper=hi / step)
        for at, v, lo, hi in raw
    ]


def _anomaly_marks(*, start: datetime, end: datetime) -> dict[str, list[AnomalyMark]]:
    rows = AnomalyDetection.objects.filter(
        metric_name=ERROR_METRIC, is_anomaly=True, window_start__gte=start, window_start__lt=end
    ).order_by("window_start")[: 200 * len(SERVICES)]
    marks: dict[str, list[AnomalyMark]] = defaultdict(list)
    for row in rows:
        span = _minutes_between(row.window_start, row.window_end)
        marks[row.service].append(
            AnomalyMark(
                at=row.window_start,
                value=(row.observed_value or 0.0) / span,
                severity_level=row.severity_level,
                anomaly_type=row.anomaly_type,
                score=row.anomaly_score,
            )
        )
    return marks


def service_charts(*, days: int = 3, now: datetime | None = None) -> list[ServiceChart]:
    """One chart per service: the last ``days`` of error rate, the latest forecast, anomalies.

    The window ends at the newest stored rollup (not the wall clock) so replayed or seeded
    history still shows; the forecast continues from there. About twenty small queries for all
    services (two per service: its latest forecast and its latest analysis).
    """
    now = now or timezone.now()
    newest = (
        ErrorRollup.objects.filter(bucket__lte=now)
        .order_by("-bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    end = (newest + timedelta(minutes=1)) if newest else now
    start = end - timedelta(days=days)
    hourly, last_day = _hourly_totals(start=start, end=end, day_start=end - timedelta(hours=24))
    marks = _anomaly_marks(start=start, end=end)
    charts = []
    for service in SERVICES:
        forecast = (
            TimeSeriesForecast.objects.filter(service=service, metric_name=ERROR_METRIC)
            .order_by("-created_at")
            .first()
        )
        last_run = (
            AnalysisRun.objects.filter(service=service)
            .order_by("-as_of", "-completed_at")
            .values("as_of", "status", "error")
            .first()
        )
        hours = hourly.get(service, {})
        charts.append(
            ServiceChart(
                service=service,
                start=start,
                end=end,
                observed=_observed_series(hours, start=start, end=end),
                forecast=_forecast_band(forecast),
                forecast_algorithm=forecast.model_algorithm if forecast else "",
                anomalies=marks.get(service, []),
                errors_last_24h=last_day.get(service, 0),
                analysed_until=last_run["as_of"] if last_run else None,
                last_run_failed=bool(last_run) and last_run["status"] == AnalysisRun.Status.FAILED,
                last_run_error=last_run["error"] if last_run else "",
            )
        )
    return charts


def high_risk_predictions(*, limit: int = 20) -> list[ErrorPrediction]:
    """The API's high-risk predictions that are still open, most likely first.

    "Open" means nobody has said yet whether it happened; a prediction with feedback or marked
    as occurred leaves the table (its verdict stays visible through the API).
    """
    return list(
        api.prediction_high_risk()
        .filter(actual_error_occurred__isnull=True)
        .annotate(feedback_count=Count("feedback"))
        .filter(feedback_count=0)
        .prefetch_related("actions")
        .order_by("-probability", "-created_at")[:limit]
    )


# ``feedback.episode_rows`` looks one day either side of the bucket it is given.
EPISODE_REACH = timedelta(hours=24)


@dataclass(frozen=True)
class EpisodeCause:
    """One likely cause of an episode and what to do, as the row shows them, and why: the
    decision path's steps (error type, service, system state, similar past issues)."""

    text: str
    action: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnomalyEpisode:
    """The unacknowledged buckets of one anomalous episode of a service's metric: one table row.

    People acknowledge an incident, not a 5-minute bucket (``anomaly_acknowledge`` already
    acknowledges the whole episode), and thirteen rows with one cause hid the other incidents.
    ``anomaly_id`` is the bucket the Acknowledge button sends; ``anomaly_ids`` (oldest first)
    are every bucket's id, so an alert's link to any of them (``#anomaly-<id>``) finds the row.
    """

    service: str
    metric_name: str
    anomaly_id: Any
    anomaly_ids: list[Any]
    start: datetime
    end: datetime
    severity_level: str
    peak_score: float
    peak_observed: float | None
    peak_expected: float | None
    bucket_minutes: int
    anomaly_types: list[str]
    causes: list[EpisodeCause]
    learning: bool
    acknowledged_by: str = ""  # for an acknowledged episode: who, and when
    acknowledged_at: datetime | None = None

    @property
    def bucket_count(self) -> int:
        return len(self.anomaly_ids)

    @property
    def other_ids(self) -> list[Any]:
        return [i for i in self.anomaly_ids if i != self.anomaly_id]


def _joined(
    timeline: list[tuple[datetime, bool]],
    first: int | None,
    last: int | None,
    *,
    bucket: timedelta,
    need: int,
) -> bool:
    """Whether ``episode_rows`` walks from scored bucket ``first`` to ``last``: no unscored gap
    and no run of ``need`` normal buckets between them."""
    if first is None or last is None:
        return False
    normal = 0
    for i in range(first + 1, last + 1):
        start, flagged = timeline[i]
        if start - timeline[i - 1][0] > bucket:
            return False
        normal = 0 if flagged else normal + 1
        if normal >= need:
            return False
    return True


def _split_into_episodes(rows: list[AnomalyDetection]) -> list[list[AnomalyDetection]]:
    """Unacknowledged anomalies cut into episodes by the rule of ``feedback.episode_rows`` (same
    service and metric, flagged buckets joined across fewer than ANOMALY_RECOVERY_BUCKETS normal
    buckets and no unscored gap), from one query for all of them rather than one per row.

    A row never reaches more than a day past its first bucket: the Acknowledge button sends
    that bucket and ``episode_rows`` looks a day either side of it, so one click clears the row.
    """
    config = settings.ML_PREDICTION_CONFIG
    bucket = timedelta(minutes=config["BUCKET_MINUTES"])
    need = config["ANOMALY_RECOVERY_BUCKETS"]
    by_series: dict[tuple[str, str], list[AnomalyDetection]] = defaultdict(list)
    for row in sorted(rows, key=lambda a: a.window_start):
        by_series[(row.service, row.metric_name)].append(row)
    if not by_series:
        return []
    scope = Q()
    for (service, metric), members in by_series.items():
        scope |= Q(
            service=service,
            metric_name=metric,
            window_start__gte=members[0].window_start,
            window_start__lte=members[-1].window_start,
        )
    timelines: dict[tuple[str, str], list[tuple[datetime, bool]]] = defaultdict(list)
    scored = (
        AnomalyDetection.objects.filter(scope)
        .order_by("service", "metric_name", "window_start")
        .values_list("service", "metric_name", "window_start", "is_anomaly")
    )
    for service, metric, start, flagged in scored:
        timelines[(service, metric)].append((start, flagged))
    episodes: list[list[AnomalyDetection]] = []
    for key, members in by_series.items():
        timeline = timelines[key]
        position = {start: i for i, (start, _) in enumerate(timeline)}
        current = [members[0]]
        for row in members[1:]:
            if row.window_start - current[0].window_start <= EPISODE_REACH and _joined(
                timeline,
                position.get(current[-1].window_start),
                position.get(row.window_start),
                bucket=bucket,
                need=need,
            ):
                current.append(row)
            else:
                episodes.append(current)
                current = [row]
        episodes.append(current)
    return episodes


def _episode(members: list[AnomalyDetection]) -> AnomalyEpisode:
    """One row's figures from its buckets (oldest first): worst severity, peak, causes once."""
    first, last = members[0], members[-1]
    peak = max(members, key=lambda a: (a.observed_value or 0.0, a.window_start))
    # each distinct cause once, said as of the newest bucket that carries it
    cause_at: dict[tuple[str, str], tuple[datetime, list[str]]] = {}
    for a in members:
        if a.root_cause_hypothesis or a.recommended_action:
            cause_at[(a.root_cause_hypothesis, a.recommended_action)] = (
                api.cause_computed_at(a),
                api.cause_path_lines(a),
            )
    types: list[str] = []
    for a in members:
        name = a.get_anomaly_type_display()
        if name and name not in types:
            types.append(name)
    return AnomalyEpisode(
        service=first.service,
        metric_name=first.metric_name,
        anomaly_id=first.anomaly_id,
        anomaly_ids=[a.anomaly_id for a in members],
        start=first.window_start,
        end=last.window_end,
        severity_level=min(
            (a.severity_level for a in members), key=lambda s: LEVEL_ORDER.get(s, 9)
        ),
        peak_score=max(a.anomaly_score for a in members),
        peak_observed=peak.observed_value,
        peak_expected=peak.expected_value,
        bucket_minutes=round((first.window_end - first.window_start).total_seconds() / 60),
        anomaly_types=types,
        causes=[
            EpisodeCause(
                text=cause_as_of(text, at=at),
                action=action,
                path=tuple(path),
            )
            for (text, action), (at, path) in cause_at.items()
        ],
        learning=any(
            a.detection_state == AnomalyDetection.DetectionState.LEARNING for a in members
        ),
    )


def open_anomaly_episodes(*, limit: int = 20) -> list[AnomalyEpisode]:
    """The API's unacknowledged anomalies (its newest 200) as episodes, critical first, the
    most recent first within a level."""
    rows = list(api.anomaly_unacknowledged()[:200])
    episodes = [_episode(members) for members in _split_into_episodes(rows)]
    episodes.sort(key=lambda e: (LEVEL_ORDER.get(e.severity_level, 9), -e.end.timestamp()))
    return episodes[:limit]


def acknowledged_anomaly_episodes(
    *, now: datetime, hours: int = 24, limit: int = 20
) -> list[AnomalyEpisode]:
    """The episodes acknowledged whose last bucket ended within ``hours``, newest first, with
    who acknowledged them.

    Found on call: an alert's link (``#anomaly-<id>``) to an incident someone had acknowledged
    landed at the top of the page, its row gone; the on-call joining late could not see that
    the incident was being worked on, nor by whom.
    """
    rows = list(
        AnomalyDetection.objects.filter(
            is_anomaly=True, acknowledged=True, window_end__gte=now - timedelta(hours=hours)
        ).order_by("-window_start")[:200]
    )
    episodes = []
    for members in _split_into_episodes(rows):
        first_ack = min(
            (a for a in members if a.acknowledged_at),
            key=lambda a: a.acknowledged_at,
            default=members[0],
        )
        episodes.append(
            replace(
                _episode(members),
                acknowledged_by=first_ack.acknowledged_by,
                acknowledged_at=first_ack.acknowledged_at,
            )
        )
    episodes.sort(key=lambda e: -e.end.timestamp())
    return episodes[:limit]


@dataclass(frozen=True)
class AnomalyAttention:
    """The unacknowledged critical buckets of the summary's window, and how many of them paged.

    The health score loses points only for paged ones (a backfill's or an old episode's
    critical buckets are history); the cards say both, so a 100 beside "15 critical" reads as
    what it is rather than as a contradiction.
    """

    critical_unacknowledged: int
    paged_unacknowledged: int


def anomaly_attention(*, now: datetime) -> AnomalyAttention:
    """Counted as ``api.dashboard_summary`` counts its anomalies (same window, same ``now``)."""
    counts = (
        AnomalyDetection.objects.filter(
            is_anomaly=True,
            acknowledged=False,
            severity_level="critical",
            window_start__gte=now - timedelta(days=api.DASHBOARD_WINDOW_DAYS),
        )
        .order_by()
        .aggregate(
            critical=Count("anomaly_id"),
            paged=Count("anomaly_id", filter=Q(alert_triggered=True)),
        )
    )
    return AnomalyAttention(
        critical_unacknowledged=counts["critical"], paged_unacknowledged=counts["paged"]
    )


def pending_actions(*, limit: int = 20) -> list[PreventiveAction]:
    """The API's pending actions, highest priority first, each with ``cause_text``: its root
    causes in words (a row may hold several, "traffic_surge, db_pool_exhaustion"; the page keeps
    the keys in the cell's title for whoever filters the API on them)."""
    rows = list(api.action_pending()[:200])
    rows.sort(key=lambda a: (LEVEL_ORDER.get(a.priority, 9), -a.created_at.timestamp()))
    rows = rows[:limit]
    for action in rows:
        action.cause_text = "; ".join(
            cause_phrase(key.strip()) for key in action.root_cause.split(",") if key.strip()
        )
    return rows


def active_insights(*, limit: int = 20) -> list[AIInsight]:
    order = {"critical": 0, "warning": 1, "info": 2}
    rows = list(api.insight_active()[:200])
    rows.sort(key=lambda i: (order.get(i.severity, 9), -i.created_at.timestamp()))
    return rows[:limit]


def dashboard_summary() -> dict[str, Any]:
    """The API's summary, so the page and /api/ml/dashboard/summary/ always agree."""
    return api.dashboard_summary()


def matching_error(*, prediction: ErrorPrediction) -> tuple[Any, datetime] | None:
    """The first stored error that fulfils a prediction (same service, matching its target by
    mark_occurred's own ``occurrence_rule``, inside the prediction's horizon with its clock
    skew), so "mark occurred" links the real error when there is one and never one
    mark_occurred would refuse."""
    start, end = horizon_of(prediction)
    found = (
        ErrorLog.objects.filter(
            occurrence_rule(prediction).errors,
            service=prediction.service,
            occurred_at__gte=max(start, prediction.prediction_bucket) - CLOCK_SKEW,
            occurred_at__lte=end + CLOCK_SKEW,
        )
        .order_by("occurred_at")
        .values_list("error_id", "occurred_at")
        .first()
    )
    return (found[0], found[1]) if found else None
