"""Human feedback on ML results: occurrences, verdicts, acknowledgements, daily accuracy.

Each change is one transaction on the ML database plus an audit event; afterwards the cached
reads are invalidated and the day's ``ModelPerformanceTracking`` row of the prediction's model
is recomputed, so the performance endpoint shows the feedback at once. Outcomes nobody marked
are resolved from the stored data once a prediction's horizon ends (`prediction_outcomes_resolve`,
run by the daily tracking task).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from ml_prediction.models import (
    AnomalyDetection,
    ErrorPrediction,
    ModelPerformanceTracking,
    OutcomeSource,
    PredictionFeedback,
    PreventiveAction,
)
from ml_prediction.services.audit import audit_record
from ml_prediction.services.cache import read_cache_bump
from ml_prediction.services.errors import InvalidTransition, NotFound

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
VERDICTS = tuple(PredictionFeedback.Verdict.values)
# Clock skew tolerated between the reporting client and us, on either side of the window an
# occurrence may fall in (the prediction's horizon, and not later than now).
CLOCK_SKEW = timedelta(minutes=5)
# Outcomes are resolved for predictions whose horizon ended within this many days (the daily
# task covers a 24 h horizon that ended after the previous run) ...
OUTCOME_LOOKBACK = timedelta(days=3)
# ... and at least this long ago, so the last bucket's errors have been ingested and rolled up.
OUTCOME_GRACE = timedelta(minutes=10)


class FeedbackValidationError(ValueError):
    """Bad input to a feedback service; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _locked_prediction(prediction_id: Any) -> ErrorPrediction:
    found = ErrorPrediction.objects.select_for_update().filter(pk=prediction_id).first()
    if found is None:
        raise NotFound(f"No prediction with id {prediction_id}.")
    return found


def _after_change(prediction: ErrorPrediction | None) -> None:
    read_cache_bump()
    if prediction is not None and prediction.model_id is not None:
        performance_tracking_refresh(
            day=timezone.localdate(prediction.created_at), model_ids=[prediction.model_id]
        )


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def horizon_of(prediction: ErrorPrediction) -> tuple[datetime, datetime]:
    """(start, end) of the time a prediction covers (see ``_occurrence_error``)."""
    end = prediction.predicted_timestamp
    return end - timedelta(minutes=prediction.time_horizon_minutes), end


def _occurrence_error(prediction: ErrorPrediction, timestamp: datetime) -> str | None:
    """Why ``timestamp`` cannot be the occurrence of ``prediction``; None when it can.

    A prediction says "this error within ``time_horizon_minutes`` after the bucket it was made
    from": its horizon runs from ``predicted_timestamp - time_horizon_minutes`` to
    ``predicted_timestamp``. An occurrence outside it (a timestamp from 2024 on a prediction
    of 2026, or hours after the horizon ended) is not this prediction coming true and would be
    counted as a true positive; it is refused, with CLOCK_SKEW of slack on both sides. The
    horizon, not ``created_at``, is the reference: a backfilled analysis stores predictions
    about past buckets with ``created_at`` = the time it ran.
    """
    start, end = horizon_of(prediction)
    if timestamp < start - CLOCK_SKEW:
        return (
            f"{_utc_text(timestamp)} is before the prediction's horizon "
            f"({_utc_text(start)} to {_utc_text(end)}); an earlier error cannot confirm it."
        )
    if timestamp > end + CLOCK_SKEW:
        return (
            f"{_utc_text(timestamp)} is after the prediction's horizon "
            f"({_utc_text(start)} to {_utc_text(end)}); the prediction did not cover it."
        )
    return None


@dataclass(frozen=True)
class OccurrenceRule:
    """Which stored errors can be a prediction coming true: ``errors`` (an ErrorLog filter) and
    ``wanted``, the same rule in words for the 400 that refuses another error."""

    errors: Q
    wanted: str


