"""The guide's ML tables (schema ``ai_models`` on the ML database).

Table and field names follow the guide. References to error logs (which live on the default
database) are plain UUID fields: the two databases never share a foreign key.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from feeding_hearts.catalog import SERVICE_CHOICES

LEVEL_CHOICES = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
]


class MLModel(models.Model):
    """A model in the registry: one row per trained version per service and model type."""

    class ModelType(models.TextChoices):
        ANOMALY_DETECTION = "anomaly_detection", "Anomaly detection"
        ERROR_CLASSIFIER = "error_classifier", "Error classifier"
        TIME_SERIES_FORECAST = "time_series_forecast", "Time series forecast"
        ROOT_CAUSE = "root_cause", "Root cause analysis"

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        ARCHIVED = "archived", "Archived"

    model_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model_name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=40, choices=ModelType.choices, db_index=True)
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    framework = models.CharField(max_length=100, blank=True, default="")
    model_algorithm = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.TRAINING, db_index=True
    )
    config = models.JSONField(default=dict, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    f1_score = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="All held-out metrics.")
    feature_names = models.JSONField(default=list, blank=True)
    feature_importances = models.JSONField(default=dict, blank=True)
    features_count = models.PositiveIntegerField(default=0)
    training_samples_count = models.PositiveIntegerField(default=0)
    artifact_path = models.CharField(max_length=500, blank=True, default="")
    artifact_sha256 = models.CharField(max_length=64, blank=True, default="")
    last_trained_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ml_models"
        ordering = ["service", "model_type", "-version"]
        permissions = [("ops", "Ops: act on predictions, anomalies, actions and analyses")]
        indexes = [models.Index(fields=["service", "model_type", "status"])]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.version} ({self.status})"

    @property
    def performance_summary(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "training_samples_count": self.training_samples_count,
            "version": self.version,
        }


class AnomalyDetection(models.Model):
    """One scored time bucket of one service (and metric)."""

    class AnomalyType(models.TextChoices):
        SPIKE = "spike", "Spike"
        DROP = "drop", "Drop"
        TREND_CHANGE = "trend_change", "Trend change"
        PATTERN_DEVIATION = "pattern_deviation", "Pattern deviation"

    class DetectionState(models.TextChoices):
        LEARNING = "learning", "Learning (cold start)"
        ACTIVE = "active", "Active"

    anomaly_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(
        MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="anomalies"
    )
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    metric_name = models.CharField(max_length=100, default="error_count")
    window_start = models.DateTimeField(db_index=True)
    window_end = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now, db_index=True)
    observed_value = models.FloatField(null=True, blank=True)
    expected_value = models.FloatField(null=True, blank=True)
    anomaly_score = models.FloatField()
    is_anomaly = models.BooleanField(default=False, db_index=True)
    severity_level = models.CharField(max_length=10, choices=LEVEL_CHOICES, db_index=True)
    anomaly_type = models.CharField(
        max_length=20, choices=AnomalyType.choices, blank=True, default=""
    )
    detection_state = models.CharField(
        max_length=10, choices=DetectionState.choices, default=DetectionState.ACTIVE
    )
    detector_scores = models.JSONField(default=dict, blank=True)
    contributing_features = models.JSONField(default=dict, blank=True)
    root_cause_hypothesis = models.TextField(blank=True, default="")
    root_cause_confidence = models.FloatField(null=True, blank=True)
    recommended_action = models.TextField(blank=True, default="")
    alert_triggered = models.BooleanField(default=False)
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged = models.BooleanField(default=False, db_index=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "anomaly_detections"
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "metric_name", "window_start"], name="uniq_anomaly_bucket"
            )
        ]
        indexes = [
            models.Index(fields=["service", "-detected_at"]),
            models.Index(fields=["is_anomaly", "acknowledged", "-detected_at"]),
            models.Index(fields=["severity_level", "-detected_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.anomaly_type or 'normal'} {self.anomaly_score:.2f}"


class OutcomeSource(models.TextChoices):
    PERSON = "person"
    DATA = "data"


class ErrorPrediction(models.Model):
    """A prediction that an error of a type will occur within a horizon."""

    prediction_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(
        MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    predicted_error_type = models.CharField(max_length=200)
    predicted_category = models.CharField(max_length=40, blank=True, default="")
    predicted_severity = models.CharField(max_length=10, choices=LEVEL_CHOICES, default="medium")
    probability = models.FloatField(db_index=True)
    confidence_level = models.CharField(max_length=10, blank=True, default="")
    time_horizon_minutes = models.PositiveIntegerField()
    prediction_bucket = models.DateTimeField(help_text="The bucket the prediction was made from.")
    predicted_timestamp = models.DateTimeField(db_index=True)
    contributing_factors = models.JSONField(default=list, blank=True)
    root_cause_hypothesis = models.TextField(blank=True, default="")
    recommended_actions = models.JSONField(default=list, blank=True)
    affected_users_count = models.PositiveIntegerField(null=True, blank=True)
    alert_triggered = models.BooleanField(default=False)
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    actual_error_occurred = models.BooleanField(null=True, blank=True)
    actual_error_id = models.UUIDField(null=True, blank=True, db_index=True)
    actual_occurred_at = models.DateTimeField(null=True, blank=True)
    # who recorded actual_error_occurred: a person (mark_occurred, a label the training learns
    # from) or the data once the horizon ended (prediction_outcomes_resolve, which tracking
    # counts but training does not: it is the training's own label definition again)
    actual_outcome_source = models.CharField(
        max_length=10, blank=True, default="", choices=OutcomeSource.choices
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "error_predictions"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "service",
                    "prediction_bucket",
                    "predicted_error_type",
                    "time_horizon_minutes",
                ],
                name="uniq_prediction_bucket",
            )
        ]
        indexes = [
            models.Index(fields=["service", "-created_at"]),
            models.Index(fields=["-probability", "-created_at"]),
            # "made in the last N hours" (hours=, the dashboard's predictions_24h) reads the
            # bucket a prediction was made from, across services
            models.Index(fields=["-prediction_bucket"], name="error_pred_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.predicted_error_type} p={self.probability:.2f}"


class TimeSeriesForecast(models.Model):
    """A forecast of one metric of one service, with its interval and capacity assessment."""

    forecast_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(
        MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="forecasts"
    )
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    metric_name = models.CharField(max_length=100, default="error_count")
    model_algorithm = models.CharField(max_length=100, blank=True, default="")
    forecast_start = models.DateTimeField(db_index=True)
    forecast_end = models.DateTimeField()
    horizon_hours = models.PositiveIntegerField(default=24)
    interval_width = models.FloatField(default=0.8)
    forecast_values = models.JSONField(
        default=list, help_text="[{timestamp, value, lower, upper}, …]"
    )
    trend_direction = models.CharField(max_length=20, blank=True, default="")
    predicted_peak_value = models.FloatField(null=True, blank=True)
    predicted_peak_at = models.DateTimeField(null=True, blank=True)
    capacity_limit = models.FloatField(null=True, blank=True)
    capacity_warning = models.TextField(blank=True, default="")
    is_at_risk = models.BooleanField(default=False, db_index=True)
    backtest_metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "time_series_forecasts"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "metric_name", "forecast_start"], name="uniq_forecast_start"
            )
        ]
        indexes = [models.Index(fields=["service", "-created_at"])]

    def __str__(self) -> str:
        return (
            f"{self.service} {self.metric_name} forecast from {self.forecast_start:%Y-%m-%d %H:%M}"
        )


class ModelTrainingHistory(models.Model):
    """One training run of one model type for one service."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    training_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(
        MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    model_type = models.CharField(max_length=40, choices=MLModel.ModelType.choices)
    model_algorithm = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    training_samples_count = models.PositiveIntegerField(default=0)
    validation_samples_count = models.PositiveIntegerField(default=0)
    final_accuracy = models.FloatField(null=True, blank=True)
    final_precision = models.FloatField(null=True, blank=True)
    final_recall = models.FloatField(null=True, blank=True)
    final_f1_score = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    promoted = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=100, blank=True, default="")
    worker_pid = models.IntegerField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "model_training_history"
        ordering = ["-started_at"]
        verbose_name_plural = "model training history"

    def __str__(self) -> str:
        return f"{self.service} {self.model_type} training {self.status}"


