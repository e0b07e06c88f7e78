"""Serializers: the guide's JSON shapes at the edge (UUID strings, ISO 8601 times, numbers).

Output serializers declare explicit fields (the OpenAPI schema is generated from them). Row
serializers of the list endpoints derive from ``RowSerializer``, whose ``to_representation`` runs
a per-class plan of plain converters instead of DRF's per-field machinery: the output is the same
JSON, at a fraction of the CPU per row (serialising was most of a list request's cost).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from rest_framework import serializers

from feeding_hearts.catalog import SERVICES
from ml_prediction.models import PredictionFeedback

ANALYSIS_TYPES = ("full", "quick", "deep")


def _datetime(value: Any) -> Any:
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _utc_text(value: Any) -> Any:
    """An ISO 8601 string stored inside JSON, rewritten in the API's UTC ``…Z`` form."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return _datetime(parsed) if parsed.tzinfo is not None else value


def _forecast_points(points: Any) -> Any:
    if not isinstance(points, list):
        return points
    return [
        {**point, "timestamp": _utc_text(point.get("timestamp"))}
        if isinstance(point, dict) and "timestamp" in point
        else point
        for point in points
    ]


class ForecastPointsField(serializers.JSONField):
    """``forecast_values``: the points as stored, their timestamps in the API's ``…Z`` form
    (the orchestrator stores Python's ``+00:00`` isoformat inside the JSON)."""

    def to_representation(self, value: Any) -> Any:
        return _forecast_points(value)


def _converter(field: serializers.Field) -> Callable[[Any], Any] | None:
    """A plain function with DRF's output for simple fields; None for anything else."""
    if isinstance(field, ForecastPointsField):
        return _forecast_points
    if isinstance(field, serializers.DateTimeField):
        return _datetime
    if isinstance(field, serializers.DateField):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(field, serializers.UUIDField | serializers.CharField):
        return lambda v: None if v is None else str(v)
    if isinstance(field, serializers.FloatField):
        return lambda v: None if v is None else float(v)
    if isinstance(field, serializers.IntegerField):
        return lambda v: None if v is None else int(v)
    if isinstance(
        field,
        serializers.BooleanField
        | serializers.JSONField
        | serializers.DictField
        | serializers.ListField,
    ):
        return lambda v: v
    return None


class RowSerializer(serializers.Serializer):
    # Read-only serializer of flat rows (model instances or dicts) with a precompiled plan. A
    # comment, not a docstring: drf-spectacular describes every subclass without a docstring
    # of its own by the nearest one in its MRO, and this one speaks to developers, not API
    # users (schema_hooks gives the row components their descriptions).

    _plans: ClassVar[dict[type, list[tuple[str, str, Callable[[Any], Any]]] | None]] = {}

    @classmethod
    def _plan(cls) -> list[tuple[str, str, Callable[[Any], Any]]] | None:
        if cls not in RowSerializer._plans:
            plan: list[tuple[str, str, Callable[[Any], Any]]] | None = []
            for name, field in cls._declared_fields.items():
                convert = _converter(field)
                if convert is None or (field.source and "." in field.source):
                    plan = None
                    break
                plan.append((name, field.source or name, convert))
            RowSerializer._plans[cls] = plan
        return RowSerializer._plans[cls]

    @classmethod
    def value_fields(cls, model: type) -> list[str] | None:
        """The columns to fetch with ``.values()`` when every field is a plain column of
        ``model`` (skipping model instantiation); None when some field is not."""
        plan = cls._plan()
        if plan is None:
            return None
        columns = {f.attname for f in model._meta.concrete_fields}
        attrs = [attr for _name, attr, _convert in plan]
        return attrs if set(attrs) <= columns else None

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self._plan()
        if plan is None:
            return super().to_representation(instance)
        if isinstance(instance, dict):
            return {name: convert(instance.get(attr)) for name, attr, convert in plan}
        return {name: convert(getattr(instance, attr)) for name, attr, convert in plan}


