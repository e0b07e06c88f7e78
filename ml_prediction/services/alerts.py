"""Alert decisions: which predictions and anomalies page someone, and the hand-off to delivery.

The orchestrator calls ``alerts_dispatch`` after its write transaction commits. Every decision is
recorded as an ``AlertNotification`` row (one per channel when sent, one ``suppressed`` row with a
reason otherwise); delivery happens in Celery tasks (``ml_prediction.alert_tasks``) that retry
with backoff and record failures on the row. See docs/ALERTS.md for the rules.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone

from ml_prediction.engines.catalog import INCIDENT
from ml_prediction.engines.root_cause import cause_as_of
from ml_prediction.models import (
    AlertNotification,
    AnalysisRun,
    AnomalyDetection,
    ErrorPrediction,
    PredictionFeedback,
    PreventiveAction,
)
from ml_prediction.services.audit import audit_record
from ml_prediction.services.cache import read_cache_bump
from ml_prediction.services.errors import NotFound
from ml_prediction.services.selectors import (
    PENDING_ACTION_STATUSES,
    cause_computed_at,
    cause_path_lines,
    head_base_rate,
)

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
LEVEL_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
TOP_FACTORS = 3

# Reason codes of suppressed decisions (the part of ``reason`` before the colon).
REASON_LEARNING = "learning"
REASON_COOLDOWN = "cooldown"
REASON_FALSE_POSITIVE = "false_positive_feedback"
REASON_TOO_FEW_BUCKETS = "below_min_buckets"
REASON_ANOMALY_SUPPRESSED = "anomaly_suppressed"
REASON_NO_CHANNELS = "no_channels"
REASON_ONGOING_INCIDENT = "ongoing_incident"
REASON_UPSTREAM_INCIDENT = "upstream_incident"
REASON_BELOW_NORMAL = "below_normal"

Status = AlertNotification.Status
Kind = AlertNotification.Kind


class ChannelError(Exception):
    """A channel (SMTP server, Slack or webhook receiver) refused or could not be reached."""


@dataclass
class _Group:
    """One would-be alert: the predictions of one error type, or the anomalies of one metric."""

    kind: str
    dedup_key: str
    error_type: str
    severity: str
    payload: dict[str, Any]
    created_from: datetime
    prediction_ids: list[str] = field(default_factory=list)
    anomaly_ids: list[str] = field(default_factory=list)
    window_end: datetime | None = None  # anomalies: the end of the newest window it is about
    window_start: datetime | None = None  # anomalies: the start of the oldest window
    # anomalies: the back end whose incident the episode follows (root cause upstream_failure)
    upstream: str = ""
    reason: str = ""  # empty: fires

    def notification(self, **extra: Any) -> AlertNotification:
        return AlertNotification(
            kind=self.kind,
            service=self.payload["service"],
            error_type=self.error_type,
            dedup_key=self.dedup_key,
            severity=self.severity,
            prediction_ids=self.prediction_ids,
            anomaly_ids=self.anomaly_ids,
            **extra,
        )


def _config() -> dict[str, Any]:
    return settings.ML_PREDICTION_CONFIG


# --- public entry points ------------------------------------------------------------------------


def alerts_dispatch(
    *, service: str, prediction_ids: list, anomaly_ids: list, learning: bool
) -> None:
    """Decide and queue the alerts for freshly stored results; never raises (logs instead).

    Called by the orchestrator after its transaction commits, so a broken SMTP server, Slack or
    database hiccup here can never undo or fail an analysis.
    """
    try:
        alerts_evaluate(
            service=service,
            prediction_ids=prediction_ids,
            anomaly_ids=anomaly_ids,
            learning=learning,
        )
    except Exception:
        logger.exception("alert dispatch failed for service %s", service)
    try:
        alerts_resolve(service=service)
    except Exception:
        logger.exception("all-clear check failed for service %s", service)


def alerts_resolve(*, service: str) -> list[AlertNotification]:
    """Send the all-clear of each paged anomaly incident of the service that has recovered.

    The person paged needs to know when it is over (and the channel, that nobody needs to
    join): once the metric's newest ANOMALY_RECOVERY_BUCKETS scored buckets after the paged
    windows are all normal, one "RESOLVED" message per incident says when it started and
    ended, its peak, and who acknowledged it. Idempotent: a metric's latest page is resolved
    once. Pages older than a day are left alone.
    """
    config = _config()
    now = timezone.now()
    need = config["ANOMALY_RECOVERY_BUCKETS"]
    with transaction.atomic(using=ML_DB):
        _lock_service(service)
        pages = AlertNotification.objects.filter(
            service=service,
            kind=Kind.ANOMALY,
            status__in=[Status.PENDING, Status.SENT],
            created_at__gte=now - timedelta(hours=24),
        ).order_by("created_at")
        latest: dict[str, tuple[datetime, list]] = {}
        for dedup_key, created_at, anomaly_ids in pages.values_list(
            "dedup_key", "created_at", "anomaly_ids"
        ):
            latest[dedup_key] = (created_at, anomaly_ids or [])
        groups = []
        for dedup_key, (paged_at, anomaly_ids) in latest.items():
            key = f"resolved:{dedup_key}"[:300]
            if AlertNotification.objects.filter(
                service=service, dedup_key=key, created_at__gte=paged_at
            ).exists():
                continue
            group = _resolved_group(service, key, anomaly_ids, need=need, now=now)
            if group is not None:
                groups.append(group)
        if not groups:
            return []
        created = _record(service, groups, now=now, triggered_by="system", config=config)
    read_cache_bump()
    return _refreshed(created)


def _resolved_group(
    service: str, key: str, anomaly_ids: list, *, need: int, now: datetime
) -> _Group | None:
    """The all-clear of one paged incident, or None while it goes on."""
    paged = list(AnomalyDetection.objects.filter(service=service, anomaly_id__in=anomaly_ids))
    if not paged:
        return None
    metric = paged[0].metric_name
    since = max(a.window_end for a in paged)
    after = list(
        AnomalyDetection.objects.filter(
            service=service, metric_name=metric, window_start__gte=since
        ).order_by("-window_start")
    )
    newest = after[:need]
    if len(newest) < need or any(a.is_anomaly for a in newest):
        return None
    from ml_prediction.services.feedback import episode_rows

    first = min(paged, key=lambda a: a.window_start)
    episode = [
        *paged,
        *AnomalyDetection.objects.filter(pk__in=episode_rows(first)).exclude(
            pk__in=[a.pk for a in paged]
        ),
    ]
    started = min(a.window_start for a in episode)
    ended = max(a.window_end for a in episode)
    peak = max((a.observed_value for a in episode if a.observed_value is not None), default=None)
    acknowledged_by = sorted({a.acknowledged_by for a in episode if a.acknowledged_by})
    anchor = f"anomaly-{paged[0].anomaly_id}"
    payload = {
        "kind": Kind.RESOLVED,
        "subject": f"RESOLVED: {service} {metric} back to normal",
        "service": service,
        "error_type": metric,
        "metric_name": metric,
        "severity": "low",
        "window_start": started.isoformat(),
        "window_end": ended.isoformat(),
        "duration_minutes": round((ended - started).total_seconds() / 60),
        "peak_value": peak,
        "value_unit": value_unit(metric),
        "normal_buckets": need,
        "acknowledged_by": acknowledged_by,
        "anomaly_id": str(paged[0].anomaly_id),
        **_links(f"/api/ml/anomalies/{paged[0].anomaly_id}/", anchor),
    }
    return _Group(
        kind=Kind.RESOLVED,
        dedup_key=key,
        error_type=metric,
        severity="low",
        payload=payload,
        created_from=now,
    )


def alerts_evaluate(
    *,
    service: str,
    prediction_ids: Iterable[Any],
    anomaly_ids: Iterable[Any],
    learning: bool,
    triggered_by: str = "system",
) -> list[AlertNotification]:
    """Apply the noise rules to the given rows, record every decision, queue what fires.

    Idempotent: rows already decided (alerted or suppressed) are skipped, so a second call with the
    same ids records and sends nothing. Decisions for one service are serialised by a lock so two
    concurrent analyses cannot both pass the cooldown. Returns the rows it created.
    """
    prediction_ids = [str(i) for i in prediction_ids]
    anomaly_ids = [str(i) for i in anomaly_ids]
    if not prediction_ids and not anomaly_ids:
        return []
    now = timezone.now()
    config = _config()
    with transaction.atomic(using=ML_DB):
        _lock_service(service)
        predictions = _prediction_candidates(service, prediction_ids, config)
        anomalies = _anomaly_candidates(service, anomaly_ids, config)
        predictions, anomalies = _drop_decided(service, predictions, anomalies)
        if not predictions and not anomalies:
            return []
        groups = _prediction_groups(service, predictions) + _anomaly_groups(
            service, anomalies, config
        )
        fired = _recently_fired(service, now, config)
        fired.update(_alerted_anomaly_windows(service, anomalies, config))
        upstream_paged = _upstream_paged({g.upstream for g in groups if g.upstream}, now, config)
        feedback = _false_positive_signatures(service, now, config)
        ongoing = (
            _ongoing_paged_episode(service, now, config)
            if any(g.kind == Kind.PREDICTION for g in groups)
            else None
        )
        for group in groups:
            group.reason = group.reason or _suppression_reason(
                group,
                learning=learning,
                fired=fired,
                feedback=feedback,
                ongoing=ongoing,
                config=config,
                upstream_paged=upstream_paged,
            )
        created = _record(service, groups, now=now, triggered_by=triggered_by, config=config)
    read_cache_bump()
    return _refreshed(created)


def alert_prediction_now(*, prediction_id: Any, triggered_by: str) -> list[AlertNotification]:
    """Send an alert for one prediction now: a person asked, so no threshold, cooldown or state.

    Same payload, channels and delivery tasks as automatic alerts; audited.
    """
    try:
        prediction = ErrorPrediction.objects.get(prediction_id=prediction_id)
    except (ErrorPrediction.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound(f"prediction {prediction_id} does not exist") from exc
    now = timezone.now()
    config = _config()
    with transaction.atomic(using=ML_DB):
        _lock_service(prediction.service)
        group = _prediction_groups(prediction.service, [prediction])[0]
        created = _record(
            prediction.service, [group], now=now, triggered_by=triggered_by, config=config
        )
        audit_record(
            actor=triggered_by,
            action="prediction.trigger_alert",
            object_type="prediction",
            object_id=prediction.prediction_id,
            service=prediction.service,
            outcome="ok" if any(n.status == Status.PENDING for n in created) else "no_channels",
            details={
                "alert_ids": [str(n.alert_id) for n in created],
                "channels": [n.channel for n in created if n.channel],
            },
        )
    read_cache_bump()
    return _refreshed(created)


def alert_deliver(*, alert_id: Any) -> AlertNotification:
    """Deliver one pending notification on its channel; raise ``ChannelError`` when it fails.

    Each attempt is counted and its error kept on the row; the Celery task decides on retries and
    calls ``alert_mark_failed`` when they are exhausted. Sent or failed rows are left alone.
    """
    from ml_prediction import notifications

    notification = AlertNotification.objects.filter(alert_id=alert_id).first()
    if notification is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if notification.status != Status.PENDING:
        return notification
    try:
        if notification.channel == "email":
            notifications.send_alert_email(notification.payload)
        elif notification.channel == "slack":
            notifications.send_slack_alert(notification.payload, service=notification.service)
        else:
            raise ChannelError(f"unknown channel {notification.channel!r}")
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        AlertNotification.objects.filter(alert_id=alert_id).update(
            attempts=notification.attempts + 1, last_error=message
        )
        raise ChannelError(message) from exc
    sent_at = timezone.now()
    with transaction.atomic(using=ML_DB):  # one commit for the row and the results it covers
        AlertNotification.objects.filter(alert_id=alert_id, status=Status.PENDING).update(
            status=Status.SENT, attempts=notification.attempts + 1, sent_at=sent_at
        )
        if notification.prediction_ids:
            ErrorPrediction.objects.filter(
                prediction_id__in=notification.prediction_ids, alert_sent_at__isnull=True
            ).update(alert_triggered=True, alert_sent_at=sent_at)
        if notification.anomaly_ids:
            AnomalyDetection.objects.filter(
                anomaly_id__in=notification.anomaly_ids, alert_sent_at__isnull=True
            ).update(alert_triggered=True, alert_sent_at=sent_at)
    read_cache_bump()
    notification.status, notification.sent_at = Status.SENT, sent_at
    notification.attempts += 1
    return notification


def alert_mark_failed(*, alert_id: Any, error: str) -> None:
    """Record that a notification's retries are exhausted."""
    AlertNotification.objects.filter(alert_id=alert_id, status=Status.PENDING).update(
        status=Status.FAILED, last_error=error[:2000]
    )
    logger.error("alert %s failed for good: %s", alert_id, error)


