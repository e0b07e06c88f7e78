"""forecasts/?metric_name= is a closed choice: the series the analysis forecasts."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_unknown_metric_name_is_a_400_naming_the_accepted_values(readonly_client):
    response = readonly_client.get("/api/ml/forecasts/?metric_name=bogus")

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("metric_name:")
    assert "bogus" in message


@pytest.mark.parametrize("name", ["error_count", "response_time_p95", "db_pool_in_use"])
def test_every_forecast_series_name_is_accepted(readonly_client, make_forecast, name):
    row = make_forecast(metric_name=name)

    response = readonly_client.get(f"/api/ml/forecasts/?metric_name={name}")

    assert response.status_code == 200
    assert [r["forecast_id"] for r in response.json()["results"]] == [str(row.forecast_id)]


def test_a_capacity_limited_metric_added_by_configuration_is_accepted(
    readonly_client, make_forecast, settings
):
    settings.ML_PREDICTION_CONFIG = {
        **settings.ML_PREDICTION_CONFIG,
        "CAPACITY_LIMITS": {**settings.ML_PREDICTION_CONFIG["CAPACITY_LIMITS"], "cpu": 90},
    }
    make_forecast(metric_name="cpu")

    response = readonly_client.get("/api/ml/forecasts/?metric_name=cpu")

    assert response.status_code == 200
    assert response.json()["count"] == 1
