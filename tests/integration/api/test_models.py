"""GET /api/ml/models/ (filters, pagination), detail, performance, features."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import ModelPerformanceTracking
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

GUIDE_MODEL_KEYS = {
    "model_id",
    "model_name",
    "service",
    "model_type",
    "status",
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "last_trained_at",
    "features_count",
    "performance_summary",
}


def test_list_has_the_guides_shape(readonly_client, make_model):
    model = make_model()

    body = readonly_client.get("/api/ml/models/").json()

    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == 1
    row = body["results"][0]
    assert GUIDE_MODEL_KEYS <= set(row)
    assert row["model_id"] == str(model.model_id)
    assert row["accuracy"] == 0.85
    assert row["last_trained_at"].endswith("Z")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=laravel", {"b"}),
        ("model_type=error_classifier", {"c"}),
        ("status=inactive", {"b"}),
        ("service=django&status=active", {"a", "c"}),
    ],
)
def test_list_filters(readonly_client, make_model, query, expected):
    made = {
        "a": make_model(),
        "b": make_model(service="laravel", status="inactive"),
        "c": make_model(model_type="error_classifier", model_algorithm="xgboost"),
    }
    by_id = {str(m.model_id): name for name, m in made.items()}

    response = readonly_client.get(f"/api/ml/models/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "model_id")} == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("service=cobol", "service"),
        ("model_type=crystal_ball", "model_type"),
        ("status=sleeping", "status"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=100000", "page_size"),
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(readonly_client, query, parameter):
    response = readonly_client.get(f"/api/ml/models/?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith(f"{parameter}:")
    assert parameter in error["details"]


def test_pagination_pages_and_links(readonly_client, make_model):
    made = [make_model() for _ in range(5)]

    first = readonly_client.get("/api/ml/models/?page_size=2").json()
    second = readonly_client.get(first["next"]).json()
    third = readonly_client.get(second["next"]).json()
    past = readonly_client.get("/api/ml/models/?page_size=2&page=4")

    assert first["count"] == second["count"] == third["count"] == 5
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert second["previous"] is not None
    assert third["next"] is None
    seen = [r["model_id"] for page in (first, second, third) for r in page["results"]]
    assert sorted(seen) == sorted(str(m.model_id) for m in made)
    assert past.status_code == 404


def test_default_page_size_is_20(readonly_client, make_model):
    for _ in range(21):
        make_model()

    body = readonly_client.get("/api/ml/models/").json()

    assert len(body["results"]) == 20
    assert body["count"] == 21
    assert body["next"] is not None


def test_detail(readonly_client, make_model):
    model = make_model()

    body = readonly_client.get(f"/api/ml/models/{model.model_id}/").json()

    assert GUIDE_MODEL_KEYS <= set(body)
    assert body["feature_names"] == ["hour_of_day", "error_rate", "rt_p95"]


@pytest.mark.parametrize("suffix", ["", "performance/", "features/"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_or_invalid_model_id_is_404(readonly_client, suffix, bad_id):
    response = readonly_client.get(f"/api/ml/models/{bad_id}/{suffix}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_performance_has_current_metrics_and_recent_trend(readonly_client, make_model):
    model = make_model()
    today = timezone.now().date()
    ModelPerformanceTracking.objects.create(
        model=model,
        tracking_date=today,
        accuracy_today=0.85,
        predictions_made=245,
        predictions_correct=208,
    )
    ModelPerformanceTracking.objects.create(
        model=model, tracking_date=today - timedelta(days=1), accuracy_today=0.8
    )
    ModelPerformanceTracking.objects.create(
        model=model, tracking_date=today - timedelta(days=60), accuracy_today=0.1
    )

    body = readonly_client.get(f"/api/ml/models/{model.model_id}/performance/").json()

    assert body["model_id"] == str(model.model_id)
    assert body["model_name"] == model.model_name
    assert body["current_metrics"] == {
        "accuracy": 0.85,
        "precision": 0.82,
        "recall": 0.88,
        "f1_score": 0.85,
    }
    assert [p["date"] for p in body["recent_trend"]] == [
        today.isoformat(),
        (today - timedelta(days=1)).isoformat(),
    ]
    assert body["recent_trend"][0]["predictions_made"] == 245
    assert body["recent_trend"][0]["predictions_correct"] == 208


def test_features_sorted_by_importance(readonly_client, make_model):
    model = make_model()

    body = readonly_client.get(f"/api/ml/models/{model.model_id}/features/").json()

    assert body["features_count"] == 3
    assert [f["name"] for f in body["features"]] == ["error_rate", "rt_p95", "hour_of_day"]
    assert body["features"][0]["importance"] == 0.6