def alerts_enqueue(alert_ids: Iterable[Any]) -> None:
    """Hand notifications to the delivery task; a broker outage leaves them pending, logged."""
    from ml_prediction.alert_tasks import deliver_alert

    for alert_id in alert_ids:
        try:
            deliver_alert.apply_async(
                args=[str(alert_id)],
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
            )
        except Exception as exc:
            logger.exception("could not queue alert %s", alert_id)
            AlertNotification.objects.filter(alert_id=alert_id).update(
                last_error=f"not queued: {type(exc).__name__}: {exc}"[:2000]
            )


def alerts_requeue_stalled(*, older_than_minutes: int = 10, give_up_hours: int = 6) -> int:
    """Queue again notifications that never reached a worker (broker down, queue not consumed).

    A pending row with no attempt after ``older_than_minutes`` was lost on the way; one older
    than ``give_up_hours`` is stale news and is marked failed instead of paging late.
    Returns how many were queued again.
    """
    now = timezone.now()
    stalled = AlertNotification.objects.filter(
        status=Status.PENDING,
        attempts=0,
        created_at__lt=now - timedelta(minutes=older_than_minutes),
    )
    stalled.filter(created_at__lt=now - timedelta(hours=give_up_hours)).update(
        status=Status.FAILED, last_error=f"never delivered within {give_up_hours} h; not sent late"
    )
    ids = list(stalled.values_list("alert_id", flat=True)[:500])
    alerts_enqueue(ids)
    return len(ids)


