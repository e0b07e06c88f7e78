"""Insights tell the truth: capacity texts name the crossing and the peak, in plain numbers;
a rising trend is judged against the same hours a day and a week earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _forecast(values: list[float], *, limit: float):
    from ml_prediction.engines.types import ForecastPoint, ForecastResult

    points = [
        ForecastPoint(NOW + timedelta(hours=h), v, 0.8 * v, 1.2 * v) for h, v in enumerate(values)
    ]
    peak = max(points, key=lambda p: p.value)
    return ForecastResult(
        metric_name="response_time_p95",
        algorithm="ensemble",
        points=points,
        interval_width=0.8,
        trend_direction="increasing",
        peak_value=peak.value,
        peak_at=peak.timestamp,
        capacity_limit=limit,
        capacity_warning="response_time_p95 is over its limit",
    )


def test_the_capacity_insight_names_the_crossing_and_the_peak_apart():
    from ml_prediction.services.insights import _capacity

    # under the limit until 13:00, over it from then, highest at 20:00
    values = [1500.0, 2400.0, 5000.0, 9000.0, 14000.0, 18000.0, 21000.0, 17360.0, 22214.8, 8000.0]
    (draft,) = _capacity("django", [_forecast(values, limit=2000.0)])

    assert draft.severity == "critical"
    assert "crosses the limit of 2,000 at 2026-11-27 13:00 UTC (2,400)" in draft.description
    assert "peaks at 22,215 around 2026-11-27 20:00 UTC" in draft.description
    assert "Peak 22214.8 expected at 2026-11-27 13:00" not in draft.description
    assert draft.supporting_data["peak_at"] == "2026-11-27T20:00:00+00:00"
    assert draft.supporting_data["crosses_limit_at"] == "2026-11-27T13:00:00+00:00"
    assert draft.title == "django: response_time_p95 forecast to reach 22,215 (limit 2,000)"
    assert draft.recommendations == [
        "Add capacity for response_time_p95 before 2026-11-27 13:00 UTC."
    ]
    assert "e+" not in draft.title + draft.description


def test_a_capacity_insight_on_the_upper_bound_only_says_so():
    from ml_prediction.services.insights import _capacity

    (draft,) = _capacity("vue", [_forecast([1000.0, 1800.0, 1500.0], limit=2000.0)])

    assert draft.severity == "warning"
    assert "upper bound" in draft.description and "2026-11-27 13:00 UTC" in draft.description
    assert "peaks at 1,800 around 2026-11-27 13:00 UTC" in draft.description


@pytest.mark.parametrize(
    ("recent", "day_before", "week_before", "expected"),
    [
        (330, 320, 300, None),  # a normal morning: as busy as the same hours before
        (330, 110, 100, "critical"),  # 3× both references
        (330, 200, 100, "warning"),  # 1.65× yesterday, 3.3× a week ago: holds against both
        (330, 300, 100, None),  # only against last week: not a rise of today
        (330, None, None, None),  # no history to compare with: nothing is said
        (20, 0, 0, None),  # too few errors to talk about a trend
    ],
)
def test_rising_trend_compares_with_the_same_hours_a_day_and_a_week_earlier(
    recent, day_before, week_before, expected
):
    from ml_prediction.services.insights import SeasonalErrorCounts, _rising_trend

    counts = SeasonalErrorCounts(
        hours=6, recent=recent, day_before=day_before, week_before=week_before
    )

    drafts = _rising_trend("django", counts)

    assert [d.severity for d in drafts] == ([expected] if expected else [])
    if expected:
        assert drafts[0].supporting_data["same_hours_1d_ago"] == day_before
        assert f"{recent} errors in the last 6 hours" in drafts[0].description


def test_rising_trend_with_one_reference_says_the_other_is_missing():
    from ml_prediction.services.insights import SeasonalErrorCounts, _rising_trend

    counts = SeasonalErrorCounts(hours=6, recent=200, day_before=50, week_before=None)

    (draft,) = _rising_trend("java", counts)

    assert "50 yesterday (4.0×)" in draft.description
    assert "does not reach back" in draft.description
    assert draft.title == "java: errors up 4.0× on the same 6 hours yesterday"


def test_a_normal_morning_of_simulated_traffic_is_no_rising_trend():
    from ml_prediction.services.features import error_total_for_service
    from ml_prediction.services.insights import _rising_trend, seasonal_error_counts

    end = datetime(2026, 3, 10, 12, 45, tzinfo=UTC)  # the UAT's late morning
    load_traffic(
        "django", days=8.5, seed=3, end=end, incidents_per_week=0.0, near_misses_per_week=0.0
    )
    six = timedelta(hours=6)
    night = error_total_for_service(service="django", start=end - 2 * six, end=end - six)

    counts = seasonal_error_counts(service="django", end=end)

    assert counts.recent >= 1.5 * night  # what the old "6 h vs the 6 h before" called a rise
    assert counts.day_before is not None and counts.week_before is not None
    assert _rising_trend("django", counts) == []


def test_seasonal_counts_know_when_the_history_is_too_short():
    from error_logging.services import ingest_errors
    from ml_prediction.services.insights import seasonal_error_counts

    end = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    items = [
        {
            "error_type": "Timeout",
            "message": "slow",
            "occurred_at": (end - timedelta(days=1, hours=2, minutes=i)).isoformat(),
        }
        for i in range(10)
    ] + [
        {
            "error_type": "Timeout",
            "message": "slow",
            "occurred_at": (end - timedelta(minutes=5 + i)).isoformat(),
        }
        for i in range(40)
    ]
    ingest_errors(service="flutter", items=items)

    counts = seasonal_error_counts(service="flutter", end=end)

    assert (counts.recent, counts.week_before) == (40, None)
    # the first error is inside yesterday's window, after its start: unknown, not 10
    assert counts.day_before is None