def occurrence_rule(prediction: ErrorPrediction) -> OccurrenceRule:
    """The one rule for what fulfils a prediction, for ``mark_occurred`` and the dashboard's
    "Mark occurred" (``dashboard.selectors.matching_error``).

    An error matches the prediction's target: an error of its category for a category head
    (timeout, database, …), a critical error for the critical head, any error for the incident
    head (a burst of any type); for a category head also an error of the very type the
    prediction named, whatever category ingestion derived for it. A prediction without a target
    (not made by the analysis) names only its type. A single timeout error "confirmed" a
    database prediction before this rule.
    """
    from ml_prediction.engines.catalog import INCIDENT

    target, named = prediction.predicted_category, prediction.predicted_error_type
    if target == INCIDENT:
        return OccurrenceRule(Q(), "any error (an incident is a burst of any type)")
    if target == "critical":
        return OccurrenceRule(Q(severity="critical"), "an error of severity critical")
    if target:
        return OccurrenceRule(
            Q(category=target) | Q(error_type=named), f"an error of category {target} or a {named}"
        )
    return OccurrenceRule(Q(error_type=named), f"a {named}")


def _stored_error_time(*, error_id: uuid.UUID, prediction: ErrorPrediction) -> datetime:
    """When the reported error happened, by its stored row: it must be an ErrorLog of the
    prediction's service that matches its target (``occurrence_rule``) and whose own
    ``occurred_at`` lies in the prediction's horizon.

    The caller's ``timestamp`` alone is no proof: an error from a day after the horizon, with
    an in-horizon timestamp claimed for it, would count the prediction as a true positive.
    ErrorLog lives on the default database: a lookup by id, no cross-database relation.
    """
    from error_logging.models import ErrorLog

    stored = ErrorLog.objects.filter(error_id=error_id)
    fields = ("service", "occurred_at", "error_type", "category", "severity")
    found = stored.values_list(*fields).first()
    if found is None:
        raise FeedbackValidationError("error_id", f"no stored error with id {error_id}.")
    service, occurred_at, error_type, category, severity = found
    if service != prediction.service:
        raise FeedbackValidationError(
            "error_id",
            f"error {error_id} belongs to {service}, not to the prediction's {prediction.service}.",
        )
    rule = occurrence_rule(prediction)
    if not stored.filter(rule.errors).exists():
        raise FeedbackValidationError(
            "error_id",
            f"error {error_id} is a {error_type} (category {category}, severity {severity}); "
            f"the prediction is of {prediction.predicted_category or prediction.predicted_error_type} "
            f"and only {rule.wanted} can confirm it.",
        )
    if _occurrence_error(prediction, occurred_at) is not None:
        start, end = horizon_of(prediction)
        raise FeedbackValidationError(
            "error_id",
            f"error {error_id} occurred at {_utc_text(occurred_at)}, outside the prediction's "
            f"horizon ({_utc_text(start)} to {_utc_text(end)}); it cannot confirm it.",
        )
    return occurred_at