# --- payloads ------------------------------------------------------------------------------------


def _links(path: str, anchor: str = "") -> dict[str, str]:
    """The API row (for API clients: JWT) and the dashboard at that row (for a person: the
    dashboard's sign-in; a browser cannot open the JWT-only API link)."""
    base = str(_config()["DASHBOARD_BASE_URL"]).rstrip("/")
    fragment = f"#{anchor}" if anchor else ""
    return {"api_url": f"{base}{path}", "dashboard_url": f"{base}/dashboard/{fragment}"}


def factor_lines(factors: Any, limit: int = TOP_FACTORS) -> list[dict[str, Any]]:
    """The top contributing factors in one shape, whatever shape the predictor stored."""
    rows: list[dict[str, Any]] = []
    if isinstance(factors, dict):
        factors = [{"feature": k, "contribution": v} for k, v in factors.items()]
    for item in factors or []:
        if isinstance(item, dict):
            name = str(item.get("feature") or item.get("name") or item.get("factor") or "")
            rows.append(
                {
                    "feature": name,
                    "value": item.get("value"),
                    "contribution": item.get("contribution", item.get("importance")),
                    "description": str(item.get("description") or ""),
                }
            )
        elif item:
            rows.append(
                {"feature": str(item), "value": None, "contribution": None, "description": ""}
            )

    def weight(row: dict[str, Any]) -> tuple[bool, float]:
        # what raises the risk first: a risk alert led by "… lowers the risk" reads backwards
        try:
            contribution = float(row["contribution"])
        except (TypeError, ValueError):
            return (True, 0.0)
        return (contribution < 0, -abs(contribution))

    if any(row["contribution"] is not None for row in rows):
        rows.sort(key=weight)
    return rows[:limit]


# What the anomaly detector's ``contributing_features`` are (engines/anomaly.py ``_assemble``):
# measurements of the bucket, each with its unit, not contributions to the anomaly score.
ANOMALY_MEASUREMENTS: dict[str, tuple[str, str]] = {
    "seasonal_z": (
        "errors against the usual level for this hour of the week, in standard deviations",
        "",
    ),
    "robust_z": (
        "errors against the median of the hour before, in robust standard deviations",
        "",
    ),
    "severe_share": ("share of the bucket's errors at error or critical severity", "%"),
    "rt_p95": ("p95 response time of the bucket's failed requests", " ms"),
}


def anomaly_factor_lines(features: Any, limit: int = TOP_FACTORS) -> list[dict[str, Any]]:
    """An anomaly's context values as ``measurement`` rows (name, value, unit, what it is).

    Why: rendered as factors they read "rt_p95 (contribution +30,976)", a latency in ms labelled
    as a contribution. Non-numeric entries (the episode's root-cause key) are not measurements.
    """
    rows: list[dict[str, Any]] = []
    for name, value in (features or {}).items() if isinstance(features, dict) else []:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        meaning, unit = ANOMALY_MEASUREMENTS.get(str(name), ("", ""))
        rows.append(
            {
                "feature": str(name),
                "value": float(value),
                "contribution": None,
                "description": "",
                "kind": "measurement",
                "meaning": meaning,
                "unit": unit,
            }
        )
    return rows[:limit]


def _factor_signature(factors: Any) -> tuple[str, ...]:
    return tuple(sorted(row["feature"] for row in factor_lines(factors)))


