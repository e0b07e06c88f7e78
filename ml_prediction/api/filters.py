"""Query-parameter filters of the list endpoints, and the check that every query parameter is one
the endpoint reads.

Every parameter with a closed set of values is validated: an unknown value is a 400 naming the
parameter and the accepted values (django-filter reports an invalid form), never a silently
empty or unfiltered list. A parameter the endpoint does not read (``?servce=django``) is a 400
too: ignoring it would answer the unfiltered list as if it were the filtered one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import ChoiceField as FilterChoiceField
from rest_framework.exceptions import ValidationError

from feeding_hearts.catalog import LEVELS, SERVICE_CHOICES
from ml_prediction.engines.actions import ACTION_CATALOGUE
from ml_prediction.models import (
    AIInsight,
    AnalysisRun,
    AnomalyDetection,
    AuditEvent,
    ErrorPrediction,
    MLModel,
    PreventiveAction,
    TimeSeriesForecast,
)
from ml_prediction.services.audit import AUDIT_ACTIONS

LEVEL_CHOICES = [(level, level) for level in LEVELS]
BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]
# The insight types services/insights.py produces (its module docstring lists them; a test
# keeps this list and that module in agreement).
INSIGHT_TYPES = ("rising_trend", "recurring_pattern", "capacity_warning", "hotspot", "model_drift")
ACTION_TYPE_CHOICES = [(name, name) for name in ACTION_CATALOGUE]
INSIGHT_TYPE_CHOICES = [(name, name) for name in INSIGHT_TYPES]
AUDIT_ACTION_CHOICES = [(name, name) for name in AUDIT_ACTIONS]


class FilterSet(django_filters.FilterSet):
    """A FilterSet whose form class is built once per class, not on every request.

    django-filter creates a new form class per request from the filters; the filters of these
    sets are static (fixed choices), so one class per filter set gives the same validation.
    """

    _form_classes: ClassVar[dict[type, type]] = {}

    def get_form_class(self) -> type:
        cls = type(self)
        form_class = FilterSet._form_classes.get(cls)
        if form_class is None:
            base = super().get_form_class()
            form_class = type(base.__name__, (base,), {"clean": _refuse_repeated_parameters})
            FilterSet._form_classes[cls] = form_class
        return form_class


def _refuse_repeated_parameters(form: Any) -> dict[str, Any]:
    """A parameter given twice (``?service=java&service=vue``) is a 400: the form would keep
    one of them silently and the client would read one service's list as both services'."""
    cleaned = super(type(form), form).clean()
    getlist = getattr(form.data, "getlist", None)
    if getlist is not None:
        for name in form.fields:
            values = getlist(name)
            if len(values) > 1:
                # params, not an f-string: the message is %-formatted later (a "%" in a value)
                form.add_error(
                    name,
                    forms.ValidationError(
                        "given %(times)s times (%(values)s); a list is filtered by one value of "
                        "each parameter.",
                        code="repeated",
                        params={"times": len(values), "values": ", ".join(values)},
                    ),
                )
    return cleaned


def refuse_unknown_parameters(params: Mapping[str, Any], *, accepted: Iterable[str]) -> None:
    """A query parameter the endpoint does not read is a 400 naming it and listing the accepted
    ones, like an unknown body field: a misspelt filter (``servce``) would otherwise be dropped
    and the unfiltered list read as the filtered one."""
    accepted = list(dict.fromkeys(accepted))
    unknown = [name for name in params if name not in accepted]
    if unknown:
        listed = ", ".join(accepted) or "none"
        message = f"unknown query parameter; accepted parameters: {listed}."
        raise ValidationError({name: [message] for name in unknown})


class OneOfChoiceField(FilterChoiceField):
    """A filter choice whose error names the accepted values, in the words of the body fields'
    ``OneOfField`` ("must be one of: …"), instead of Django's "Select a valid choice"."""

    def validate(self, value: Any) -> None:
        try:
            super().validate(value)
        except forms.ValidationError as exc:
            if exc.code != "invalid_choice":
                raise
            # Read when refused, not when the form class was built: the forecast metrics
            # follow ML_CAPACITY_LIMITS.
            accepted = ", ".join(str(key) for key, _label in self.choices if key != "")
            shown = str(value) if len(str(value)) <= 60 else f"{str(value)[:60]}…"
            # params, not an f-string: the message is %-formatted later (a "%" in the value)
            raise forms.ValidationError(
                "must be one of: %(accepted)s; got %(value)r.",
                code="invalid_choice",
                params={"accepted": accepted, "value": shown},
            ) from None