class InputSerializer(serializers.Serializer):
    """Base of every request-body serializer: a field it does not declare is a 400.

    DRF ignores unknown keys, so a misspelt optional field (``reslt`` for ``result``) would be
    dropped silently and the request would run with the default instead — for ``execute/`` that
    means automation runs. A body that is not a JSON object is a 400 saying so.
    """

    default_error_messages = {"invalid": "body must be a JSON object, got {datatype}."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                accepted = ", ".join(self.fields) or "none"
                raise serializers.ValidationError(
                    {name: [f"unknown field; accepted fields: {accepted}."] for name in unknown}
                )
        return super().to_internal_value(data)


class NoBodyInputSerializer(InputSerializer):
    """The body of an action that takes no input (``acknowledge/``, ``trigger_alert/``): empty
    or ``{}``; any field is refused like a typo elsewhere, not silently ignored."""


class OneOfField(serializers.ChoiceField):
    """A choice whose error lists the accepted values instead of echoing the input's repr
    (DRF says ``"['django']" is not a valid choice`` for a list)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        accepted = ", ".join(str(choice) for choice in self.choice_strings_to_values)
        self.error_messages["invalid_choice"] = f"must be one of: {accepted}."

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice")
        return super().to_internal_value(data)


# --- errors ----------------------------------------------------------------------------------
class ErrorInfoSerializer(serializers.Serializer):
    """What went wrong: a machine-readable code, a message that starts with the offending
    parameter or field, and the details per parameter or field."""

    code = serializers.CharField(
        help_text="invalid, not_authenticated, authentication_failed, permission_denied, "
        "not_found, conflict, throttled, analysis_failed, unavailable, server_error, …"
    )
    message = serializers.CharField(
        help_text="Human-readable; starts with the offending parameter or field "
        "(`service: must be one of: django, …`)."
    )
    details = serializers.JSONField(
        help_text='The errors per parameter or field (`{"service": ["…"]}`), or '
        '`{"detail": "…"}`; `{}` when there is nothing more to say.'
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    """Every 4xx and 5xx of the API: `{"error": {"code", "message", "details"}}`."""

    error = ErrorInfoSerializer()


# --- models ----------------------------------------------------------------------------------
class MLModelSerializer(RowSerializer):
    model_id = serializers.UUIDField()
    model_name = serializers.CharField()
    service = serializers.CharField()
    model_type = serializers.CharField()
    model_algorithm = serializers.CharField()
    framework = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1_score = serializers.FloatField(allow_null=True)
    last_trained_at = serializers.DateTimeField(allow_null=True)
    features_count = serializers.IntegerField()
    training_samples_count = serializers.IntegerField()
    performance_summary = serializers.DictField(read_only=True)
    created_at = serializers.DateTimeField()


class ModelComparedWithSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    algorithm = serializers.CharField(required=False)
    version = serializers.IntegerField(required=False)
    basis = serializers.CharField(
        help_text="`active model, same held-out rows`, `active model` or `same training run`."
    )


class ModelFeedbackLabelsSerializer(serializers.Serializer):
    labels = serializers.IntegerField(help_text="Feedback rows given to the training.")
    applied = serializers.IntegerField(help_text="Rows that matched a label of the window.")
    changed = serializers.IntegerField(help_text="Rows that changed at least one label.")
    overruled_by_data = serializers.IntegerField(
        help_text="'Did not happen' rows ignored: the data shows the burst happened."
    )
    changed_labels_train = serializers.IntegerField()
    changed_labels_calibration = serializers.IntegerField()
    heldout_not_applied = serializers.IntegerField(
        required=False,
        help_text="Rows on held-out test buckets: not applied, the held-out labels stay the "
        "data's (feedback teaches, it does not grade).",
    )
    changed_labels_test = serializers.IntegerField(
        required=False,
        help_text="Only on versions trained before held-out labels were kept as the data's: "
        "the held-out labels feedback changed.",
    )


class ModelTrainingSerializer(serializers.Serializer):
    """The training run that produced a model version and its promotion decision."""

    training_id = serializers.CharField()
    trained_at = serializers.DateTimeField(allow_null=True)
    promoted = serializers.BooleanField()
    promotion_reason = serializers.CharField()
    compared_with = ModelComparedWithSerializer(allow_null=True)
    feedback = ModelFeedbackLabelsSerializer(allow_null=True)


class MLModelDetailSerializer(MLModelSerializer):
    training = ModelTrainingSerializer(
        read_only=True,
        allow_null=True,
        default=None,
        help_text="How this version was trained and why it was (not) promoted; null when it "
        "was not trained by this system.",
    )
    config = serializers.DictField()
    metrics = serializers.DictField()
    feature_names = serializers.ListField(child=serializers.CharField())
    feature_importances = serializers.DictField(child=serializers.FloatField())
    artifact_sha256 = serializers.CharField()
    created_by = serializers.CharField()
    updated_at = serializers.DateTimeField()


class TrendPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    predictions_made = serializers.IntegerField()
    predictions_correct = serializers.IntegerField()
    false_positives = serializers.IntegerField()
    errors_prevented = serializers.IntegerField()


class CurrentMetricsSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1_score = serializers.FloatField(allow_null=True)


class ModelPerformanceSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    model_name = serializers.CharField()
    current_metrics = CurrentMetricsSerializer()
    recent_trend = TrendPointSerializer(many=True)


class FeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    importance = serializers.FloatField(allow_null=True)


class ModelFeaturesSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    model_name = serializers.CharField()
    features_count = serializers.IntegerField()
    features = FeatureSerializer(many=True)


# --- predictions -----------------------------------------------------------------------------
class _PredictionColumns(RowSerializer):
    # The stored columns of a prediction: their fast plan, and the ``.values()`` the list fetches.

    prediction_id = serializers.UUIDField()
    model_id = serializers.UUIDField(allow_null=True)
    service = serializers.CharField()
    predicted_error_type = serializers.CharField()
    predicted_category = serializers.CharField()
    predicted_severity = serializers.CharField()
    probability = serializers.FloatField()
    confidence_level = serializers.CharField(
        help_text="low, medium or high: by the probability, and `low` whatever the probability "
        "when the head has no held-out skill (`head_roc_auc` null or below ML_ALERT_MIN_HEAD_AUC)."
    )
    time_horizon_minutes = serializers.IntegerField()
    prediction_bucket = serializers.DateTimeField(
        help_text="The bucket the prediction was made from; `hours` filters on it."
    )
    predicted_timestamp = serializers.DateTimeField()
    affected_users_count = serializers.IntegerField(allow_null=True)
    contributing_factors = serializers.JSONField()
    root_cause_hypothesis = serializers.CharField()
    recommended_actions = serializers.JSONField()
    alert_triggered = serializers.BooleanField()
    alert_sent_at = serializers.DateTimeField(allow_null=True)
    actual_error_occurred = serializers.BooleanField(allow_null=True)
    actual_error_id = serializers.UUIDField(allow_null=True)
    actual_occurred_at = serializers.DateTimeField(allow_null=True)
    actual_outcome_source = serializers.CharField(
        help_text="Who recorded actual_error_occurred: `person` (mark_occurred), `data` (resolved "
        "from the stored errors once the horizon ended) or empty while unknown."
    )
    created_at = serializers.DateTimeField()


class _HeadRocAucField(serializers.FloatField):
    def get_attribute(self, instance: Any) -> Any:
        return self.parent.head_skill(instance).roc_auc


class _HeadBaseRateField(serializers.FloatField):
    def get_attribute(self, instance: Any) -> Any:
        return self.parent.head_skill(instance).base_rate


class _PagesField(serializers.BooleanField):
    def get_attribute(self, instance: Any) -> Any:
        return self.parent.head_skill(instance).pages


class _PredictionListSerializer(serializers.ListSerializer):
    # Reads the metrics of every model on the page in one query before the rows are written.

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if hasattr(data, "all") else data)
        self.child.remember_models(
            [row.get("model_id") if isinstance(row, dict) else row.model_id for row in rows]
        )
        return super().to_representation(rows)


class PredictionSerializer(_PredictionColumns):
    # What the held-out test of the prediction's head (target × horizon of its model) says:
    # not columns, so the fast plan covers the columns and ``to_representation`` adds these.

    head_roc_auc = _HeadRocAucField(
        read_only=True,
        allow_null=True,
        help_text="Held-out ROC-AUC of the head that made the prediction (the model's metrics "
        "`<target>@<horizon>.roc_auc`); null without a model or a measured AUC.",
    )
    head_base_rate = _HeadBaseRateField(
        read_only=True,
        allow_null=True,
        help_text="Share of the head's training buckets that were positive (the model's metrics "
        "`<target>@<horizon>.base_rate`): the probability it gives with no signal at all. Null "
        "without a model or for models trained before it was recorded.",
    )
    pages = _PagesField(
        read_only=True,
        help_text="Whether it may page: probability >= ML_ALERT_PROBABILITY, the head's "
        "ROC-AUC not below ML_ALERT_MIN_HEAD_AUC, and the probability at least "
        "ML_ALERT_MIN_LIFT times head_base_rate. Whether an alert went out is alert_triggered.",
    )

    class Meta:
        list_serializer_class = _PredictionListSerializer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics: dict[Any, dict[str, Any] | None] = {}

    @classmethod
    def _plan(cls) -> list[tuple[str, str, Callable[[Any], Any]]] | None:
        return _PredictionColumns._plan()

    def remember_models(self, model_ids: list[Any]) -> None:
        from ml_prediction.services.selectors import model_metrics

        wanted = {m for m in model_ids if m is not None and m not in self._metrics}
        found = model_metrics(model_ids=wanted)
        self._metrics.update({m: found.get(m) for m in wanted})  # a deleted model: None

    def head_skill(self, row: Any) -> Any:
        from ml_prediction.services.selectors import prediction_head_skill

        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        model_id = get("model_id")
        if model_id is not None and model_id not in self._metrics:
            self.remember_models([model_id])
        return prediction_head_skill(
            metrics=self._metrics.get(model_id),
            target=get("predicted_category"),
            horizon_minutes=get("time_horizon_minutes"),
            probability=get("probability"),
        )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        skill = self.head_skill(instance)
        data["head_roc_auc"] = skill.roc_auc
        data["head_base_rate"] = skill.base_rate
        data["pages"] = skill.pages
        return data


class MarkOccurredInputSerializer(InputSerializer):
    error_id = serializers.UUIDField(help_text="The ErrorLog error_id of the error that happened.")
    timestamp = serializers.DateTimeField(help_text="When it happened (ISO 8601).")


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string: DRF's CharField turns ``5`` or ``true`` into
    ``"5"``/``"True"``, storing a value the client did not write as text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                f"must be a string, got {type(data).__name__}.", code="invalid"
            )
        return super().to_internal_value(data)


class FeedbackInputSerializer(InputSerializer):
    verdict = OneOfField(choices=PredictionFeedback.Verdict.values)
    comment = StrictCharField(required=False, allow_blank=True, max_length=4000, default="")


class FeedbackSerializer(RowSerializer):
    feedback_id = serializers.UUIDField()
    prediction_id = serializers.UUIDField()
    verdict = serializers.CharField()
    comment = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()


class AlertNotificationSerializer(RowSerializer):
    alert_id = serializers.UUIDField()
    kind = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class TriggerAlertResultSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    alert_triggered = serializers.BooleanField()
    alert_sent_at = serializers.DateTimeField(allow_null=True)
    notifications = AlertNotificationSerializer(many=True)


# --- anomalies -------------------------------------------------------------------------------
class AnomalySerializer(RowSerializer):
    anomaly_id = serializers.UUIDField()
    model_id = serializers.UUIDField(allow_null=True)
    service = serializers.CharField()
    metric_name = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    observed_value = serializers.FloatField(allow_null=True)
    expected_value = serializers.FloatField(allow_null=True)
    anomaly_score = serializers.FloatField()
    is_anomaly = serializers.BooleanField()
    severity_level = serializers.CharField()
    anomaly_type = serializers.CharField()
    detection_state = serializers.CharField()
    detected_at = serializers.DateTimeField()
    # Per detector (zscore, isolation_forest, lof, stream; zscore alone while "learning"), each
    # on the anomaly_score scale: which one found the bucket rare.
    detector_scores = serializers.JSONField()
    contributing_features = serializers.JSONField()
    root_cause_hypothesis = serializers.CharField()
    root_cause_confidence = serializers.FloatField(allow_null=True)
    recommended_action = serializers.CharField()
    alert_triggered = serializers.BooleanField()
    acknowledged = serializers.BooleanField()
    acknowledged_by = serializers.CharField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


# --- forecasts -------------------------------------------------------------------------------
class ForecastSerializer(RowSerializer):
    forecast_id = serializers.UUIDField()
    model_id = serializers.UUIDField(allow_null=True)
    service = serializers.CharField()
    metric_name = serializers.CharField()
    model_algorithm = serializers.CharField()
    forecast_start = serializers.DateTimeField()
    forecast_end = serializers.DateTimeField()
    horizon_hours = serializers.IntegerField()
    interval_width = serializers.FloatField()
    forecast_values = ForecastPointsField(help_text="[{timestamp, value, lower, upper}, …]")
    trend_direction = serializers.CharField()
    predicted_peak_value = serializers.FloatField(allow_null=True)
    predicted_peak_at = serializers.DateTimeField(allow_null=True)
    capacity_limit = serializers.FloatField(allow_null=True)
    capacity_warning = serializers.CharField()
    is_at_risk = serializers.BooleanField()
    backtest_metrics = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ServiceForecastsSerializer(serializers.Serializer):
    service = serializers.CharField()
    count = serializers.IntegerField()
    results = ForecastSerializer(many=True)


# --- actions ---------------------------------------------------------------------------------
class ActionSerializer(RowSerializer):
    action_id = serializers.UUIDField()
    prediction_id = serializers.UUIDField(allow_null=True)
    anomaly_id = serializers.UUIDField(allow_null=True)
    service = serializers.CharField()
    action_type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    root_cause = serializers.CharField()
    priority = serializers.CharField()
    status = serializers.CharField()
    can_be_automated = serializers.BooleanField()
    estimated_impact = serializers.CharField()
    executed_by = serializers.CharField()
    executed_at = serializers.DateTimeField(allow_null=True)
    execution_result = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()


class ExecuteInputSerializer(InputSerializer):
    """``{"result": {}}`` says nothing about what was done: the view refuses it for a pending
    action (nothing is recorded as done that nobody did) after the state check, so executing an
    executed or skipped action stays a 409 whatever the body."""

    EMPTY_RESULT = (
        'must say what was done, e.g. {"success": true, "note": "pool raised to 40"}; an empty '
        "result would record the action as done with nothing to show for it. Leave result out "
        "to let automation run the action."
    )

    result = serializers.DictField(
        required=False,
        allow_empty=True,
        help_text='What a person did, e.g. {"success": true, "duration": 120, "impact_observed": '
        '"…"}; not empty (an empty one is a 400): records a manual execution. Leave it out to '
        "let automation (ML_AUTOMATION_ENABLED + a webhook for the action type, automatable "
        "actions only) carry the action out; without automation, leaving it out is a 400 "
        "(nothing would be done).",
    )


class SkipInputSerializer(InputSerializer):
    reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        default="",
        help_text="Why the action will not be done (kept in execution_result and the audit).",
    )


class PriorityGroupSerializer(serializers.Serializer):
    priority = serializers.CharField()
    count = serializers.IntegerField()
    results = ActionSerializer(many=True)


class ActionsByPrioritySerializer(serializers.Serializer):
    priorities = PriorityGroupSerializer(many=True)


# --- insights --------------------------------------------------------------------------------
class InsightSerializer(RowSerializer):
    insight_id = serializers.UUIDField()
    service = serializers.CharField()
    insight_type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    supporting_data = serializers.JSONField()
    recommendations = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class InsightServiceSummarySerializer(serializers.Serializer):
    service = serializers.CharField()
    total = serializers.IntegerField()
    critical = serializers.IntegerField()
    warning = serializers.IntegerField()
    unresolved = serializers.IntegerField()


class InsightSummarySerializer(serializers.Serializer):
    summary = InsightServiceSummarySerializer(many=True)


# --- audit -----------------------------------------------------------------------------------
class AuditEventSerializer(RowSerializer):
    audit_id = serializers.UUIDField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    service = serializers.CharField()
    outcome = serializers.CharField()
    details = serializers.JSONField()
    created_at = serializers.DateTimeField()


class AnalysisRunSerializer(RowSerializer):
    run_id = serializers.UUIDField()
    service = serializers.CharField()
    analysis_type = serializers.CharField()
    as_of = serializers.DateTimeField(help_text="End of the analysed window.")
    status = serializers.CharField()
    predicted = serializers.BooleanField(help_text="An error-prediction model scored this run.")
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField(allow_null=True)
    summary = serializers.JSONField(
        help_text="What the run stored (anomalies_detected, predictions_stored, "
        "forecasts_stored, actions_created), whether the service was learning, and the engines "
        "it skipped with the reason."
    )
    error = serializers.CharField(help_text="Why a failed run failed (the traceback is logged).")


# --- analysis --------------------------------------------------------------------------------
class TriggerAnalysisInputSerializer(InputSerializer):
    service = OneOfField(choices=SERVICES)
    analysis_type = OneOfField(choices=ANALYSIS_TYPES, default="full")


class TriggerAllInputSerializer(InputSerializer):
    analysis_type = OneOfField(choices=ANALYSIS_TYPES, default="full")


class PredictForErrorInputSerializer(InputSerializer):
    """The guide's webhook body, plus an optional ``analysis_type``."""

    error_id = serializers.UUIDField(required=False, help_text="The ErrorLog error_id.")
    error_type = serializers.CharField(required=False, max_length=255)
    service = OneOfField(choices=SERVICES)
    severity = serializers.CharField(required=False, max_length=20)
    analysis_type = OneOfField(choices=ANALYSIS_TYPES, default="full")


class AnalysisTaskSerializer(serializers.Serializer):
    service = serializers.CharField()
    task_id = serializers.CharField()


class AnalysisQueuedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued"])
    analysis_type = serializers.CharField()
    service = serializers.CharField(required=False)
    task_id = serializers.CharField(required=False)
    tasks = AnalysisTaskSerializer(many=True, required=False)


class AnalysisCompletedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["completed"])
    analysis_type = serializers.CharField()
    service = serializers.CharField(required=False)
    result = serializers.JSONField()