def _action_lines(recommended: Any, actions: list[PreventiveAction]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for action in actions:
        lines.append(
            {
                "title": action.title,
                "action_type": action.action_type,
                "priority": action.priority,
                "can_be_automated": action.can_be_automated,
                "action_id": str(action.action_id),
            }
        )
    if not lines:
        for item in recommended or []:
            if isinstance(item, dict):
                lines.append(
                    {
                        "title": str(item.get("title") or item.get("action_type") or ""),
                        "action_type": str(item.get("action_type") or ""),
                        "priority": str(item.get("priority") or ""),
                        "can_be_automated": bool(item.get("can_be_automated", False)),
                    }
                )
            elif item:
                lines.append({"title": str(item), "action_type": "", "priority": ""})
    return lines[:5]


def prediction_payload(
    representative: ErrorPrediction,
    group: list[ErrorPrediction],
    actions: list[PreventiveAction],
    likely: Iterable[ErrorPrediction] = (),
) -> dict[str, Any]:
    """The facts of a prediction alert, stored on the notification and rendered per channel.

    `likely`: for an incident alert, the type predictions of the same analysis; the payload
    lists the most probable types (best per type) so the page says what kind to expect.
    """
    from ml_prediction.notifications import format_minutes, risk_name
    from ml_prediction.services.feedback import horizon_of

    p = representative
    # each likely kind once, named as a page names it: the critical head is "critical errors
    # (most often <type>)", not a forecast of its one type (found on call)
    best: dict[str, ErrorPrediction] = {}
    for q in likely:
        name = risk_name(q.predicted_category, q.predicted_error_type)
        if name not in best or q.probability > best[name].probability:
            best[name] = q
    likely_types = [
        {
            "error_type": name,
            "category": q.predicted_category,
            "probability": round(float(q.probability), 4),
            "minutes": q.time_horizon_minutes,
        }
        for name, q in sorted(best.items(), key=lambda kv: (-kv[1].probability, kv[0]))[:3]
    ]

    # The guide's "HIGH RISK: <type>", then what tells two pages apart in an inbox: the
    # service, how likely, how soon, and for an incident the type it is likely to be.
    subject = (
        f"HIGH RISK: {risk_name(p.predicted_category, p.predicted_error_type)} on {p.service}: "
        f"{float(p.probability):.0%} within {format_minutes(p.time_horizon_minutes)}"
    )
    likely_type = next((t for t in likely_types if t["category"] != "critical"), None)
    if likely_type is not None:
        subject += f" (likely {likely_type['error_type']})"
    return {
        "kind": Kind.PREDICTION,
        "subject": subject,
        "service": p.service,
        "error_type": p.predicted_error_type,
        "risk": risk_name(p.predicted_category, p.predicted_error_type),
        "category": p.predicted_category,
        "severity": p.predicted_severity,
        "probability": round(float(p.probability), 4),
        "confidence_level": p.confidence_level,
        # what the head says with no signal: "77%" reads differently beside a usual 42%
        "base_rate": head_base_rate(
            p.model.metrics if p.model is not None else None,
            target=p.predicted_category,
            horizon_minutes=p.time_horizon_minutes,
        ),
        "time_horizon_minutes": p.time_horizon_minutes,
        "predicted_timestamp": p.predicted_timestamp.isoformat(),
        "affected_users_count": p.affected_users_count,
        "factors": factor_lines(p.contributing_factors),
        # the cause was computed when the prediction was made: say which hour it describes
        "root_cause_hypothesis": cause_as_of(p.root_cause_hypothesis, at=horizon_of(p)[0]),
        "recommended_actions": _action_lines(p.recommended_actions, actions),
        "horizons": _horizons(group),
        "likely_types": likely_types,
        "prediction_id": str(p.prediction_id),
        **_links(f"/api/ml/predictions/{p.prediction_id}/", f"prediction-{p.prediction_id}"),
    }


def _horizons(group: list[ErrorPrediction]) -> list[dict[str, Any]]:
    """The highest probability per horizon, soonest first (one line per horizon, not per row)."""
    best: dict[int, float] = {}
    for q in group:
        best[q.time_horizon_minutes] = max(best.get(q.time_horizon_minutes, 0.0), q.probability)
    return [{"minutes": m, "probability": round(float(p), 4)} for m, p in sorted(best.items())]


def value_unit(metric_name: str) -> str:
    """What an anomaly's observed, expected and peak values count: "300" alone left on-call
    guessing whether it was errors, per minute or per bucket, or milliseconds."""
    if metric_name == "error_count":
        return f"errors per {_config()['BUCKET_MINUTES']} min"
    return ""


def anomaly_payload(
    representative: AnomalyDetection,
    group: list[AnomalyDetection],
    buckets_in_window: int,
    actions: list[PreventiveAction] | None = None,
    *,
    incident_start: datetime | None = None,
    incident_peak: float | None = None,
) -> dict[str, Any]:
    a = representative
    started = incident_start or min(m.window_start for m in group)
    if incident_peak is None:
        incident_peak = max(
            (m.observed_value for m in group if m.observed_value is not None), default=None
        )
    # what happened, where the metric's name would say nothing: no errors is the news
    what = (
        f"{a.service} sent no errors since {started:%H:%M} UTC"
        if _went_silent(a)
        else f"{a.service} {a.metric_name}"
    )
    return {
        "kind": Kind.ANOMALY,
        "subject": f"{a.severity_level.upper()} ANOMALY: {what}",
        "service": a.service,
        "error_type": a.metric_name,
        "metric_name": a.metric_name,
        "severity": a.severity_level,
        "anomaly_type": a.anomaly_type,
        "anomaly_score": round(float(a.anomaly_score), 4),
        "observed_value": a.observed_value,
        "expected_value": a.expected_value,
        "value_unit": value_unit(a.metric_name),
        "incident_start": started.isoformat(),
        # the worst bucket's value is not the incident's peak (acceptance pass: "15 / 1.5" on
        # an incident whose first bucket had 200)
        "incident_peak": incident_peak,
        "window_start": a.window_start.isoformat(),
        "window_end": a.window_end.isoformat(),
        "buckets_in_window": buckets_in_window,
        "window_minutes": _config()["ANOMALY_ALERT_WINDOW_MINUTES"],
        "factors": anomaly_factor_lines(a.contributing_features),
        "root_cause_hypothesis": cause_as_of(a.root_cause_hypothesis, at=cause_computed_at(a)),
        "root_cause_path": cause_path_lines(a),
        "recommended_actions": _action_lines(
            [{"title": a.recommended_action}] if a.recommended_action else [], actions or []
        ),
        "anomaly_id": str(a.anomaly_id),
        "anomaly_count": len(group),
        **_links(f"/api/ml/anomalies/{a.anomaly_id}/", f"anomaly-{a.anomaly_id}"),
    }


def digest_payload(service: str, groups: list[_Group]) -> dict[str, Any]:
    items = [group.payload for group in groups]
    return {
        "kind": Kind.DIGEST,
        "subject": f"ALERT DIGEST: {len(items)} alerts for {service}",
        "service": service,
        "error_type": "",
        "severity": _max_severity(g.severity for g in groups),
        "items": items,
        "dedup_keys": [g.dedup_key for g in groups],
        "severities": {g.dedup_key: g.severity for g in groups},
        **_links(f"/api/ml/predictions/?service={service}"),
    }


# --- decision steps ------------------------------------------------------------------------------


def _lock_service(service: str) -> None:
    """Serialise alert decisions per service (PostgreSQL advisory lock; SQLite serialises writes)."""
    connection = connections[ML_DB]
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"ml-alerts:{service}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _prediction_candidates(
    service: str, ids: list[str], config: dict[str, Any]
) -> list[ErrorPrediction]:
    if not ids:
        return []
    return list(
        ErrorPrediction.objects.filter(
            service=service,
            prediction_id__in=ids,
            probability__gte=config["ALERT_PROBABILITY"],
            alert_triggered=False,
        )
    )


def _anomaly_min_severity(config: dict[str, Any]) -> str:
    return "critical" if config["ALERT_SEVERITY_CRITICAL"] else "high"


def _anomaly_candidates(
    service: str, ids: list[str], config: dict[str, Any]
) -> list[AnomalyDetection]:
    """Flagged, unacknowledged anomalies severe enough to page, whose window ended recently.

    An anomaly whose window ended more than ``ANOMALY_CURRENT_MINUTES`` ago is history (a
    backfill, the older part of a deep analysis' lookback): paging about it now would wake
    someone for an incident that is over, and would quiet the next real one.
    """
    if not ids:
        return []
    minimum = LEVEL_RANK[_anomaly_min_severity(config)]
    severities = [level for level, rank in LEVEL_RANK.items() if rank >= minimum]
    current_since = timezone.now() - timedelta(minutes=config["ANOMALY_CURRENT_MINUTES"])
    return list(
        AnomalyDetection.objects.filter(
            service=service,
            anomaly_id__in=ids,
            is_anomaly=True,
            acknowledged=False,  # someone is on it (acknowledged, or part of an acknowledged incident)
            severity_level__in=severities,
            alert_triggered=False,
            window_end__gte=current_since,
        )
    )