def prediction_mark_occurred(
    *, prediction_id: uuid.UUID, error_id: uuid.UUID | None, timestamp: datetime, actor: str
) -> ErrorPrediction:
    """Record that the predicted error happened (the guide's ``mark_occurred``).

    ``timestamp`` must fall in the prediction's horizon (see ``_occurrence_error``) and not be
    in the future; ``error_id``, when given, must name a stored error of the same service that
    matches the prediction's target (``occurrence_rule``: 400 naming the mismatch otherwise) and
    itself happened in the horizon, and its stored ``occurred_at`` is recorded as the occurrence
    (the dashboard passes None when no stored error matches). Raises
    ``FeedbackValidationError`` for bad input and ``InvalidTransition`` when the prediction is
    already marked as occurred.
    """
    if timezone.is_naive(timestamp):
        timestamp = timezone.make_aware(timestamp, UTC)
    if timestamp > timezone.now() + CLOCK_SKEW:
        raise FeedbackValidationError("timestamp", "is in the future.")
    with transaction.atomic(using=ML_DB):
        prediction = _locked_prediction(prediction_id)
        if prediction.actual_error_occurred:
            raise InvalidTransition(
                f"Prediction {prediction_id} was already marked as occurred "
                f"(error {prediction.actual_error_id} at {prediction.actual_occurred_at:%Y-%m-%dT%H:%M:%SZ})."
            )
        reason = _occurrence_error(prediction, timestamp)
        if reason is not None:
            raise FeedbackValidationError("timestamp", reason)
        if error_id is not None:
            timestamp = _stored_error_time(error_id=error_id, prediction=prediction)
            if timestamp > timezone.now() + CLOCK_SKEW:
                # an error ingested with a future occurred_at has not happened yet
                raise FeedbackValidationError("error_id", "happened in the future.")
        prediction.actual_error_occurred = True
        prediction.actual_error_id = error_id
        prediction.actual_occurred_at = timestamp
        prediction.actual_outcome_source = OutcomeSource.PERSON
        prediction.save(
            update_fields=[
                "actual_error_occurred",
                "actual_error_id",
                "actual_occurred_at",
                "actual_outcome_source",
            ]
        )
        audit_record(
            actor=actor,
            action="prediction.mark_occurred",
            object_type="prediction",
            object_id=prediction.prediction_id,
            service=prediction.service,
            details={
                "error_id": str(error_id) if error_id else None,
                "timestamp": _utc_text(timestamp),
            },
        )
    _after_change(prediction)
    return prediction


def prediction_feedback_record(
    *, prediction_id: uuid.UUID, verdict: str, comment: str, actor: str
) -> tuple[PredictionFeedback, bool]:
    """Store a person's verdict (true or false positive) on a prediction; returns the stored
    feedback and whether it is new.

    One verdict per person and prediction: a second verdict from the same person replaces the
    first (verdict, comment and time), so a corrected opinion does not leave both a true and
    a false positive from one person behind for the daily tracking, the alert suppression and
    the retraining labels to disagree over. The prediction's row lock serialises concurrent
    verdicts of one person.
    """
    if verdict not in VERDICTS:
        raise FeedbackValidationError("verdict", f"must be one of: {', '.join(VERDICTS)}.")
    with transaction.atomic(using=ML_DB):
        prediction = _locked_prediction(prediction_id)
        earlier = list(
            PredictionFeedback.objects.filter(prediction=prediction, created_by=actor).order_by(
                "-created_at", "feedback_id"
            )
        )
        if earlier:
            feedback, *stale = earlier
            previous = feedback.verdict
            feedback.verdict = verdict
            feedback.comment = comment
            feedback.created_at = timezone.now()
            feedback.save(update_fields=["verdict", "comment", "created_at"])
            if stale:  # rows stored before this rule: keep only the newest
                PredictionFeedback.objects.filter(pk__in=[f.pk for f in stale]).delete()
        else:
            previous = None
            feedback = PredictionFeedback.objects.create(
                prediction=prediction, verdict=verdict, comment=comment, created_by=actor
            )
        details: dict[str, Any] = {"verdict": verdict, "feedback_id": str(feedback.feedback_id)}
        if earlier:
            details["replaced_verdict"] = previous
        audit_record(
            actor=actor,
            action="prediction.feedback",
            object_type="prediction",
            object_id=prediction.prediction_id,
            service=prediction.service,
            details=details,
        )
    _after_change(prediction)
    return feedback, not earlier


