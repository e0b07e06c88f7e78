"""Query parameters an endpoint does not read are a 400 naming them and listing the accepted
ones (a misspelt filter is never dropped silently); choice and boolean filters name their
accepted values."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _error(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]


def test_a_misspelt_filter_is_a_400_not_the_unfiltered_list(readonly_client, make_anomaly):
    make_anomaly(service="django")
    make_anomaly(service="java")

    response = readonly_client.get("/api/ml/anomalies/?servce=django&is_anomaly=true")

    error = _error(response)
    assert error["message"] == (
        "servce: unknown query parameter; accepted parameters: service, severity_level, "
        "is_anomaly, acknowledged, anomaly_type, page, page_size, format."
    )
    assert list(error["details"]) == ["servce"]


def test_an_unknown_parameter_of_the_models_list_is_a_400(readonly_client, make_model):
    make_model()

    error = _error(readonly_client.get("/api/ml/models/?foo=bar"))

    assert error["message"].startswith("foo: unknown query parameter; accepted parameters: ")
    assert "service, model_type, status, page, page_size, format." in error["message"]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("/api/ml/predictions/?hour=2", {"hours", "high_probability_only", "page", "format"}),
        ("/api/ml/predictions/high_risk/?hour=2", {"hours", "predicted_severity", "page_size"}),
        ("/api/ml/anomalies/critical/?x=1", {"service", "is_anomaly", "page"}),
        ("/api/ml/forecasts/at_risk/?metric=error_count", {"metric_name", "is_at_risk"}),
        ("/api/ml/actions/pending/?type=restart", {"action_type", "priority"}),
        ("/api/ml/insights/active/?activeonly=true", {"active_only", "insight_type"}),
        ("/api/ml/analysis-runs/?state=failed", {"status", "analysis_type"}),
        ("/api/ml/audit/?user=ops", {"actor", "action", "object_type", "object_id"}),
    ],
)
def test_every_list_refuses_unknown_parameters(ops_client, url, accepted):
    error = _error(ops_client.get(url))

    name = url.split("?")[1].split("=")[0]
    listed = error["message"].split("accepted parameters: ")[1].rstrip(".").split(", ")
    assert error["message"].startswith(f"{name}: unknown query parameter")
    assert accepted <= set(listed)


@pytest.mark.parametrize(
    "url",
    [
        "/api/ml/actions/by_priority/?service=django&page=2",  # not paginated
        "/api/ml/insights/by_service/?service=django",  # takes no filters
        "/api/ml/forecasts/by-service/django/?metric_name=error_count",
        "/api/ml/dashboard/summary/?service=django",
    ],
)
def test_endpoints_refuse_parameters_they_do_not_read(readonly_client, url):
    error = _error(readonly_client.get(url))

    assert error["message"].split(":")[0] in url


def test_a_detail_refuses_the_lists_filters(readonly_client, make_model):
    model = make_model()

    error = _error(readonly_client.get(f"/api/ml/models/{model.model_id}/?service=django"))

    assert error["message"] == "service: unknown query parameter; accepted parameters: format."


def test_a_state_change_refuses_query_parameters(ops_client, make_anomaly):
    anomaly = make_anomaly()

    response = ops_client.post(f"/api/ml/anomalies/{anomaly.anomaly_id}/acknowledge/?force=1")

    assert _error(response)["message"].startswith("force: unknown query parameter")
    anomaly.refresh_from_db()
    assert anomaly.acknowledged is False


def test_several_unknown_parameters_are_all_named(readonly_client):
    error = _error(readonly_client.get("/api/ml/models/?foo=1&bar=2"))

    assert error["message"].startswith("foo, bar: unknown query parameter; accepted parameters:")
    assert set(error["details"]) == {"foo", "bar"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/ml/models/?service=django&model_type=anomaly_detection&status=active&page=1"
        "&page_size=20&format=json",
        "/api/ml/predictions/?service=django&hours=24&high_probability_only=true"
        "&predicted_severity=high",
        "/api/ml/anomalies/?service=laravel&severity_level=critical&is_anomaly=true"
        "&acknowledged=false&anomaly_type=spike",
        "/api/ml/forecasts/?service=django&metric_name=error_count&is_at_risk=true",
        "/api/ml/actions/?status=recommended&priority=high&action_type=increase_pool",
        "/api/ml/actions/by_priority/?service=django",
        "/api/ml/insights/?service=django&insight_type=rising_trend&severity=critical"
        "&status=active&active_only=true",
        "/api/ml/analysis-runs/?service=java&status=failed&analysis_type=full",
        "/api/ml/audit/?actor=alice&action=anomaly.acknowledge&object_type=anomaly&object_id=x",
        "/api/ml/dashboard/summary/?format=json",
    ],
)
def test_the_documented_parameters_are_accepted(ops_client, url):
    assert ops_client.get(url).status_code == 200


def test_an_anonymous_request_is_still_a_401_first(anon_client):
    assert anon_client.get("/api/ml/models/?foo=bar").status_code == 401


@pytest.mark.parametrize(
    ("url", "parameter", "accepted"),
    [
        ("/api/ml/models/?service=cobol", "service", "django, laravel, java, react"),
        ("/api/ml/insights/?severity=high", "severity", "info, warning, critical"),
        ("/api/ml/actions/?action_type=reboot", "action_type", "scale_up, restart"),
        ("/api/ml/forecasts/?metric_name=cpu", "metric_name", "error_count, response_time_p95"),
        ("/api/ml/predictions/?high_probability_only=yes", "high_probability_only", "true, false"),
        ("/api/ml/anomalies/?is_anomaly=1", "is_anomaly", "true, false"),
    ],
)
def test_choice_and_boolean_filter_errors_list_the_accepted_values(
    readonly_client, url, parameter, accepted
):
    message = _error(readonly_client.get(url))["message"]

    value = url.split("=")[1]
    assert message.startswith(f"{parameter}: must be one of: {accepted}")
    assert message.endswith(f"; got '{value}'.")
    assert "Select a valid choice" not in message


def test_a_percent_sign_in_a_refused_value_is_a_400_not_a_500(readonly_client, ops_client):
    refused = readonly_client.get("/api/ml/models/?service=100%25s")
    repeated = ops_client.get("/api/ml/audit/?actor=a%25d&actor=b")

    assert "got '100%s'" in _error(refused)["message"]
    assert "given 2 times (a%d, b)" in _error(repeated)["message"]