def _drop_decided(
    service: str, predictions: list[ErrorPrediction], anomalies: list[AnomalyDetection]
) -> tuple[list[ErrorPrediction], list[AnomalyDetection]]:
    """Remove rows some earlier call already decided on (a decision always postdates its row)."""
    created = [p.created_at for p in predictions] + [a.created_at for a in anomalies]
    if not created:
        return predictions, anomalies
    decided_predictions: set[str] = set()
    decided_anomalies: set[str] = set()
    rows = AlertNotification.objects.filter(service=service, created_at__gte=min(created))
    for p_ids, a_ids in rows.values_list("prediction_ids", "anomaly_ids"):
        decided_predictions.update(str(i) for i in p_ids or [])
        decided_anomalies.update(str(i) for i in a_ids or [])
    return (
        [p for p in predictions if str(p.prediction_id) not in decided_predictions],
        [a for a in anomalies if str(a.anomaly_id) not in decided_anomalies],
    )


def _prediction_groups(service: str, predictions: list[ErrorPrediction]) -> list[_Group]:
    """One group per error type; its shortest-horizon prediction (all of them are at or above the
    alert level) speaks for it, the others are listed per horizon.

    An incident prediction (a burst of any type) and the type predictions of the same analysis
    are one risk: they form one alert, spoken for by the incident, which lists the likely types.
    No type is ever likelier than the incident, so a type above the threshold always comes with
    an incident above it; paging for both would page twice for one outage.
    """
    by_type: dict[str, list[ErrorPrediction]] = defaultdict(list)
    folded: list[ErrorPrediction] = []  # type predictions that the incident speaks for
    incident_type = next(
        (p.predicted_error_type for p in predictions if p.predicted_category == INCIDENT), None
    )
    for prediction in predictions:
        if incident_type is not None and prediction.predicted_category != INCIDENT:
            folded.append(prediction)
        else:
            by_type[prediction.predicted_error_type].append(prediction)
    actions_by_prediction: dict[str, list[PreventiveAction]] = defaultdict(list)
    if predictions:
        for action in PreventiveAction.objects.filter(
            prediction_id__in=[p.prediction_id for p in predictions]
        ).order_by("created_at"):
            actions_by_prediction[str(action.prediction_id)].append(action)
    groups = []
    for error_type, members in sorted(by_type.items()):
        # Every member is at/above the alert level: the shortest horizon is the most urgent
        # and the most specific statement ("79% within 30 minutes" for an outage going on now,
        # not "91% within 24 hours").
        representative = min(members, key=lambda p: (p.time_horizon_minutes, -p.probability))
        likely = folded if error_type == incident_type else []
        related = members + likely
        actions = actions_by_prediction.get(str(representative.prediction_id)) or [
            a for p in related for a in actions_by_prediction.get(str(p.prediction_id), [])
        ]
        groups.append(
            _Group(
                kind=Kind.PREDICTION,
                dedup_key=f"prediction:{service}:{error_type}"[:300],
                error_type=error_type,
                severity=representative.predicted_severity,
                payload=prediction_payload(representative, members, actions, likely=likely),
                created_from=representative.created_at,
                prediction_ids=[str(p.prediction_id) for p in related],
            )
        )
    return groups


def _anomaly_groups(
    service: str, anomalies: list[AnomalyDetection], config: dict[str, Any]
) -> list[_Group]:
    """One group per metric; it fires only with enough anomalous buckets in the recent window."""
    if not anomalies:
        return []
    from ml_prediction.services.feedback import episode_rows

    window = timedelta(minutes=config["ANOMALY_ALERT_WINDOW_MINUTES"])
    by_metric: dict[str, list[AnomalyDetection]] = defaultdict(list)
    for anomaly in anomalies:
        by_metric[anomaly.metric_name].append(anomaly)
    groups = []
    for metric, members in sorted(by_metric.items()):
        representative = max(
            members, key=lambda a: (LEVEL_RANK.get(a.severity_level, 0), a.window_start)
        )
        # The incident the newest bucket belongs to (``feedback.episode_rows``): its start is
        # what the page says, and only its own buckets count towards ANOMALY_ALERT_MIN_BUCKETS.
        # Found on call: a page showed the newest 5 minutes only, and a second incident's "5
        # anomalous buckets in 60 min" counted 4 of the first one, over and resolved.
        newest_row = max(members, key=lambda a: a.window_start)
        newest = newest_row.window_start
        episode = {
            (newest_row.pk, newest, newest_row.detection_state, newest_row.observed_value),
            *AnomalyDetection.objects.filter(pk__in=episode_rows(newest_row)).values_list(
                "pk", "window_start", "detection_state", "observed_value"
            ),
        }
        incident_start = min(start for _, start, _, _ in episode)
        peak = max((value for *_, value in episode if value is not None), default=None)
        in_window = sum(
            1
            for _, start, state, _ in episode
            if state == AnomalyDetection.DetectionState.ACTIVE and newest - window < start <= newest
        )
        group = _Group(
            kind=Kind.ANOMALY,
            dedup_key=f"anomaly:{service}:{metric}"[:300],
            error_type=metric,
            severity=representative.severity_level,
            payload=anomaly_payload(
                representative,
                members,
                in_window,
                _episode_actions({pk for pk, *_ in episode} | {a.pk for a in members}),
                incident_start=incident_start,
                incident_peak=peak,
            ),
            created_from=representative.created_at,
            anomaly_ids=[str(a.anomaly_id) for a in members],
            window_end=max(a.window_end for a in members),
            window_start=min(a.window_start for a in members),
            upstream=_upstream_of(representative),
        )
        learning = any(
            a.detection_state == AnomalyDetection.DetectionState.LEARNING for a in members
        )
        if learning:
            group.reason = f"{REASON_LEARNING}: detector is still learning this service"
        elif in_window < config["ANOMALY_ALERT_MIN_BUCKETS"]:
            group.reason = (
                f"{REASON_TOO_FEW_BUCKETS}: {in_window} anomalous bucket(s) in the last "
                f"{config['ANOMALY_ALERT_WINDOW_MINUTES']} min, "
                f"{config['ANOMALY_ALERT_MIN_BUCKETS']} needed"
            )
        elif _below_normal(representative):
            group.reason = (
                f"{REASON_BELOW_NORMAL}: fewer errors than usual "
                f"({representative.observed_value:,.0f} against "
                f"{representative.expected_value:,.0f} expected at "
                f"{representative.window_start:%H:%M} UTC), no page; a service that stops "
                f"sending errors altogether pages (root cause service_silent)"
            )
        groups.append(group)
    return groups