# --- dashboard -------------------------------------------------------------------------------
class _DashPredictions(serializers.Serializer):
    total = serializers.IntegerField()
    high_probability = serializers.IntegerField()
    alerts_triggered = serializers.IntegerField()
    accurate = serializers.IntegerField()


class _DashAnomalies(serializers.Serializer):
    total = serializers.IntegerField()
    critical = serializers.IntegerField()
    unacknowledged = serializers.IntegerField()


class _DashServiceModels(serializers.Serializer):
    service = serializers.CharField()
    active = serializers.IntegerField()
    avg_accuracy = serializers.FloatField(allow_null=True)
    last_trained_at = serializers.DateTimeField(allow_null=True)


class _DashHealthDeduction(serializers.Serializer):
    points = serializers.IntegerField()
    reason = serializers.CharField()


class _DashModels(serializers.Serializer):
    active = serializers.IntegerField()
    by_service = _DashServiceModels(many=True)


class _DashActivity(serializers.Serializer):
    predictions_24h = serializers.IntegerField()
    anomalies_24h = serializers.IntegerField()
    actions_executed_24h = serializers.IntegerField()


class DashboardSummarySerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    health_score = serializers.IntegerField()
    health_deductions = _DashHealthDeduction(
        many=True,
        help_text="What the score loses and why. Unlike /api/ml/health/ (the system's health, "
        "for probes), the dashboard's score also loses 5 per paged critical anomaly nobody "
        "acknowledged.",
    )
    window_days = serializers.IntegerField(help_text="Window of the predictions/anomalies totals.")
    predictions = _DashPredictions()
    anomalies = _DashAnomalies()
    models = _DashModels()
    recent_activity = _DashActivity()
