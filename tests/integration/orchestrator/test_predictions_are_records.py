"""A stored prediction is a record: a re-run of its bucket (a manual trigger, run_analysis after
a retrain) keeps the model and probability it was paged and judged with."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _row(model, probability: float):
    from ml_prediction.models import ErrorPrediction

    bucket = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    return ErrorPrediction(
        model=model,
        service="django",
        predicted_error_type="ErrorBurst",
        predicted_category="incident",
        probability=probability,
        time_horizon_minutes=30,
        prediction_bucket=bucket,
        predicted_timestamp=bucket + timedelta(minutes=35),
    )


def test_a_re_run_with_a_newer_model_does_not_rewrite_a_judged_prediction():
    from ml_prediction.models import ErrorPrediction, MLModel, PredictionFeedback
    from ml_prediction.services.orchestrator import _upsert

    key = ("prediction_bucket", "predicted_error_type", "time_horizon_minutes")
    old_model, new_model = (
        MLModel.objects.create(
            model_name=f"django-error-classifier-v{v}",
            model_type="error_classifier",
            service="django",
            model_algorithm=algorithm,
            status="active",
        )
        for v, algorithm in ((2, "random_forest"), (3, "xgboost"))
    )
    first = _upsert(ErrorPrediction, "django", [_row(old_model, 0.7809)], key=key, update_fields=[])
    stored = ErrorPrediction.objects.get()
    PredictionFeedback.objects.create(prediction=stored, verdict="true_positive", created_by="ops")

    second = _upsert(
        ErrorPrediction, "django", [_row(new_model, 0.7916)], key=key, update_fields=[]
    )

    stored.refresh_from_db()
    assert first == second  # the re-run names the same row ...
    assert (stored.model_id, stored.probability) == (old_model.model_id, 0.7809)  # ... unchanged
    assert ErrorPrediction.objects.count() == 1