def anomaly_acknowledge(*, anomaly_id: uuid.UUID, actor: str) -> AnomalyDetection:
    """Mark an anomaly as seen by a person; raises ``InvalidTransition`` the second time."""
    with transaction.atomic(using=ML_DB):
        anomaly = AnomalyDetection.objects.select_for_update().filter(pk=anomaly_id).first()
        if anomaly is None:
            raise NotFound(f"No anomaly with id {anomaly_id}.")
        if anomaly.acknowledged:
            raise InvalidTransition(
                f"Anomaly {anomaly_id} was already acknowledged by "
                f"{anomaly.acknowledged_by or 'someone'}."
            )
        now = timezone.now()
        anomaly.acknowledged = True
        anomaly.acknowledged_by = actor
        anomaly.acknowledged_at = now
        anomaly.save(update_fields=["acknowledged", "acknowledged_by", "acknowledged_at"])
        episode = episode_rows(anomaly)
        AnomalyDetection.objects.filter(pk__in=episode, acknowledged=False).update(
            acknowledged=True, acknowledged_by=actor, acknowledged_at=now
        )
        audit_record(
            actor=actor,
            action="anomaly.acknowledge",
            object_type="anomaly",
            object_id=anomaly.anomaly_id,
            service=anomaly.service,
            details={"episode_rows": len(episode) + 1},
        )
    _after_change(None)
    return anomaly


def acknowledgement_carried_over(*, service: str, anomaly_ids: list[Any]) -> int:
    """Acknowledge the newly flagged rows of an incident someone already acknowledged; returns
    how many.

    A person acknowledges an incident, not the buckets scored so far: found on call, the
    buckets an acknowledged outage went on to produce showed as a new, unacknowledged incident
    on the dashboard and paged again after the cooldown. A row joins the acknowledgement of
    its episode (``episode_rows``), with its author and time.
    """
    candidates = list(
        AnomalyDetection.objects.filter(
            service=service, anomaly_id__in=anomaly_ids, is_anomaly=True, acknowledged=False
        )
    )
    if not candidates:
        return 0
    since = min(a.window_start for a in candidates) - timedelta(hours=24)
    acknowledged = set(
        AnomalyDetection.objects.filter(
            service=service,
            metric_name__in={a.metric_name for a in candidates},
            is_anomaly=True,
            acknowledged=True,
            window_start__gte=since,
        ).values_list("metric_name", flat=True)
    )
    carried = 0
    for anomaly in sorted(candidates, key=lambda a: a.window_start):
        if anomaly.metric_name not in acknowledged:
            continue  # the common case: no acknowledged incident of the metric that day
        source = (
            AnomalyDetection.objects.filter(pk__in=episode_rows(anomaly), acknowledged=True)
            .order_by("acknowledged_at")
            .values_list("acknowledged_by", "acknowledged_at")
            .first()
        )
        if source is None:
            continue
        if AnomalyDetection.objects.filter(pk=anomaly.pk, acknowledged=False).update(
            acknowledged=True, acknowledged_by=source[0], acknowledged_at=source[1]
        ):
            carried += 1
            # who acknowledged is the person; that it reached this bucket is the system's doing
            audit_record(
                actor="system",
                action="anomaly.acknowledge_carried",
                object_type="anomaly",
                object_id=anomaly.anomaly_id,
                service=service,
                details={
                    "acknowledged_by": source[0],
                    "acknowledged_at": source[1].isoformat() if source[1] else None,
                },
            )
    return carried