def _episode_actions(anomaly_ids: set[Any]) -> list[PreventiveAction]:
    """The pending actions recommended for any bucket of the incident, each title once (the
    newest), most urgent first.

    The analyses hang an episode's actions on its highest-scoring bucket, which is often not
    the one that pages (the first bucket was below ANOMALY_ALERT_MIN_BUCKETS): found on call,
    the first page of an incident then listed its actions folded into one line of text. An
    action someone skipped or executed is no longer something to do (acceptance pass: a
    skipped "Scale up" led the next page, above a critical one).
    """
    newest_first = PreventiveAction.objects.filter(
        anomaly_id__in=anomaly_ids, status__in=PENDING_ACTION_STATUSES
    ).order_by("-created_at")
    by_title: dict[str, PreventiveAction] = {}
    for action in newest_first:
        by_title.setdefault(action.title, action)
    return sorted(by_title.values(), key=lambda a: (-LEVEL_RANK.get(a.priority, 0), a.created_at))


def _recently_fired(
    service: str, now: datetime, config: dict[str, Any]
) -> dict[str, list[tuple[datetime, str]]]:
    """dedup_key → [(when, severity)] of prediction alerts sent or queued within the cooldown
    (on their own, in a digest, or as an anomaly alert's outlook).

    Failed deliveries do not count: a later alert may try again. Anomaly alerts are keyed on
    the windows they were about instead (``_alerted_anomaly_windows``).
    """
    quiet = config["ALERT_COOLDOWN_MINUTES"]
    fired: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    if quiet <= 0:
        return fired
    rows = AlertNotification.objects.filter(
        service=service,
        created_at__gte=now - timedelta(minutes=quiet),
        status__in=[Status.PENDING, Status.SENT],
    ).values_list("kind", "dedup_key", "severity", "payload", "created_at")
    for kind, dedup_key, severity, payload, created_at in rows:
        if kind in (Kind.DIGEST, Kind.ANOMALY):  # digests and outlooks hold predictions too
            for key, level in (payload or {}).get("severities", {}).items():
                if key.startswith("prediction:"):
                    fired[key].append((created_at, level))
        elif kind == Kind.PREDICTION:
            fired[dedup_key].append((created_at, severity))
    return fired


def _alerted_anomaly_windows(
    service: str, anomalies: list[AnomalyDetection], config: dict[str, Any]
) -> dict[str, list[tuple[datetime, str]]]:
    """dedup_key → [(window end, severity)] of anomaly alerts sent or queued about windows that
    may belong to the same episode as the candidates (within the quiet period of them).

    The quiet period is about the incident, not the clock: an alert about last night's
    windows must not quiet this morning's new episode, whenever it was sent. A digest counts
    for each anomaly metric it covered. Failed deliveries do not count.
    """
    quiet = config["ANOMALY_ALERT_SUPPRESS_MINUTES"]
    if quiet <= 0 or not anomalies:
        return {}
    # an alert is always created after the windows it is about, so older rows cannot matter
    earliest = min(a.window_start for a in anomalies) - timedelta(minutes=quiet)
    rows = list(
        AlertNotification.objects.filter(
            service=service,
            kind__in=[Kind.ANOMALY, Kind.DIGEST],
            created_at__gte=earliest,
            status__in=[Status.PENDING, Status.SENT],
        ).values_list("severity", "payload", "anomaly_ids")
    )
    ids = {str(i) for *_, anomaly_ids in rows for i in anomaly_ids or []}
    windows = {
        str(anomaly_id): (metric, window_end)
        for anomaly_id, metric, window_end in AnomalyDetection.objects.filter(
            service=service, anomaly_id__in=ids
        ).values_list("anomaly_id", "metric_name", "window_end")
    }
    fired: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for severity, payload, anomaly_ids in rows:
        newest: dict[str, datetime] = {}
        for anomaly_id in anomaly_ids or []:
            if str(anomaly_id) in windows:
                metric, window_end = windows[str(anomaly_id)]
                newest[metric] = max(window_end, newest.get(metric, window_end))
        severities = (payload or {}).get("severities", {})
        for metric, window_end in newest.items():
            key = f"anomaly:{service}:{metric}"[:300]
            fired[key].append((window_end, severities.get(key, severity)))
    return fired


def _false_positive_signatures(
    service: str, now: datetime, config: dict[str, Any]
) -> set[tuple[str, tuple[str, ...]]]:
    """(error type, factor signature) of predictions marked false positive within the cooldown."""
    cooldown = config["ALERT_COOLDOWN_MINUTES"]
    if cooldown <= 0:
        return set()
    feedback = PredictionFeedback.objects.filter(
        verdict=PredictionFeedback.Verdict.FALSE_POSITIVE,
        created_at__gte=now - timedelta(minutes=cooldown),
        prediction__service=service,
    ).select_related("prediction")
    return {
        (f.prediction.predicted_error_type, _factor_signature(f.prediction.contributing_factors))
        for f in feedback
    }


