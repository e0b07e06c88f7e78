"""Insights close: resolved when a detector that ran no longer finds them, acknowledged or
dismissed by people through the API (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from ml_prediction.engines.types import ForecastPoint, ForecastResult
from ml_prediction.models import AIInsight, AuditEvent
from ml_prediction.services.insights import InsightDraft, insights_detect, insights_store

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TREND = InsightDraft("rising_trend", "errors_6h", "warning", "up 2×", "200 vs 100")
HOT = InsightDraft("hotspot", "endpoint:/a", "warning", "hot", "36 of 40")
CAPACITY = InsightDraft("capacity_warning", "db_pool_in_use", "critical", "pool", "over")


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def _open(service: str = "django") -> set[str]:
    return set(
        AIInsight.objects.filter(
            service=service, status__in=("active", "acknowledged")
        ).values_list("insight_type", flat=True)
    )


def test_an_insight_no_longer_found_by_a_detector_that_ran_is_resolved():
    from ml_prediction.services.insights import InsightFindings  # new

    insights_store(service="django", drafts=InsightFindings([TREND, HOT], {}))

    insights_store(
        service="django",
        drafts=InsightFindings([HOT], {"rising_trend": None, "hotspot": None}),
    )

    trend = AIInsight.objects.get(insight_type="rising_trend")
    assert trend.status == "resolved" and trend.resolved_at is not None
    assert _open() == {"hotspot"}


def test_detectors_that_did_not_run_resolve_nothing():
    from ml_prediction.services.insights import InsightFindings  # new

    insights_store(service="django", drafts=[TREND, CAPACITY])

    # a quick analysis (a plain list) and a run without forecasts (no capacity scope)
    insights_store(service="django", drafts=[])
    insights_store(service="django", drafts=InsightFindings([], {"rising_trend": None}))

    assert _open() == {"capacity_warning"}
    assert AIInsight.objects.get(insight_type="rising_trend").status == "resolved"


def _forecast(metric: str, value: float) -> ForecastResult:
    points = [ForecastPoint(timestamp=END, value=value, lower=value, upper=value)]
    return ForecastResult(
        metric_name=metric,
        algorithm="ets",
        points=points,
        interval_width=0.8,
        trend_direction="flat",
        peak_value=value,
        peak_at=END,
        capacity_limit=100.0,
        capacity_warning="" if value < 100 else "over",
    )


def test_capacity_warnings_resolve_only_for_the_metrics_forecast_in_this_run():
    insights_store(
        service="django",
        drafts=insights_detect(
            service="django",
            forecasts=[_forecast("db_pool_in_use", 150), _forecast("cpu_percent", 150)],
            as_of=END,
        ),
    )
    assert AIInsight.objects.filter(insight_type="capacity_warning").count() == 2

    # no forecasts this run: the capacity detector did not run
    insights_store(
        service="django", drafts=insights_detect(service="django", forecasts=[], as_of=END)
    )
    assert AIInsight.objects.filter(insight_type="capacity_warning", status="active").count() == 2

    # only the pool was forecast, and it is fine now: only its warning resolves
    insights_store(
        service="django",
        drafts=insights_detect(
            service="django", forecasts=[_forecast("db_pool_in_use", 50)], as_of=END
        ),
    )
    statuses = dict(
        AIInsight.objects.filter(insight_type="capacity_warning").values_list("dedup_key", "status")
    )
    assert statuses == {
        "django:capacity_warning:db_pool_in_use": "resolved",
        "django:capacity_warning:cpu_percent": "active",
    }


def test_acknowledge_and_dismiss_through_the_api_are_audited(ops_client):
    created, _ = insights_store(service="django", drafts=[TREND])
    url = f"/api/ml/insights/{created[0]}"

    acknowledged = ops_client.post(f"{url}/acknowledge/")
    again = ops_client.post(f"{url}/acknowledge/")
    dismissed = ops_client.post(f"{url}/dismiss/")
    dismissed_again = ops_client.post(f"{url}/dismiss/")

    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    assert again.status_code == 409
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert dismissed_again.status_code == 409
    actions = list(
        AuditEvent.objects.filter(object_id=str(created[0]))
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["insight.acknowledge", "insight.dismiss"]


def test_the_actions_need_the_ops_permission_and_no_body(readonly_client, ops_client):
    created, _ = insights_store(service="django", drafts=[TREND])
    url = f"/api/ml/insights/{created[0]}"

    assert readonly_client.post(f"{url}/acknowledge/").status_code == 403
    assert readonly_client.post(f"{url}/dismiss/").status_code == 403
    assert ops_client.post(f"{url}/dismiss/", {"reason": "x"}, format="json").status_code == 400
    assert ops_client.post("/api/ml/insights/not-a-uuid/dismiss/").status_code == 404


def test_a_resolved_insight_cannot_be_acknowledged(ops_client):
    from ml_prediction.services.insights import InsightFindings  # new

    created, _ = insights_store(service="django", drafts=[TREND])
    insights_store(service="django", drafts=InsightFindings([], {"rising_trend": None}))

    response = ops_client.post(f"/api/ml/insights/{created[0]}/acknowledge/")

    assert response.status_code == 409


def test_a_dismissed_finding_stays_silent_while_it_persists_and_returns_after_it_cleared(
    ops_client,
):
    from ml_prediction.services.insights import InsightFindings  # new

    created, _ = insights_store(service="django", drafts=[TREND])
    ops_client.post(f"/api/ml/insights/{created[0]}/dismiss/")
    ran = {"rising_trend": None}

    still, _ = insights_store(service="django", drafts=InsightFindings([TREND], ran))
    insights_store(service="django", drafts=InsightFindings([], ran))  # it cleared
    back, _ = insights_store(service="django", drafts=InsightFindings([TREND], ran))

    assert still == []
    dismissed = AIInsight.objects.get(insight_id=created[0])
    assert dismissed.status == "dismissed" and dismissed.resolved_at is not None
    assert len(back) == 1 and _open() == {"rising_trend"}


def test_insights_generate_resolves_a_capacity_warning_once_the_latest_forecast_is_fine():
    from ml_prediction.models import TimeSeriesForecast
    from ml_prediction.services.insights import insights_generate

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    created, _ = insights_store(service="django", drafts=[CAPACITY])
    TimeSeriesForecast.objects.create(
        service="django",
        metric_name="db_pool_in_use",
        forecast_start=now,
        forecast_end=now + timedelta(hours=24),
        forecast_values=[
            {"timestamp": now.isoformat(), "value": 10.0, "lower": 5.0, "upper": 15.0}
        ],
        predicted_peak_value=10.0,
        predicted_peak_at=now,
        capacity_limit=100.0,
        is_at_risk=False,
    )

    insights_generate(service="django")

    assert AIInsight.objects.get(insight_id=created[0]).status == "resolved"