def episode_rows(anomaly: AnomalyDetection) -> list[Any]:
    """The other anomalous rows of the anomaly's episode (same service and metric): the
    flagged buckets before and after it up to a run of ANOMALY_RECOVERY_BUCKETS normal buckets
    or an unscored gap, within a day.

    A person acknowledges an incident, not a 5-minute bucket: one incident showed seven rows
    to click after its page was acknowledged.
    """
    config = settings.ML_PREDICTION_CONFIG
    bucket = timedelta(minutes=config["BUCKET_MINUTES"])
    need = config["ANOMALY_RECOVERY_BUCKETS"]
    day = timedelta(hours=24)
    rows = list(
        AnomalyDetection.objects.filter(
            service=anomaly.service,
            metric_name=anomaly.metric_name,
            window_start__gte=anomaly.window_start - day,
            window_start__lte=anomaly.window_start + day,
        )
        .order_by("window_start")
        .values_list("pk", "window_start", "is_anomaly")
    )
    at = next(i for i, row in enumerate(rows) if row[0] == anomaly.pk)
    found: list[Any] = []
    for step in (-1, 1):
        normal, i = 0, at
        while 0 <= i + step < len(rows):
            pk, start, flagged = rows[i + step]
            if abs(start - rows[i][1]) > bucket:  # an unscored gap: no evidence it went on
                break
            normal = 0 if flagged else normal + 1
            if normal >= need:
                break
            if flagged:
                found.append(pk)
            i += step
    return found


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _with_verdicts(qs: Any) -> Any:
    verdicts = PredictionFeedback.objects.filter(prediction_id=OuterRef("pk"))
    return qs.annotate(
        said_tp=Exists(verdicts.filter(verdict=PredictionFeedback.Verdict.TRUE_POSITIVE)),
        said_fp=Exists(verdicts.filter(verdict=PredictionFeedback.Verdict.FALSE_POSITIVE)),
    )


# The outcome of a prediction (on a queryset annotated by `_with_verdicts`). It happened: a
# recorded occurrence (mark_occurred, or resolved from the data) or a person's true-positive
# verdict. It did not: a false-positive verdict or a recorded non-occurrence, unless it
# happened: the data wins over a "false positive" the stored errors contradict (the training
# labels follow the same rule, `engines.predictor._apply_feedback`). Neither: unresolved, and
# not counted.
HAPPENED = Q(actual_error_occurred=True) | Q(said_tp=True)
NOT_HAPPENED = ~HAPPENED & (Q(said_fp=True) | Q(actual_error_occurred=False))


def performance_tracking_refresh(*, day: date, model_ids: list[Any] | None = None) -> int:
    """Recompute the daily ``ModelPerformanceTracking`` rows for predictions made on ``day``.

    A prediction is *positive* when its probability reaches PREDICTION_THRESHOLD. Only resolved
    predictions count (``HAPPENED`` / ``NOT_HAPPENED``); a horizon that passed without an
    outcome is unknown, not a false positive: nothing marks outcomes by hand at scale, and a
    30-minute prediction followed by 500 matching errors was counted as one.
    `prediction_outcomes_resolve` records outcomes from the stored data once a horizon ends.

    ``recall_today`` is null unless the day has resolved *negative* predictions: the analysis
    stores only predictions at or above the threshold, and with no stored negatives no miss
    can be seen, so recall would be 1.0 by construction. For the same reason
    ``accuracy_today`` then equals the precision. ``predictions_correct`` = true positives +
    true negatives; ``errors_prevented`` = positive predictions that did not happen although a
    preventive action was executed for them. One grouped query, then one upsert; returns the
    number of rows written.
    """
    threshold = settings.ML_PREDICTION_CONFIG["PREDICTION_THRESHOLD"]
    start = timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
    end = start + timedelta(days=1)
    qs = ErrorPrediction.objects.filter(
        created_at__gte=start, created_at__lt=end, model_id__isnull=False
    )
    if model_ids is not None:
        qs = qs.filter(model_id__in=model_ids)
    qs = _with_verdicts(qs).annotate(
        acted=Exists(
            PreventiveAction.objects.filter(
                prediction_id=OuterRef("pk"), status=PreventiveAction.Status.EXECUTED
            )
        ),
    )
    positive = Q(probability__gte=threshold)
    rows = (
        qs.order_by()
        .values("model_id")
        .annotate(
            made=Count("pk"),
            tp=Count("pk", filter=positive & HAPPENED),
            fp=Count("pk", filter=positive & NOT_HAPPENED),
            tn=Count("pk", filter=~positive & NOT_HAPPENED),
            fn=Count("pk", filter=~positive & HAPPENED),
            prevented=Count("pk", filter=positive & NOT_HAPPENED & Q(acted=True)),
        )
    )
    tracking = []
    for row in rows:
        tp, fp, tn, fn = row["tp"], row["fp"], row["tn"], row["fn"]
        tracking.append(
            ModelPerformanceTracking(
                model_id=row["model_id"],
                tracking_date=day,
                accuracy_today=_ratio(tp + tn, tp + fp + tn + fn),
                precision_today=_ratio(tp, tp + fp),
                recall_today=_ratio(tp, tp + fn) if tn + fn else None,
                predictions_made=row["made"],
                predictions_correct=tp + tn,
                false_positives=fp,
                errors_prevented=row["prevented"],
            )
        )
    if tracking:
        ModelPerformanceTracking.objects.bulk_create(
            tracking,
            update_conflicts=True,
            unique_fields=["model", "tracking_date"],
            update_fields=[
                "accuracy_today",
                "precision_today",
                "recall_today",
                "predictions_made",
                "predictions_correct",
                "false_positives",
                "errors_prevented",
                "updated_at",
            ],
        )
    return len(tracking)