def _suppression_reason(
    group: _Group,
    *,
    learning: bool,
    fired: dict[str, list[tuple[datetime, str]]],
    feedback: set[tuple[str, tuple[str, ...]]],
    ongoing: tuple[datetime, str, datetime] | None,
    config: dict[str, Any],
    upstream_paged: dict[str, datetime] | None = None,
) -> str:
    if learning:
        return f"{REASON_LEARNING}: service is in the cold-start learning state"
    now = timezone.now()
    service = group.payload["service"]
    if group.kind == Kind.ANOMALY:
        minutes = config["ANOMALY_ALERT_SUPPRESS_MINUTES"]
        quiet = timedelta(minutes=minutes)
        rank = LEVEL_RANK.get(group.severity, 0)
        newest = group.window_end or now
        oldest = group.window_start or newest
        same_episode = [
            (t, s)
            for t, s in fired.get(group.dedup_key, [])
            if abs(newest - t) <= quiet
            and not _recovered_between(service, group.error_type, t, oldest, config)
        ]
        if same_episode and max(LEVEL_RANK.get(s, 0) for _, s in same_episode) >= rank:
            last = max(t for t, _ in same_episode)
            return (
                f"{REASON_ANOMALY_SUPPRESSED}: already alerted with the same or higher severity "
                f"about windows up to {last:%Y-%m-%d %H:%M} UTC (same episode); quiet for "
                f"{minutes} min of anomaly windows unless it grows"
            )
        paged_at = (upstream_paged or {}).get(group.upstream)
        if paged_at is not None:
            return (
                f"{REASON_UPSTREAM_INCIDENT}: part of {group.upstream}'s incident, paged at "
                f"{paged_at:%H:%M} UTC: {service}'s errors follow it (root cause "
                f"upstream_failure), one incident pages once"
            )
        return ""
    if ongoing is not None:
        sent_at, metric, window_end = ongoing
        return (
            f"{REASON_ONGOING_INCIDENT}: the ongoing incident was paged at {sent_at:%H:%M} UTC "
            f"(anomaly alert on {metric}, windows up to {window_end:%H:%M} UTC); predictions page "
            f"again once it has recovered ({config['ANOMALY_RECOVERY_BUCKETS']} normal buckets)"
        )
    minutes = config["ALERT_COOLDOWN_MINUTES"]
    since = now - timedelta(minutes=minutes)
    earlier_times = [t for t, _ in fired.get(group.dedup_key, []) if t >= since]
    if earlier_times and not _risk_cleared_since(
        service, group.error_type, max(earlier_times), config
    ):
        return (
            f"{REASON_COOLDOWN}: {group.dedup_key} alerted at "
            f"{max(earlier_times):%Y-%m-%d %H:%M} UTC; cooldown {minutes} min while the risk "
            "stays (a later analysis that no longer finds it ends the cooldown)"
        )
    signature = tuple(sorted(f["feature"] for f in group.payload.get("factors", [])))
    if (group.error_type, signature) in feedback:
        return (
            f"{REASON_FALSE_POSITIVE}: the same alert (factors: {', '.join(signature) or 'none'}) "
            f"was marked false positive within {minutes} min"
        )
    return ""


def _below_normal(anomaly: AnomalyDetection) -> bool:
    """Fewer errors than the bucket's normal, and not a service gone silent.

    Errors falling (a fix went out, a quiet holiday) scored as rare as an outage and paged as a
    "critical drop": on-call was woken by good news. The one drop worth waking someone for is
    a service that sends nothing where it sent plenty (down, or its reporting broke), which
    its root cause says (`service_silent`).
    """
    observed, expected = anomaly.observed_value, anomaly.expected_value
    if observed is None or expected is None or observed >= expected:
        return False
    # a drop, or a lasting one; not a pattern deviation (the count ordinary, its mix or
    # latency not), which may hold a few errors fewer than usual and still page
    falling = anomaly.anomaly_type in ("drop", "trend_change")
    return falling and not _went_silent(anomaly)


def _went_silent(anomaly: AnomalyDetection) -> bool:
    """The anomaly's episode is a service that stopped sending errors: its root cause says so,
    or its bucket is a flagged drop without a single error.

    The second reading does not wait for the root cause: an empty bucket is only ever flagged
    where its normal is at the minimum volume or its run of empty buckets is a silence
    (`anomaly._silent_buckets`), and a quick run that first saw one empty bucket explained
    the episode before it was a silence (then kept that cause until the next full run).
    """
    from ml_prediction.services.training import ROOT_CAUSE_KEY_FEATURE

    features = anomaly.contributing_features
    if isinstance(features, dict) and features.get(ROOT_CAUSE_KEY_FEATURE) == "service_silent":
        return True
    return anomaly.observed_value == 0 and anomaly.anomaly_type in ("drop", "trend_change")


def _upstream_of(anomaly: AnomalyDetection) -> str:
    """The back end whose incident the anomaly's episode follows, as its root cause found it
    (`upstream_failure`, with the back end as its dependency); "" for any other cause."""
    from ml_prediction.services.training import (
        ROOT_CAUSE_DEPENDENCY_FEATURE,
        ROOT_CAUSE_KEY_FEATURE,
    )

    features = anomaly.contributing_features
    if not isinstance(features, dict) or features.get(ROOT_CAUSE_KEY_FEATURE) != "upstream_failure":
        return ""
    return str(features.get(ROOT_CAUSE_DEPENDENCY_FEATURE) or "")


def _upstream_paged(
    services: set[str], now: datetime, config: dict[str, Any]
) -> dict[str, datetime]:
    """service → when its newest anomaly alert was sent or queued, within the anomaly suppress
    period: a front end's incident that follows a back end's already paged pages no one again
    (one failure seen from two services is one incident to wake someone for)."""
    if not services:
        return {}
    since = now - timedelta(minutes=config["ANOMALY_ALERT_SUPPRESS_MINUTES"])
    rows = AlertNotification.objects.filter(
        service__in=services,
        kind=Kind.ANOMALY,
        created_at__gte=since,
        status__in=[Status.PENDING, Status.SENT],
    ).values_list("service", "created_at")
    paged: dict[str, datetime] = {}
    for service, created_at in rows:
        paged[service] = max(created_at, paged.get(service, created_at))
    return paged


def _recovered_between(
    service: str, metric: str, after: datetime, before: datetime, config: dict[str, Any]
) -> bool:
    """Whether ``metric`` had ANOMALY_RECOVERY_BUCKETS scored normal buckets in a row between an
    alerted window (ending ``after``) and a new anomalous one (starting ``before``).

    The quiet period after an anomaly alert is about one incident: a service that recovered
    (a quarter of an hour of normal buckets, by default) and then breaks again has a new
    incident, and that must page. A bucket nobody scored breaks the run: no evidence either way.
    """
    need = config["ANOMALY_RECOVERY_BUCKETS"]
    bucket = timedelta(minutes=config["BUCKET_MINUTES"])
    rows = (
        AnomalyDetection.objects.filter(
            service=service, metric_name=metric, window_start__gte=after, window_start__lt=before
        )
        .order_by("window_start")
        .values_list("window_start", "is_anomaly")
    )
    run, previous = 0, None
    for start, flagged in rows:
        if previous is not None and start - previous > bucket:
            run = 0
        run = 0 if flagged else run + 1
        if run >= need:
            return True
        previous = start
    return False


