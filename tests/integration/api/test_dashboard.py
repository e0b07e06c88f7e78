"""GET /api/ml/dashboard/summary/: the guide's shape, bounded queries, cache invalidation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_summary_has_the_guides_shape_and_numbers(
    readonly_client, make_model, make_prediction, make_anomaly, make_action, make_run
):
    now = timezone.now()
    make_model()
    make_run()
    make_model(service="java", model_type="error_classifier", model_algorithm="xgboost")
    make_model(status="inactive")
    make_prediction(probability=0.9, alert_triggered=True, actual_error_occurred=True)
    make_prediction(probability=0.3)
    for days, probability in ((3, 0.8), (30, 0.99)):  # made from a bucket days ago
        made = now - timedelta(days=days)
        make_prediction(probability=probability, created_at=made, prediction_bucket=made)
    make_anomaly(alert_triggered=True)  # it paged
    two_days_ago = now - timedelta(days=2)
    make_anomaly(
        severity_level="medium",
        acknowledged=True,
        detected_at=two_days_ago,
        window_start=two_days_ago,
        window_end=two_days_ago + timedelta(minutes=5),
    )
    make_anomaly(is_anomaly=False, severity_level="low")
    make_action(status="executed", executed_at=now - timedelta(hours=1))

    body = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert set(body) >= {
        "timestamp",
        "health_score",
        "predictions",
        "anomalies",
        "models",
        "recent_activity",
    }
    assert body["timestamp"].endswith("Z")
    assert body["predictions"] == {
        "total": 3,
        "high_probability": 2,
        "alerts_triggered": 1,
        "accurate": 1,
    }
    assert body["anomalies"] == {"total": 2, "critical": 1, "unacknowledged": 1}
    assert body["models"]["active"] == 2
    assert [s["service"] for s in body["models"]["by_service"]] == ["django", "java"]
    assert body["recent_activity"] == {
        "predictions_24h": 2,
        "anomalies_24h": 1,
        "actions_executed_24h": 1,
    }
    # models active, an analysis in the last hour, one paged critical anomaly not acked (-5)
    assert body["health_score"] == 95
    assert body["health_deductions"] == [
        {"points": 5, "reason": "1 paged critical anomaly not acknowledged"}
    ]


def test_critical_history_that_never_paged_costs_no_health(
    readonly_client, make_model, make_anomaly, make_run
):
    """A backfill's or a deep analysis' critical buckets are history, and the buckets of an
    episode already paged for are duplicates: only a page nobody acknowledged is open."""
    make_model()
    make_run()
    for _ in range(6):
        make_anomaly()  # critical, unacknowledged, never paged

    body = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert body["anomalies"]["unacknowledged"] == 6
    assert body["health_score"] == 100 and body["health_deductions"] == []


def test_empty_system_is_unhealthy(readonly_client):
    body = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert body["health_score"] == 25
    assert [d["points"] for d in body["health_deductions"]] == [50, 25]
    assert "train_models" in body["health_deductions"][0]["reason"]
    assert body["models"] == {"active": 0, "by_service": []}


def test_summary_uses_a_bounded_number_of_queries(readonly_client, make_model, make_prediction):
    for service in ("django", "java", "vue", "react"):
        make_model(service=service)
        make_prediction(service=service)

    with CaptureQueriesContext(connections["ml_prediction"]) as ml_queries:
        response = readonly_client.get("/api/ml/dashboard/summary/")

    assert response.status_code == 200
    assert len(ml_queries) <= 5  # predictions, anomalies, models, actions, analysis runs


def test_summary_is_cached_and_invalidated_by_writes(ops_client, make_anomaly):
    from ml_prediction.models import AnomalyDetection

    anomaly = make_anomaly()
    before = ops_client.get("/api/ml/dashboard/summary/").json()
    # A write that sends no signal and bumps nothing leaves the cached summary as it was ...
    AnomalyDetection.objects.filter(pk=anomaly.pk).update(severity_level="warning")
    cached = ops_client.get("/api/ml/dashboard/summary/").json()
    # ... a saved row (post_save) and an acknowledgement through the API invalidate it (the
    # new row is another metric's: acknowledging the first acknowledges only its own incident)
    make_anomaly(metric_name="response_time_p95")
    after_save = ops_client.get("/api/ml/dashboard/summary/").json()
    ops_client.post(f"/api/ml/anomalies/{anomaly.anomaly_id}/acknowledge/")
    after = ops_client.get("/api/ml/dashboard/summary/").json()

    assert (
        before["anomalies"]
        == cached["anomalies"]
        == {
            "total": 1,
            "critical": 1,
            "unacknowledged": 1,
        }
    )
    assert after_save["anomalies"] == {"total": 2, "critical": 1, "unacknowledged": 2}
    assert after["anomalies"] == {"total": 2, "critical": 1, "unacknowledged": 1}


def test_while_one_request_recomputes_others_get_the_previous_summary(
    readonly_client, make_anomaly
):
    from django.core.cache import cache

    from ml_prediction.services.cache import read_cache_bump

    previous = readonly_client.get("/api/ml/dashboard/summary/").json()
    make_anomaly()
    read_cache_bump()
    cache.set("ml-read-lock:dashboard-summary", 1, timeout=30)  # another worker is computing

    during = readonly_client.get("/api/ml/dashboard/summary/").json()
    cache.delete("ml-read-lock:dashboard-summary")
    after = readonly_client.get("/api/ml/dashboard/summary/").json()

    assert during == previous
    assert during["anomalies"]["total"] == 0
    assert after["anomalies"]["total"] == 1
