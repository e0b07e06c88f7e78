"""Human feedback on ML results: occurrences, verdicts, acknowledgements, daily accuracy.

Each change is one transaction on the ML database plus an audit event; afterwards the cached
reads are invalidated and the day's ``ModelPerformanceTracking`` row of the prediction's model
is recomputed, so the performance endpoint shows the feedback at once.
"""

from __future__ import annotations

import uuid
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
    PredictionFeedback,
    PreventiveAction,
)
from ml_prediction.services.audit import audit_record
from ml_prediction.services.cache import read_cache_bump
from ml_prediction.services.errors import InvalidTransition, NotFound

ML_DB = "ml_prediction"
VERDICTS = tuple(PredictionFeedback.Verdict.values)
# Clock skew tolerated between the reporting client and us, on either side of the window an
# occurrence may fall in (the prediction's horizon, and not later than now).
CLOCK_SKEW = timedelta(minutes=5)


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


def _stored_error_time(*, error_id: uuid.UUID, prediction: ErrorPrediction) -> datetime:
    """When the reported error happened, by its stored row: it must be an ErrorLog of the
    prediction's service whose own ``occurred_at`` lies in the prediction's horizon.

    The caller's ``timestamp`` alone is no proof: an error from a day after the horizon, with
    an in-horizon timestamp claimed for it, would count the prediction as a true positive.
    ErrorLog lives on the default database: a lookup by id, no cross-database relation.
    """
    from error_logging.models import ErrorLog

    found = ErrorLog.objects.filter(error_id=error_id).values_list("service", "occurred_at").first()
    if found is None:
        raise FeedbackValidationError("error_id", f"no stored error with id {error_id}.")
    service, occurred_at = found
    if service != prediction.service:
        raise FeedbackValidationError(
            "error_id",
            f"error {error_id} belongs to {service}, not to the prediction's {prediction.service}.",
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
        prediction.save(
            update_fields=["actual_error_occurred", "actual_error_id", "actual_occurred_at"]
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
        anomaly.acknowledged = True
        anomaly.acknowledged_by = actor
        anomaly.acknowledged_at = timezone.now()
        anomaly.save(update_fields=["acknowledged", "acknowledged_by", "acknowledged_at"])
        audit_record(
            actor=actor,
            action="anomaly.acknowledge",
            object_type="anomaly",
            object_id=anomaly.anomaly_id,
            service=anomaly.service,
        )
    _after_change(None)
    return anomaly


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def performance_tracking_refresh(*, day: date, model_ids: list[Any] | None = None) -> int:
    """Recompute the daily ``ModelPerformanceTracking`` rows for predictions made on ``day``.

    A prediction is *positive* when its probability reaches PREDICTION_THRESHOLD. Outcomes:
    occurred (``mark_occurred``) or a true-positive verdict → the error happened; a
    false-positive verdict, ``actual_error_occurred=False``, or a predicted time that has passed
    with no occurrence → it did not. Predictions still in their horizon are not counted as
    resolved. ``predictions_correct`` = true positives + true negatives; ``errors_prevented`` =
    positive predictions that did not happen although a preventive action was executed for them.
    One grouped query, then one upsert; returns the number of rows written.
    """
    now = timezone.now()
    threshold = settings.ML_PREDICTION_CONFIG["PREDICTION_THRESHOLD"]
    start = timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
    end = start + timedelta(days=1)
    verdicts = PredictionFeedback.objects.filter(prediction_id=OuterRef("pk"))
    qs = ErrorPrediction.objects.filter(
        created_at__gte=start, created_at__lt=end, model_id__isnull=False
    )
    if model_ids is not None:
        qs = qs.filter(model_id__in=model_ids)
    qs = qs.annotate(
        said_tp=Exists(verdicts.filter(verdict=PredictionFeedback.Verdict.TRUE_POSITIVE)),
        said_fp=Exists(verdicts.filter(verdict=PredictionFeedback.Verdict.FALSE_POSITIVE)),
        acted=Exists(
            PreventiveAction.objects.filter(
                prediction_id=OuterRef("pk"), status=PreventiveAction.Status.EXECUTED
            )
        ),
    )
    happened = Q(actual_error_occurred=True) | Q(said_tp=True)
    not_happened = ~happened & (
        Q(said_fp=True) | Q(actual_error_occurred=False) | Q(predicted_timestamp__lt=now)
    )
    positive = Q(probability__gte=threshold)
    rows = (
        qs.order_by()
        .values("model_id")
        .annotate(
            made=Count("pk"),
            tp=Count("pk", filter=positive & happened),
            fp=Count("pk", filter=positive & not_happened),
            tn=Count("pk", filter=~positive & not_happened),
            fn=Count("pk", filter=~positive & happened),
            prevented=Count("pk", filter=positive & not_happened & Q(acted=True)),
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
                recall_today=_ratio(tp, tp + fn),
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