@dataclass(frozen=True)
class TrackedPrecision:
    """Resolved positive predictions of a model and how many of them happened."""

    resolved_positives: int
    happened: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.happened, self.resolved_positives)


def tracked_precision(*, model_id: Any, since: datetime) -> TrackedPrecision:
    """The precision of a model's stored predictions at or above PREDICTION_THRESHOLD made
    since ``since``, over resolved ones only (one query)."""
    threshold = settings.ML_PREDICTION_CONFIG["PREDICTION_THRESHOLD"]
    qs = _with_verdicts(
        ErrorPrediction.objects.filter(
            model_id=model_id, created_at__gte=since, probability__gte=threshold
        )
    )
    counts = qs.aggregate(
        resolved=Count("pk", filter=HAPPENED | NOT_HAPPENED), happened=Count("pk", filter=HAPPENED)
    )
    return TrackedPrecision(resolved_positives=counts["resolved"], happened=counts["happened"])


@dataclass
class OutcomeResolution:
    """What `prediction_outcomes_resolve` did; ``days`` are the (day, model) pairs touched."""

    resolved: int = 0
    occurred: int = 0
    not_occurred: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    days: set[tuple[date, Any]] = field(default_factory=set)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def prediction_outcomes_resolve(
    *, now: datetime | None = None, service: str | None = None
) -> OutcomeResolution:
    """Record from the stored data whether each prediction whose horizon has ended came true.

    The definition is the one the model was trained on: "a burst of the target in the buckets
    after the one predicted from, up to the end of the horizon", with the burst thresholds
    kept in the model's own artifact (loaded through the registry, sha256-verified), over the
    same bucket frame the analysis reads (`engines.predictor.first_burst`). Only predictions
    without an outcome are touched: a person's ``mark_occurred`` is never overwritten (and a
    person may still mark one resolved here as not occurred), verdicts live in their own table.
    Predictions whose model or artifact is gone, or whose target the model has no threshold
    for, stay unresolved (counted in ``skipped``). Horizons that ended within OUTCOME_LOOKBACK,
    at least OUTCOME_GRACE ago.
    """
    from ml_prediction.engines.predictor import first_burst
    from ml_prediction.engines.types import InsufficientData, ModelNotTrained
    from ml_prediction.models import MLModel
    from ml_prediction.services import registry
    from ml_prediction.services.features import bucket_frame_for_service

    now = now or timezone.now()
    result = OutcomeResolution()
    pending = ErrorPrediction.objects.filter(
        actual_error_occurred__isnull=True,
        model_id__isnull=False,
        predicted_timestamp__lte=now - OUTCOME_GRACE,
        predicted_timestamp__gte=now - OUTCOME_LOOKBACK,
    ).exclude(predicted_category="")
    if service:
        pending = pending.filter(service=service)
    by_model: dict[Any, list[ErrorPrediction]] = defaultdict(list)
    for prediction in pending.order_by("prediction_bucket").only(
        "prediction_id",
        "model_id",
        "service",
        "predicted_category",
        "prediction_bucket",
        "predicted_timestamp",
        "created_at",
    ):
        by_model[prediction.model_id].append(prediction)
    records = MLModel.objects.in_bulk(list(by_model))
    outcomes: list[ErrorPrediction] = []
    for model_id, predictions in by_model.items():
        record = records.get(model_id)
        try:
            if record is None:
                raise ModelNotTrained(f"model {model_id} is gone")
            artifact = registry.registry_load(record=record)
        except (ModelNotTrained, OSError) as exc:
            logger.warning("outcomes of model %s not resolved: %s", model_id, exc)
            result.skip("model artifact unavailable", len(predictions))
            continue
        thresholds = getattr(artifact, "thresholds", None)
        minutes = getattr(artifact, "bucket_minutes", None)
        if not thresholds or not minutes:
            result.skip("model has no burst thresholds", len(predictions))
            continue
        bucket = timedelta(minutes=minutes)
        frame = bucket_frame_for_service(
            service=record.service,
            start=min(p.prediction_bucket for p in predictions) + bucket,
            end=max(p.predicted_timestamp for p in predictions),
            bucket_minutes=minutes,
            percentiles=False,
        )
        for p in predictions:
            # the label's buckets: after the one predicted from, up to the horizon's end
            window = frame[
                (frame.index >= p.prediction_bucket + bucket)
                & (frame.index < p.predicted_timestamp)
            ]
            try:
                hit = first_burst(
                    window,
                    target=p.predicted_category,
                    thresholds=thresholds,
                    bucket_minutes=minutes,
                )
            except KeyError:
                result.skip("target without a burst threshold")
                continue
            except InsufficientData:
                result.skip("no buckets in the horizon")
                continue
            p.actual_error_occurred = hit is not None
            p.actual_occurred_at = hit.to_pydatetime() if hit is not None else None
            p.actual_outcome_source = OutcomeSource.DATA
            outcomes.append(p)
    if not outcomes:
        return result
    with transaction.atomic(using=ML_DB):
        # a person may have marked one meanwhile: write only rows still without an outcome
        still_open = set(
            ErrorPrediction.objects.select_for_update()
            .filter(pk__in=[p.pk for p in outcomes], actual_error_occurred__isnull=True)
            .values_list("pk", flat=True)
        )
        rows = [p for p in outcomes if p.pk in still_open]
        ErrorPrediction.objects.bulk_update(
            rows,
            ["actual_error_occurred", "actual_occurred_at", "actual_outcome_source"],
            batch_size=500,
        )
    for p in rows:
        result.resolved += 1
        result.occurred += bool(p.actual_error_occurred)
        result.days.add((timezone.localdate(p.created_at), p.model_id))
    result.not_occurred = result.resolved - result.occurred
    if rows:
        read_cache_bump()
    return result


def performance_tracking_update(*, days: list[date], now: datetime | None = None) -> dict[str, Any]:
    """Resolve ended predictions' outcomes from the data, then refresh the tracking of
    ``days`` and of every day whose predictions got an outcome (the daily beat task)."""
    resolution = prediction_outcomes_resolve(now=now)
    wanted = set(days) | {day for day, _ in resolution.days}
    rows = {d.isoformat(): performance_tracking_refresh(day=d) for d in sorted(wanted)}
    return {
        "rows": rows,
        "outcomes": {
            "resolved": resolution.resolved,
            "occurred": resolution.occurred,
            "not_occurred": resolution.not_occurred,
            "skipped": resolution.skipped,
        },
    }
