"""Insights: list (service, insight_type, severity, status, active_only), active, by_service."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def insights(make_insight):
    return {
        "warn": make_insight(),
        "crit": make_insight(severity="critical", insight_type="capacity_warning"),
        "resolved": make_insight(status="resolved", severity="info"),
        "vue": make_insight(service="vue", status="acknowledged"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"warn", "crit", "resolved", "vue"}),
        ("service=vue", {"vue"}),
        ("insight_type=capacity_warning", {"crit"}),
        ("severity=critical", {"crit"}),
        ("status=resolved", {"resolved"}),
        ("active_only=true", {"warn", "crit"}),
        ("active_only=false", {"warn", "crit", "resolved", "vue"}),
    ],
)
def test_list_filters(readonly_client, insights, query, expected):
    by_id = {str(i.insight_id): name for name, i in insights.items()}

    response = readonly_client.get(f"/api/ml/insights/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "insight_id")} == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("severity=bad", "severity"),
        ("status=open", "status"),
        ("active_only=1x", "active_only"),
        # the insight types are a closed set: a typo is a 400, not an empty list
        ("insight_type=bogus", "insight_type"),
        ("insight_type=capacity", "insight_type"),
    ],
)
def test_bad_filter_values_are_400(readonly_client, query, parameter):
    response = readonly_client.get(f"/api/ml/insights/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_active(readonly_client, insights):
    response = readonly_client.get("/api/ml/insights/active/")

    assert ids(response, "insight_id") == {
        str(insights["warn"].insight_id),
        str(insights["crit"].insight_id),
    }
    assert {"title", "description", "severity", "status"} <= set(response.json()["results"][0])


def test_by_service_summary_shape(readonly_client, insights):
    body = readonly_client.get("/api/ml/insights/by_service/").json()

    assert body == {
        "summary": [
            {"service": "django", "total": 3, "critical": 1, "warning": 1, "unresolved": 2},
            {"service": "vue", "total": 1, "critical": 0, "warning": 1, "unresolved": 1},
        ]
    }