class ChoiceFilter(django_filters.ChoiceFilter):
    """django-filter's choice filter with the readable error of ``OneOfChoiceField``."""

    field_class = OneOfChoiceField


class StrictBooleanFilter(ChoiceFilter):
    """``true``/``false`` only; anything else is a 400 (django-filter's own ignores junk)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", BOOLEAN_CHOICES)
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": value == "true"})


class MLModelFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    model_type = ChoiceFilter(choices=MLModel.ModelType.choices)
    status = ChoiceFilter(choices=MLModel.Status.choices)

    class Meta:
        model = MLModel
        fields = ["service", "model_type", "status"]


class PredictionFilter(FilterSet):
    """``hours`` is applied by the selector (it has a default); here it is only validated."""

    service = ChoiceFilter(choices=SERVICE_CHOICES)
    hours = django_filters.NumberFilter(
        method="_validated_elsewhere",
        min_value=1,
        max_value=24 * 366,
        help_text="Predictions made in the last N hours (default 24).",
    )
    high_probability_only = StrictBooleanFilter(
        method="_high_probability_only",
        help_text="true: only probability >= HIGH_PROBABILITY_THRESHOLD.",
    )
    predicted_severity = ChoiceFilter(choices=LEVEL_CHOICES)

    class Meta:
        model = ErrorPrediction
        fields = ["service", "hours", "high_probability_only", "predicted_severity"]

    def _validated_elsewhere(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset

    def _high_probability_only(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value != "true":
            return queryset
        from django.conf import settings

        threshold = settings.ML_PREDICTION_CONFIG["HIGH_PROBABILITY_THRESHOLD"]
        return queryset.filter(probability__gte=threshold)


class AnomalyFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    severity_level = ChoiceFilter(choices=LEVEL_CHOICES)
    is_anomaly = StrictBooleanFilter()
    acknowledged = StrictBooleanFilter()
    anomaly_type = ChoiceFilter(choices=AnomalyDetection.AnomalyType.choices)

    class Meta:
        model = AnomalyDetection
        fields = ["service", "severity_level", "is_anomaly", "acknowledged", "anomaly_type"]


def forecast_metric_choices() -> list[tuple[str, str]]:
    """The series names the analysis forecasts: errors, the latency p95 and every metric with a
    capacity limit (read when asked, so a changed ML_CAPACITY_LIMITS applies)."""
    from django.conf import settings

    from ml_prediction.services.training import FORECAST_SERIES, LATENCY_FORECAST

    names = [*FORECAST_SERIES, LATENCY_FORECAST]
    names += [n for n in settings.ML_PREDICTION_CONFIG["CAPACITY_LIMITS"] if n not in names]
    return [(name, name) for name in names]


class ForecastFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    metric_name = ChoiceFilter(choices=forecast_metric_choices)
    is_at_risk = StrictBooleanFilter()

    class Meta:
        model = TimeSeriesForecast
        fields = ["service", "metric_name", "is_at_risk"]


class ActionFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    status = ChoiceFilter(choices=PreventiveAction.Status.choices)
    priority = ChoiceFilter(choices=LEVEL_CHOICES)
    action_type = ChoiceFilter(choices=ACTION_TYPE_CHOICES)

    class Meta:
        model = PreventiveAction
        fields = ["service", "status", "priority", "action_type"]


class InsightFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    insight_type = ChoiceFilter(choices=INSIGHT_TYPE_CHOICES)
    severity = ChoiceFilter(choices=AIInsight.Severity.choices)
    status = ChoiceFilter(choices=AIInsight.Status.choices)
    active_only = StrictBooleanFilter(
        method="_active_only", help_text="true: only insights with status active."
    )

    class Meta:
        model = AIInsight
        fields = ["service", "insight_type", "severity", "status", "active_only"]

    def _active_only(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(status=AIInsight.Status.ACTIVE) if value == "true" else queryset


class AuditFilter(FilterSet):
    actor = django_filters.CharFilter()
    action = ChoiceFilter(choices=AUDIT_ACTION_CHOICES)
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id"]


class AnalysisRunFilter(FilterSet):
    service = ChoiceFilter(choices=SERVICE_CHOICES)
    status = ChoiceFilter(choices=AnalysisRun.Status.choices)
    analysis_type = ChoiceFilter(choices=AnalysisRun.AnalysisType.choices)

    class Meta:
        model = AnalysisRun
        fields = ["service", "status", "analysis_type"]
