"""The API benchmark loads its tables with COPY and INSERT column lists of its own; a migration
that adds a NOT NULL column must fail here, not in the next `make bench` (it did once: the
load broke on actual_outcome_source for two days before anyone re-ran the benchmark)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db.models import NOT_PROVIDED

from ml_prediction.models import AnomalyDetection, ErrorPrediction, MLModel


@pytest.fixture(scope="module")
def api_bench(benchmark_script):
    return benchmark_script("api_bench")


def _columns(model) -> tuple[set[str], set[str]]:
    """(every column, the columns a row must name: NOT NULL without a database default)."""
    fields = model._meta.concrete_fields
    required = {f.column for f in fields if not f.null and f.db_default is NOT_PROVIDED}
    return {f.column for f in fields}, required


def _model_columns(api_bench) -> set[str]:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return set(api_bench._model_row("id", "django", "error_classifier", "xgboost", now))


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        (ErrorPrediction, lambda bench: set(bench.PREDICTION_COLUMNS)),
        (AnomalyDetection, lambda bench: set(bench.ANOMALY_COLUMNS)),
        (MLModel, _model_columns),
    ],
    ids=["error_predictions", "anomaly_detections", "ml_models"],
)
def test_the_loader_names_every_required_column_and_only_real_ones(api_bench, model, listed):
    every, required = _columns(model)
    columns = listed(api_bench)
    assert not required - columns, f"the API benchmark does not load {sorted(required - columns)}"
    assert not columns - every, f"the API benchmark loads unknown columns {sorted(columns - every)}"
