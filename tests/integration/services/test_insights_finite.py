"""Insights store finite supporting numbers: jsonb refuses NaN and inf, and a forecast peak of
inf failed the whole analysis transaction."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _forecast_peaking_at_inf():
    from ml_prediction.engines.types import ForecastPoint, ForecastResult

    values = [1500.0, 2400.0, math.inf]
    points = [
        ForecastPoint(NOW + timedelta(hours=h), v, 0.8 * v, 1.2 * v) for h, v in enumerate(values)
    ]
    return ForecastResult(
        metric_name="response_time_p95",
        algorithm="seasonal_naive",
        points=points,
        interval_width=0.8,
        trend_direction="increasing",
        peak_value=math.inf,
        peak_at=points[-1].timestamp,
        capacity_limit=2000.0,
        capacity_warning="response_time_p95 is over its limit",
    )


def test_a_capacity_insight_with_an_infinite_peak_is_stored_with_a_null_peak():
    from ml_prediction.models import AIInsight
    from ml_prediction.services.insights import _capacity, insights_store

    # given a capacity finding whose forecast peaks at inf
    (draft,) = _capacity("django", [_forecast_peaking_at_inf()])
    assert draft.supporting_data["peak_value"] == math.inf
    # when stored, then the insight is there and its peak is null, not a refused transaction
    created, _ = insights_store(service="django", drafts=[draft])
    row = AIInsight.objects.get(pk=created[0])
    assert row.supporting_data["peak_value"] is None
    assert row.supporting_data["capacity_limit"] == 2000.0
    assert row.supporting_data["crosses_limit_at"] == "2026-11-27T13:00:00+00:00"


def test_refreshing_an_open_insight_with_nan_numbers_stores_nulls():
    from ml_prediction.models import AIInsight
    from ml_prediction.services.insights import InsightDraft, insights_store

    # given an open insight
    draft = InsightDraft(
        insight_type="recurring_pattern",
        subject="hour_14",
        severity="info",
        title="django: errors peak every day around 14:00 UTC",
        description="…",
        supporting_data={"mean_at_hour": 40.0, "hourly_mean": 10.0},
    )
    (created,), _ = insights_store(service="django", drafts=[draft])
    # when the same finding comes back with numbers that are not finite
    again = InsightDraft(
        **{
            **draft.__dict__,
            "supporting_data": {"mean_at_hour": math.nan, "hourly_mean": -math.inf, "days": 7},
        }
    )
    _, updated = insights_store(service="django", drafts=[again])
    # then the open insight is refreshed, with nulls for them
    assert updated == [created]
    stored = AIInsight.objects.get(pk=created).supporting_data
    assert stored == {"mean_at_hour": None, "hourly_mean": None, "days": 7}