class PreventiveAction(models.Model):
    """A recommended (or executed) action that should prevent a predicted error."""

    class Status(models.TextChoices):
        RECOMMENDED = "recommended", "Recommended"
        SCHEDULED = "scheduled", "Scheduled"
        EXECUTED = "executed", "Executed"
        SKIPPED = "skipped", "Skipped"

    action_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prediction = models.ForeignKey(
        ErrorPrediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    anomaly = models.ForeignKey(
        AnomalyDetection, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    action_type = models.CharField(max_length=40, db_index=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    root_cause = models.CharField(max_length=100, blank=True, default="")
    priority = models.CharField(max_length=10, choices=LEVEL_CHOICES, db_index=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RECOMMENDED, db_index=True
    )
    can_be_automated = models.BooleanField(default=False)
    estimated_impact = models.TextField(blank=True, default="")
    dedup_key = models.CharField(max_length=200, blank=True, default="", db_index=True)
    executed_by = models.CharField(max_length=150, blank=True, default="")
    executed_at = models.DateTimeField(null=True, blank=True)
    execution_result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "preventive_actions"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "priority", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.service} {self.action_type} ({self.status})"

    def execute(self, executed_by: str, result: dict[str, Any] | None = None) -> PreventiveAction:
        """The guide's ``action.execute('django_automation')``; the work is in the actions service."""
        from ml_prediction.services.actions import action_execute

        return action_execute(action_id=self.action_id, executed_by=executed_by, result=result)


class AIInsight(models.Model):
    """A high-level finding with the numbers behind it."""

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    insight_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    insight_type = models.CharField(max_length=40, db_index=True)
    title = models.CharField(max_length=300)
    description = models.TextField()
    severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.INFO, db_index=True
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    supporting_data = models.JSONField(default=dict, blank=True)
    recommendations = models.JSONField(default=list, blank=True)
    dedup_key = models.CharField(max_length=200, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ai_insights"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["service", "status", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class ModelPerformanceTracking(models.Model):
    """Daily accuracy of a model, measured from feedback and outcomes."""

    tracking_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="performance")
    tracking_date = models.DateField(db_index=True)
    accuracy_today = models.FloatField(null=True, blank=True)
    precision_today = models.FloatField(null=True, blank=True)
    recall_today = models.FloatField(null=True, blank=True)
    predictions_made = models.PositiveIntegerField(default=0)
    predictions_correct = models.PositiveIntegerField(default=0)
    false_positives = models.PositiveIntegerField(default=0)
    errors_prevented = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "model_performance_tracking"
        ordering = ["-tracking_date"]
        constraints = [
            models.UniqueConstraint(fields=["model", "tracking_date"], name="uniq_model_day")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.tracking_date}"


class PredictionFeedback(models.Model):
    """A person's verdict on a prediction (true or false positive)."""

    class Verdict(models.TextChoices):
        TRUE_POSITIVE = "true_positive", "True positive"
        FALSE_POSITIVE = "false_positive", "False positive"

    feedback_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prediction = models.ForeignKey(
        ErrorPrediction, on_delete=models.CASCADE, related_name="feedback"
    )
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    comment = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "prediction_feedback"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.created_by}"


class AlertNotification(models.Model):
    """One alert decision and its delivery on one channel (email, slack) or its suppression."""

    class Kind(models.TextChoices):
        PREDICTION = "prediction", "Prediction"
        ANOMALY = "anomaly", "Anomaly"
        DIGEST = "digest", "Digest"
        RESOLVED = "resolved", "Resolved (all-clear)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"

    alert_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=20, blank=True, default="")
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES, db_index=True)
    error_type = models.CharField(max_length=200, blank=True, default="")
    dedup_key = models.CharField(max_length=300, db_index=True)
    severity = models.CharField(max_length=10, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    prediction_ids = models.JSONField(default=list, blank=True)
    anomaly_ids = models.JSONField(default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    triggered_by = models.CharField(max_length=150, blank=True, default="system")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "alert_notifications"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["dedup_key", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} {self.service} {self.status}"


class AuditEvent(models.Model):
    """Who did what to which object, and when: acknowledgements, feedback, executions, triggers."""

    audit_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    service = models.CharField(max_length=20, blank=True, default="")
    outcome = models.CharField(max_length=20, default="ok")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_type}"


class AnalysisRun(models.Model):
    """One analysis of one service, whatever it found.

    Results alone cannot say that an analysis ran: a quiet service stores no prediction, and a
    service without a forecaster stores no forecast either. This row is the record that it ran
    (health), of which stored predictions a later run no longer made (the current-risk lists),
    of how long it took and of why it failed.
    """

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class AnalysisType(models.TextChoices):
        QUICK = "quick", "Quick (anomalies only)"
        FULL = "full", "Full"
        DEEP = "deep", "Deep (every episode explained)"

    run_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.CharField(max_length=20, choices=SERVICE_CHOICES)
    analysis_type = models.CharField(max_length=10, choices=AnalysisType.choices)
    as_of = models.DateTimeField(help_text="End of the analysed window (a bucket boundary).")
    status = models.CharField(max_length=20, choices=Status.choices)
    predicted = models.BooleanField(
        default=False, help_text="An error-prediction model scored this run."
    )
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_ms = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "analysis_runs"
        ordering = ["-completed_at"]
        indexes = [models.Index(fields=["service", "-as_of"])]

    def __str__(self) -> str:
        return f"{self.service} {self.analysis_type} analysis as of {self.as_of:%Y-%m-%d %H:%M}"
