"""Insights: each detector's numbers, and no duplicates while an equal insight is open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "recent", "expected"),
    [
        (2.0, 2.0, None),  # flat
        (2.0, 3.5, "warning"),  # 1.75×
        (1.0, 4.0, "critical"),  # 4×
        (0.0, 0.05, None),  # too few errors to call a trend
    ],
)
def test_rising_trend_compares_the_last_six_hours_with_the_same_hours_before(
    before, recent, expected
):
    from ml_prediction.services.insights import SeasonalErrorCounts, _rising_trend

    # per 5-minute bucket, as before; the references are the same hours a day and a week ago
    counts = SeasonalErrorCounts(
        hours=6,
        recent=int(recent * 72),
        day_before=int(before * 72),
        week_before=int(before * 72),
    )

    drafts = _rising_trend("django", counts)

    assert [d.severity for d in drafts] == ([expected] if expected else [])
    if expected:
        assert str(int(recent * 72)) in drafts[0].description


def test_recurring_pattern_names_the_busy_hour():
    from ml_prediction.services.insights import _recurring_pattern

    index = pd.date_range(end=END, periods=7 * 24, freq="1h", tz="UTC")
    counts = np.where(index.hour == 14, 60.0, 5.0)
    hourly = pd.DataFrame({"total_count": counts}, index=index)

    (draft,) = _recurring_pattern("java", hourly)

    assert draft.insight_type == "recurring_pattern" and draft.subject == "hour_14"
    assert "14:00" in draft.title and draft.supporting_data["busy_days"] >= 6


def test_capacity_warning_comes_from_an_at_risk_forecast():
    from ml_prediction.engines.types import ForecastPoint, ForecastResult
    from ml_prediction.services.insights import _capacity

    points = [
        ForecastPoint(END + timedelta(hours=h), 400.0 + 30 * h, 350.0, 700.0) for h in range(6)
    ]
    forecast = ForecastResult(
        metric_name="error_count",
        algorithm="holt_winters",
        points=points,
        interval_width=0.8,
        trend_direction="increasing",
        peak_value=550.0,
        peak_at=points[-1].timestamp,
        capacity_limit=500.0,
        capacity_warning="error_count forecast exceeds 500.",
    )

    (draft,) = _capacity("react", [forecast])

    assert draft.severity == "critical" and "500" in draft.title and "550" in draft.title


def test_hotspot_endpoint_from_the_last_hour_of_errors():
    from django.utils import timezone

    from error_logging.services import ingest_errors
    from ml_prediction.services.insights import _hotspots

    now = timezone.now()
    items = [
        {
            "error_type": "Timeout",
            "message": "slow",
            "endpoint": "/api/cart" if i % 10 else "/api/home",
            "occurred_at": (now - timedelta(minutes=1 + i % 50)).isoformat(),
        }
        for i in range(40)
    ]
    ingest_errors(service="laravel", items=items)

    drafts = {d.subject.split(":")[0]: d for d in _hotspots("laravel", now)}

    assert drafts["endpoint"].subject == "endpoint:/api/cart"
    assert drafts["endpoint"].supporting_data == {
        "endpoint": "/api/cart",
        "count": 36,
        "total": 40,
        "share": 0.9,
    }


def test_a_hotspot_error_group_is_named_by_its_type_and_message_not_its_hash():
    """Found on call: the insight said "36 of 40 errors share the fingerprint 9f2c…" (a
    64-character hash no page or API endpoint resolves)."""
    from django.utils import timezone

    from error_logging.services import ingest_errors
    from ml_prediction.services.insights import _hotspots

    now = timezone.now()
    items = [
        {
            "error_type": "QueryException" if i % 10 else "ValueError",
            "message": f"SQLSTATE[HY000] [2002] Connection refused (attempt {i})"
            if i % 10
            else "bad value",
            "endpoint": f"/api/item/{i}",  # no endpoint dominates
            "occurred_at": (now - timedelta(minutes=1 + i % 50)).isoformat(),
        }
        for i in range(40)
    ]
    ingest_errors(service="laravel", items=items)

    (draft,) = [d for d in _hotspots("laravel", now) if d.subject.startswith("fingerprint:")]

    name = "QueryException: SQLSTATE[HY000] [<n>] Connection refused (attempt <n>)"
    assert draft.title == ("laravel: 90% of the last hour's errors are one error, QueryException")
    assert name in draft.description and draft.recommendations == [f"Investigate {name} first."]
    assert draft.supporting_data["error_type"] == "QueryException"
    assert len(draft.supporting_data["fingerprint"]) >= 32  # kept for the error tracker
    assert draft.supporting_data["fingerprint"] not in draft.title + draft.description


def test_model_drift_when_tracked_precision_falls_below_the_held_out_precision():
    # Was: tracked accuracy against the held-out accuracy, which the many quiet held-out
    # buckets dominate and the stored (alert-level only) predictions do not contain.
    from ml_prediction.models import ErrorPrediction, MLModel
    from ml_prediction.services.insights import _drift

    model = MLModel.objects.create(
        model_name="m",
        model_type="error_classifier",
        service="vue",
        model_algorithm="xgboost",
        status="active",
        accuracy=0.99,
        precision=0.9,
        version=3,
    )
    ErrorPrediction.objects.bulk_create(
        ErrorPrediction(
            model=model,
            service="vue",
            predicted_error_type="Timeout",
            predicted_category="timeout",
            probability=0.8,
            time_horizon_minutes=30,
            prediction_bucket=END - timedelta(hours=i + 1),
            predicted_timestamp=END - timedelta(hours=i),
            created_at=END - timedelta(hours=i + 1),
            actual_error_occurred=i < 18,  # 18 of 30 came true: 60%
        )
        for i in range(30)
    )

    (draft,) = _drift("vue", END)

    assert draft.insight_type == "model_drift" and draft.severity == "critical"
    assert "60%" in draft.title and "90%" in draft.title


def test_equal_insights_are_not_duplicated_while_open():
    from ml_prediction.models import AIInsight
    from ml_prediction.services.insights import InsightDraft, insights_store

    draft = InsightDraft(
        "rising_trend", "errors_6h", "warning", "up 2×", "200 vs 100", {"ratio": 2.0}
    )
    again = InsightDraft(
        "rising_trend", "errors_6h", "critical", "up 3×", "300 vs 100", {"ratio": 3.0}
    )

    created, _ = insights_store(service="django", drafts=[draft])
    created_again, updated = insights_store(service="django", drafts=[again])
    AIInsight.objects.filter(insight_id__in=created).update(status="resolved")
    created_after_resolve, _ = insights_store(service="django", drafts=[draft])

    assert len(created) == 1 and created_again == [] and updated == created
    refreshed = AIInsight.objects.get(insight_id=created[0])
    assert refreshed.severity == "critical" and refreshed.supporting_data == {"ratio": 3.0}
    assert len(created_after_resolve) == 1
    assert (
        AIInsight.objects.filter(
            service="django", dedup_key="django:rising_trend:errors_6h"
        ).count()
        == 2
    )


def test_the_insights_task_stores_a_rising_trend_once():
    from datetime import timedelta

    from django.utils import timezone

    from error_logging.services import ingest_errors
    from ml_prediction.models import AIInsight
    from ml_prediction.tasks import generate_ai_insights

    now = timezone.now()
    items = [
        {
            "error_type": "Timeout",
            "message": "upstream slow",
            "occurred_at": (now - timedelta(minutes=6 + i % 300)).isoformat(),
        }
        for i in range(120)
    ]
    # the same hours a day and a week earlier were quiet: the rising trend's references
    items += [
        {
            "error_type": "Timeout",
            "message": "upstream slow",
            "occurred_at": (now - timedelta(days=days, minutes=60 + i)).isoformat(),
        }
        for days in (1, 7)
        for i in range(10)
    ]
    items.append(
        {
            "error_type": "Timeout",
            "message": "history",
            "occurred_at": (now - timedelta(days=8)).isoformat(),
        }
    )
    ingest_errors(service="angular", items=items)

    first = generate_ai_insights("angular")
    second = generate_ai_insights("angular")

    assert first["services"]["angular"]["created"] >= 1
    assert second["services"]["angular"]["created"] == 0
    assert second["services"]["angular"]["updated"] == first["services"]["angular"]["created"]
    trend = AIInsight.objects.get(service="angular", insight_type="rising_trend")
    assert trend.status == "active" and "120 errors in the last 6 hours" in trend.description


def test_scheduled_training_respects_the_retraining_switch(settings, monkeypatch):
    from ml_prediction.tasks import train_error_prediction_models

    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "MODEL_RETRAINING_ENABLED", False)

    assert train_error_prediction_models() == {
        "status": "skipped",
        "reason": "ML_MODEL_RETRAINING_ENABLED is false",
    }