def _ongoing_paged_episode(
    service: str, now: datetime, config: dict[str, Any]
) -> tuple[datetime, str, datetime] | None:
    """(when it was paged, metric, newest alerted window end) of an anomaly incident of the
    service that was paged within the quiet period and has not recovered since.

    While the on-call is already working an outage, a prediction that more errors will come
    within the hour tells them nothing new: it was the second page of every outage, minutes
    after the first (and one more came two minutes after the outage ended). Once the newest
    ANOMALY_RECOVERY_BUCKETS scored buckets of the metric are all normal, predictions page again.
    """
    quiet = timedelta(minutes=config["ANOMALY_ALERT_SUPPRESS_MINUTES"])
    if quiet <= timedelta(0):
        return None
    rows = AlertNotification.objects.filter(
        service=service,
        kind__in=[Kind.ANOMALY, Kind.DIGEST],
        created_at__gte=now - quiet,
        status__in=[Status.PENDING, Status.SENT],
    ).order_by("-created_at")
    need = config["ANOMALY_RECOVERY_BUCKETS"]
    seen: set[tuple[str, ...]] = set()
    for sent_at, anomaly_ids in rows.values_list("created_at", "anomaly_ids"):
        key = tuple(sorted(str(i) for i in anomaly_ids or []))
        if key in seen:  # the same alert on another channel
            continue
        seen.add(key)
        alerted = (
            AnomalyDetection.objects.filter(service=service, anomaly_id__in=anomaly_ids or [])
            .order_by("-window_end")
            .values_list("metric_name", "window_end")
            .first()
        )
        if alerted is None:
            continue
        metric, window_end = alerted
        latest = list(
            AnomalyDetection.objects.filter(
                service=service, metric_name=metric, window_start__gte=window_end
            )
            .order_by("-window_start")
            .values_list("is_anomaly", flat=True)[:need]
        )
        if len(latest) < need or any(latest):
            return sent_at, metric, window_end
    return None


def _risk_cleared_since(
    service: str, error_type: str, since: datetime, config: dict[str, Any]
) -> bool:
    """Whether a completed predicting analysis after ``since`` no longer found ``error_type`` at
    the alert level: the risk that was paged went away, so its return is a new risk and pages,
    cooldown or not (a second incident an hour after the first was muted by the first's)."""
    bucket = timedelta(minutes=config["BUCKET_MINUTES"])
    as_of = AnalysisRun.objects.filter(
        service=service,
        status=AnalysisRun.Status.COMPLETED,
        predicted=True,
        completed_at__gt=since,
    ).values_list("as_of", flat=True)
    buckets = {moment - bucket for moment in as_of}
    if not buckets:
        return False
    risky = set(
        ErrorPrediction.objects.filter(
            service=service,
            predicted_error_type=error_type,
            prediction_bucket__in=buckets,
            probability__gte=config["ALERT_PROBABILITY"],
        ).values_list("prediction_bucket", flat=True)
    )
    return bool(buckets - risky)


def _channels(service: str, config: dict[str, Any]) -> list[str]:
    from ml_prediction.notifications import slack_webhook_url

    channels = []
    if str(config.get("ALERT_EMAIL") or "").strip():
        channels.append("email")
    if slack_webhook_url(service):
        channels.append("slack")
    return channels


def _record(
    service: str,
    groups: list[_Group],
    *,
    now: datetime,
    triggered_by: str,
    config: dict[str, Any],
) -> list[AlertNotification]:
    """Store the decisions, mark alerted rows and queue delivery after commit."""
    rows: list[AlertNotification] = []
    firing = [g for g in groups if not g.reason]
    channels = _channels(service, config)
    if firing and not channels:
        for group in firing:
            group.reason = f"{REASON_NO_CHANNELS}: no email address or Slack webhook configured"
        firing = []
    for group in groups:
        if group.reason:
            rows.append(
                group.notification(
                    status=Status.SUPPRESSED,
                    reason=group.reason,
                    payload={"subject": group.payload.get("subject", "")},
                    triggered_by=triggered_by,
                    created_at=now,
                )
            )
    firing = _fold_outlook(firing)
    if len(firing) >= config["ALERT_DIGEST_THRESHOLD"]:
        digest = _Group(
            kind=Kind.DIGEST,
            dedup_key=f"digest:{service}",
            error_type="",
            severity=_max_severity(g.severity for g in firing),
            payload=digest_payload(service, firing),
            created_from=now,
            prediction_ids=[i for g in firing for i in g.prediction_ids],
            anomaly_ids=[i for g in firing for i in g.anomaly_ids],
        )
        sending = [digest]
    else:
        sending = firing
    to_queue: list[AlertNotification] = []
    for group in sending:
        for channel in channels:
            row = group.notification(
                channel=channel,
                status=Status.PENDING,
                payload=group.payload,
                triggered_by=triggered_by,
                created_at=now,
            )
            rows.append(row)
            to_queue.append(row)
    AlertNotification.objects.bulk_create(rows)
    alerted_predictions = [i for g in sending for i in g.prediction_ids]
    alerted_anomalies = [i for g in sending for i in g.anomaly_ids]
    if alerted_predictions:
        ErrorPrediction.objects.filter(prediction_id__in=alerted_predictions).update(
            alert_triggered=True
        )
    if alerted_anomalies:
        AnomalyDetection.objects.filter(anomaly_id__in=alerted_anomalies).update(
            alert_triggered=True
        )
    ids = [row.alert_id for row in to_queue]
    if ids:
        transaction.on_commit(lambda: alerts_enqueue(ids), using=ML_DB)
    for group in groups:
        logger.info("alert decision %s: %s", group.dedup_key, group.reason or "fires")
    return rows


def _fold_outlook(firing: list[_Group]) -> list[_Group]:
    """An analysis that finds an outage going on (an anomaly alert) and predicts more of it (a
    prediction alert) pages once: the most severe anomaly alert carries the predictions as its
    "Outlook", and the predictions' cooldowns are held by it (``severities``, as a digest does).

    Two messages a few seconds apart about one outage were the commonest page pair; the second
    told the on-call nothing the first did not, except how long it will go on.
    """
    anomalies = [g for g in firing if g.kind == Kind.ANOMALY]
    predictions = [g for g in firing if g.kind == Kind.PREDICTION]
    if not anomalies or not predictions:
        return firing
    lead = max(anomalies, key=lambda g: (LEVEL_RANK.get(g.severity, 0), g.dedup_key))
    predictions.sort(key=lambda g: -float(g.payload.get("probability") or 0.0))
    lead.payload = {
        **lead.payload,
        "outlook": [g.payload for g in predictions],
        "severities": {
            lead.dedup_key: lead.severity,
            **{g.dedup_key: g.severity for g in predictions},
        },
    }
    lead.prediction_ids = lead.prediction_ids + [i for g in predictions for i in g.prediction_ids]
    return [g for g in firing if g.kind != Kind.PREDICTION]


def _max_severity(levels: Iterable[str]) -> str:
    return max(levels, key=lambda s: LEVEL_RANK.get(s, -1), default="")


def _refreshed(rows: list[AlertNotification]) -> list[AlertNotification]:
    """The rows as stored now (eager delivery may already have sent them)."""
    by_id = {
        n.alert_id: n
        for n in AlertNotification.objects.filter(alert_id__in=[r.alert_id for r in rows])
    }
    return [by_id.get(r.alert_id, r) for r in rows]
