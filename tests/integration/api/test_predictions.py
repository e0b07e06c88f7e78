"""Predictions: list (service, hours, high_probability_only), high_risk, trigger_alert,
mark_occurred, feedback."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.models import AlertNotification, AuditEvent, PredictionFeedback
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

GUIDE_PREDICTION_KEYS = {
    "prediction_id",
    "service",
    "predicted_error_type",
    "predicted_severity",
    "probability",
    "time_horizon_minutes",
    "predicted_timestamp",
    "affected_users_count",
    "recommended_actions",
    "alert_triggered",
    "alert_sent_at",
}


def test_list_has_the_guides_shape(readonly_client, make_prediction):
    prediction = make_prediction()

    body = readonly_client.get("/api/ml/predictions/").json()

    assert body["count"] == 1
    row = body["results"][0]
    assert GUIDE_PREDICTION_KEYS <= set(row)
    assert row["prediction_id"] == str(prediction.prediction_id)
    assert isinstance(row["probability"], float)
    assert row["predicted_timestamp"].endswith("Z")
    assert row["recommended_actions"] == [{"action_type": "increase_pool"}]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"recent_high", "recent_low", "laravel"}),
        ("service=laravel", {"laravel"}),
        ("hours=72", {"recent_high", "recent_low", "laravel", "two_days"}),
        ("hours=1", {"recent_high", "recent_low", "laravel"}),
        ("high_probability_only=true", {"recent_high", "laravel"}),
        ("high_probability_only=false", {"recent_high", "recent_low", "laravel"}),
        ("predicted_severity=low", {"recent_low"}),
    ],
)
def test_list_filters(readonly_client, make_prediction, query, expected):
    now = timezone.now()
    made = {
        "recent_high": make_prediction(probability=0.9),
        "recent_low": make_prediction(probability=0.3, predicted_severity="low"),
        "laravel": make_prediction(service="laravel", probability=0.8),
        "two_days": make_prediction(created_at=now - timedelta(hours=48)),
    }
    by_id = {str(p.prediction_id): name for name, p in made.items()}

    response = readonly_client.get(f"/api/ml/predictions/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "prediction_id")} == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("hours=abc", "hours"),
        ("hours=0", "hours"),
        ("high_probability_only=maybe", "high_probability_only"),
        ("service=cobol", "service"),
    ],
)
def test_bad_filter_values_are_400(readonly_client, query, parameter):
    response = readonly_client.get(f"/api/ml/predictions/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_high_risk_lists_upcoming_high_probability_ones_most_likely_first(
    readonly_client, make_prediction
):
    now = timezone.now()
    top = make_prediction(probability=0.95)
    second = make_prediction(probability=0.8, service="java")
    make_prediction(probability=0.5)
    make_prediction(probability=0.99, predicted_timestamp=now - timedelta(minutes=1))

    body = readonly_client.get("/api/ml/predictions/high_risk/").json()
    java = readonly_client.get("/api/ml/predictions/high_risk/?service=java").json()

    assert [r["prediction_id"] for r in body["results"]] == [
        str(top.prediction_id),
        str(second.prediction_id),
    ]
    assert GUIDE_PREDICTION_KEYS <= set(body["results"][0])
    assert [r["prediction_id"] for r in java["results"]] == [str(second.prediction_id)]


def test_high_risk_is_cached_until_a_write_bumps_the_cache(readonly_client, make_prediction):
    from ml_prediction.models import ErrorPrediction
    from ml_prediction.services.cache import read_cache_bump

    # two predictions of one analysis (one bucket, two types)
    high = make_prediction(probability=0.95)
    low = make_prediction(
        probability=0.5, prediction_bucket=high.prediction_bucket, predicted_error_type="Other"
    )
    first = readonly_client.get("/api/ml/predictions/high_risk/").json()
    # A bulk write (as the orchestrator's upserts) sends no signal: the cache holds until a bump.
    ErrorPrediction.objects.filter(pk=low.pk).update(probability=0.96)

    cached = readonly_client.get("/api/ml/predictions/high_risk/").json()
    read_cache_bump()
    fresh = readonly_client.get("/api/ml/predictions/high_risk/").json()

    assert first["count"] == cached["count"] == 1
    assert fresh["count"] == 2


def test_trigger_alert_records_notifications(ops_client, make_prediction):
    prediction = make_prediction(probability=0.9)

    response = ops_client.post(f"/api/ml/predictions/{prediction.prediction_id}/trigger_alert/")

    assert response.status_code == 200
    body = response.json()
    assert body["prediction_id"] == str(prediction.prediction_id)
    assert body["alert_triggered"] is True
    assert [n["channel"] for n in body["notifications"]] == ["email"]
    stored = AlertNotification.objects.get(alert_id=body["notifications"][0]["alert_id"])
    assert stored.triggered_by == "ops"
    assert str(prediction.prediction_id) in stored.prediction_ids
    assert AuditEvent.objects.filter(
        action="prediction.trigger_alert", actor="ops", object_id=str(prediction.prediction_id)
    ).exists()


@pytest.mark.parametrize("bad_id", ["nope", str(uuid.uuid4())])
@pytest.mark.parametrize("verb", ["trigger_alert", "mark_occurred", "feedback"])
def test_writes_on_unknown_prediction_are_404(ops_client, bad_id, verb):
    body = {
        "error_id": str(uuid.uuid4()),
        "timestamp": "2024-01-15T11:45:30Z",
        "verdict": "true_positive",
    }

    response = ops_client.post(f"/api/ml/predictions/{bad_id}/{verb}/", body, format="json")

    assert response.status_code == 404


def test_mark_occurred_records_the_error_and_audits(ops_client, make_prediction, make_error):
    prediction = make_prediction()
    when = timezone.now().replace(microsecond=0)
    error_id = make_error(occurred_at=when).error_id

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/",
        {"error_id": str(error_id), "timestamp": when.isoformat()},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["actual_error_occurred"] is True
    assert body["actual_error_id"] == str(error_id)
    prediction.refresh_from_db()
    assert prediction.actual_occurred_at == when
    assert AuditEvent.objects.filter(
        action="prediction.mark_occurred", actor="ops", object_id=str(prediction.prediction_id)
    ).exists()


def test_mark_occurred_twice_is_409(ops_client, make_prediction, make_error):
    prediction = make_prediction()
    url = f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/"
    body = {"error_id": str(make_error().error_id), "timestamp": timezone.now().isoformat()}
    first = ops_client.post(url, body, format="json")

    again = ops_client.post(url, body, format="json")

    assert first.status_code == 200
    assert again.status_code == 409
    assert "already marked" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"timestamp": "2024-01-15T11:45:30Z"}, "error_id"),
        ({"error_id": "xyz", "timestamp": "2024-01-15T11:45:30Z"}, "error_id"),
        ({"error_id": "6f1c8f7e-1d1b-4c5e-9d55-1e0b6a7d2f10"}, "timestamp"),
        (
            {"error_id": "6f1c8f7e-1d1b-4c5e-9d55-1e0b6a7d2f10", "timestamp": "yesterday"},
            "timestamp",
        ),
        (
            {
                "error_id": "6f1c8f7e-1d1b-4c5e-9d55-1e0b6a7d2f10",
                "timestamp": "2999-01-01T00:00:00Z",
            },
            "timestamp",
        ),
    ],
)
def test_mark_occurred_bad_body_is_400_and_stores_nothing(
    ops_client, make_prediction, body, parameter
):
    prediction = make_prediction()

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/mark_occurred/", body, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is None
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("verdict", ["true_positive", "false_positive"])
def test_feedback_is_stored_and_audited(ops_client, make_prediction, verdict):
    prediction = make_prediction()

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/feedback/",
        {"verdict": verdict, "comment": "seen in prod"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["verdict"] == verdict
    assert body["created_by"] == "ops"
    stored = PredictionFeedback.objects.get(prediction_id=prediction.prediction_id)
    assert stored.comment == "seen in prod"
    assert AuditEvent.objects.filter(action="prediction.feedback", actor="ops").exists()


def test_feedback_with_unknown_verdict_is_400(ops_client, make_prediction):
    prediction = make_prediction()

    response = ops_client.post(
        f"/api/ml/predictions/{prediction.prediction_id}/feedback/",
        {"verdict": "meh"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("verdict:")
    assert not PredictionFeedback.objects.exists()


@pytest.mark.parametrize(
    "serializer_name", ["PredictionSerializer", "AnomalySerializer", "ActionSerializer"]
)
def test_fast_row_serializer_matches_drfs_output(
    serializer_name, make_prediction, make_anomaly, make_action
):
    from rest_framework import serializers as drf

    from ml_prediction.api import serializers as s

    row = {
        "PredictionSerializer": make_prediction,
        "AnomalySerializer": make_anomaly,
        "ActionSerializer": make_action,
    }[serializer_name]()
    serializer_class = getattr(s, serializer_name)
    columns = serializer_class.value_fields(type(row))
    as_dict = type(row).objects.filter(pk=row.pk).values(*columns).get()

    expected = drf.Serializer.to_representation(serializer_class(), row)

    assert serializer_class(row).data == expected
    assert serializer_class(as_dict).data == expected


def test_list_pages_are_cached_until_a_row_is_saved(readonly_client, make_prediction):
    from ml_prediction.models import ErrorPrediction

    kept = make_prediction(probability=0.7)
    first = readonly_client.get("/api/ml/predictions/?service=django").json()
    ErrorPrediction.objects.filter(pk=kept.pk).update(probability=0.1)  # no signal, no bump
    cached = readonly_client.get("/api/ml/predictions/?service=django").json()
    make_prediction(probability=0.8)  # a saved row invalidates every cached page
    fresh = readonly_client.get("/api/ml/predictions/?service=django").json()

    assert first == cached
    assert cached["results"][0]["probability"] == 0.7
    assert fresh["count"] == 2
    assert {r["probability"] for r in fresh["results"]} == {0.1, 0.8}
