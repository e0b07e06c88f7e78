"""Forecasts: list, by-service/{service}/, at_risk/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_list_and_filters(readonly_client, make_forecast):
    django = make_forecast()
    java = make_forecast(service="java", metric_name="response_time_p95", is_at_risk=True)

    everything = readonly_client.get("/api/ml/forecasts/")
    only_java = readonly_client.get("/api/ml/forecasts/?service=java")
    by_metric = readonly_client.get("/api/ml/forecasts/?metric_name=error_count")
    at_risk = readonly_client.get("/api/ml/forecasts/?is_at_risk=true")

    assert ids(everything, "forecast_id") == {str(django.forecast_id), str(java.forecast_id)}
    assert ids(only_java, "forecast_id") == {str(java.forecast_id)}
    assert ids(by_metric, "forecast_id") == {str(django.forecast_id)}
    assert ids(at_risk, "forecast_id") == {str(java.forecast_id)}
    row = everything.json()["results"][0]
    assert {"forecast_values", "forecast_start", "forecast_end", "is_at_risk"} <= set(row)


def test_by_service_returns_the_newest_forecast_per_metric(readonly_client, make_forecast):
    now = timezone.now()
    make_forecast(created_at=now - timedelta(hours=2))
    newest = make_forecast(created_at=now)
    latency = make_forecast(metric_name="response_time_p95", created_at=now - timedelta(hours=5))
    make_forecast(service="vue")

    body = readonly_client.get("/api/ml/forecasts/by-service/django/").json()

    assert body["service"] == "django"
    assert body["count"] == 2
    assert [r["forecast_id"] for r in body["results"]] == [
        str(newest.forecast_id),
        str(latency.forecast_id),
    ]


def test_by_service_unknown_service_is_404(readonly_client):
    response = readonly_client.get("/api/ml/forecasts/by-service/cobol/")

    assert response.status_code == 404
    assert "cobol" in response.json()["error"]["message"]


def test_at_risk_lists_current_at_risk_forecasts(readonly_client, make_forecast):
    now = timezone.now()
    current = make_forecast(is_at_risk=True, capacity_limit=500, capacity_warning="over 500")
    # other metrics' newest forecasts: one whose horizon is over, one under its limit
    make_forecast(
        is_at_risk=True, forecast_end=now - timedelta(hours=1), metric_name="response_time_p95"
    )
    make_forecast(is_at_risk=False, metric_name="db_pool_in_use")

    response = readonly_client.get("/api/ml/forecasts/at_risk/")

    assert ids(response, "forecast_id") == {str(current.forecast_id)}


def test_forecast_filter_rejects_bad_boolean(readonly_client):
    response = readonly_client.get("/api/ml/forecasts/?is_at_risk=perhaps")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("is_at_risk:")
