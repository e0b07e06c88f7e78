"""The router sends the ML app to its own database and refuses relations across the two."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import router

ML_MODELS = [m for m in apps.get_app_config("ml_prediction").get_models()]
DEFAULT_MODELS = [m for m in apps.get_app_config("error_logging").get_models()] + [get_user_model()]


@pytest.mark.parametrize("model", ML_MODELS, ids=lambda m: m.__name__)
def test_ml_models_read_write_and_migrate_on_ml_database(model):
    assert router.db_for_read(model) == "ml_prediction"
    assert router.db_for_write(model) == "ml_prediction"
    assert router.allow_migrate("ml_prediction", "ml_prediction", model_name=model._meta.model_name)
    assert not router.allow_migrate("default", "ml_prediction", model_name=model._meta.model_name)


@pytest.mark.parametrize("model", DEFAULT_MODELS, ids=lambda m: m.__name__)
def test_other_models_live_on_default(model):
    assert router.db_for_read(model) == "default"
    assert router.db_for_write(model) == "default"
    assert router.allow_migrate("default", model._meta.app_label)
    assert not router.allow_migrate("ml_prediction", model._meta.app_label)


def test_relations_within_a_database_allowed_and_across_refused():
    from error_logging.models import ErrorLog, IngestKey
    from ml_prediction.models import AnomalyDetection, MLModel

    assert router.allow_relation(MLModel(), AnomalyDetection())
    assert router.allow_relation(ErrorLog(), IngestKey())
    assert not router.allow_relation(MLModel(), ErrorLog())
    assert not router.allow_relation(IngestKey(), AnomalyDetection())


def test_ml_tables_use_the_guides_names():
    names = {m._meta.db_table for m in ML_MODELS}
    assert {
        "ml_models",
        "anomaly_detections",
        "error_predictions",
        "time_series_forecasts",
        "model_training_history",
        "preventive_actions",
        "ai_insights",
        "model_performance_tracking",
        "prediction_feedback",
    } <= names


def test_no_foreign_key_crosses_databases():
    for model in ML_MODELS + DEFAULT_MODELS:
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if related is None or not getattr(field, "concrete", False):
                continue
            assert router.db_for_write(related) == router.db_for_write(model), (model, field)
