"""Browser fixtures: Debian's Chromium driven by Playwright, and a realistic set of ML rows.

The live server binds 127.0.0.1 on a free port; screenshots go to var/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make between
# browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
OPS_PASSWORD = "ops-pass-123"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    # Nothing may leave the machine: any request to another host fails the test.
    outside: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert outside == [], f"the page tried to reach other hosts: {outside}"


@pytest.fixture
def screenshot(request):
    """Save a full-page screenshot named after the test (a test artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(pg, suffix: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{suffix}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take


@dataclass
class DashboardRows:
    now: datetime
    critical_anomaly_id: object
    high_anomaly_id: object
    prediction_ids: list
    action_id: object


def _ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def critical_spike(
    service: str, start: datetime, *, observed: float, expected: float, score: float, **fields
):
    """One stored critical spike bucket of 5 minutes of ``service``'s error count, as an
    analysis leaves it (``fields``: its hypothesis, action, contributing features)."""
    from ml_prediction.models import AnomalyDetection

    return AnomalyDetection.objects.create(
        service=service,
        metric_name="error_count",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        observed_value=observed,
        expected_value=expected,
        anomaly_score=score,
        is_anomaly=True,
        severity_level="critical",
        anomaly_type="spike",
        **fields,
    )


@pytest.fixture
def dashboard_rows(ops_user) -> DashboardRows:
    """Three days of rollups for three services, a forecast each, anomalies, predictions,
    preventive actions and insights: what one full analysis leaves behind."""
    import math

    from django.utils import timezone

    from error_logging.models import ErrorRollup
    from ml_prediction.models import (
        AIInsight,
        AnomalyDetection,
        ErrorPrediction,
        MLModel,
        PreventiveAction,
        TimeSeriesForecast,
    )

    now = timezone.now().replace(second=0, microsecond=0)
    rollups = []
    for s_index, service in enumerate(("django", "laravel", "java")):
        for step in range(3 * 24 * 6):  # one row per 10 minutes over 3 days
            at = now - timedelta(minutes=10 * step)
            daily = 1 + 0.6 * math.sin(2 * math.pi * at.hour / 24)
            count = int(5 * (s_index + 1) * daily) + (40 if step in (30, 31, 32) else 0)
            rollups.append(
                ErrorRollup(service=service, bucket=at, total_count=count, error_count=count)
            )
    ErrorRollup.objects.bulk_create(rollups)

    for service in ("django", "laravel", "java"):
        model = MLModel.objects.create(
            model_name=f"{service}-forecaster",
            model_type=MLModel.ModelType.TIME_SERIES_FORECAST,
            service=service,
            model_algorithm="seasonal_naive",
            status=MLModel.Status.ACTIVE,
        )
        values = [
            {
                "timestamp": _ts(now + timedelta(hours=h)),
                "value": 60.0 + 20 * math.sin(h / 4),
                "lower": 35.0 + 20 * math.sin(h / 4),
                "upper": 95.0 + 20 * math.sin(h / 4),
            }
            for h in range(1, 25)
        ]
        TimeSeriesForecast.objects.create(
            model=model,
            service=service,
            metric_name="error_count",
            model_algorithm="seasonal_naive",
            forecast_start=now + timedelta(hours=1),
            forecast_end=now + timedelta(hours=24),
            forecast_values=values,
            trend_direction="stable",
        )

    def anomaly(service: str, minutes_ago: int, level: str, score: float) -> AnomalyDetection:
        start = now - timedelta(minutes=minutes_ago)
        return AnomalyDetection.objects.create(
            service=service,
            metric_name="error_count",
            window_start=start,
            window_end=start + timedelta(minutes=5),
            observed_value=24.0,
            expected_value=5.0,
            anomaly_score=score,
            is_anomaly=True,
            severity_level=level,
            anomaly_type="spike",
            root_cause_hypothesis="Database connection pool exhaustion (pool at 97%).",
            recommended_action="Increase the connection pool size",
        )

    critical = anomaly("django", 300, "critical", 0.93)
    high = anomaly("laravel", 200, "high", 0.81)
    anomaly("java", 100, "medium", 0.74)

    predictions = []
    for service, error_type, probability in (
        ("django", "DatabaseConnectionTimeout", 0.91),
        ("laravel", "QueryException", 0.84),
        ("java", "SocketTimeoutException", 0.78),
    ):
        predictions.append(
            ErrorPrediction.objects.create(
                service=service,
                predicted_error_type=error_type,
                predicted_category="database",
                predicted_severity="high",
                probability=probability,
                confidence_level="high",
                time_horizon_minutes=30,
                prediction_bucket=now,
                predicted_timestamp=now + timedelta(minutes=30),
                contributing_factors=[
                    {"feature": "database_count_rolling_1h", "value": 42, "contribution": 0.61},
                    {"feature": "metric_db_pool_in_use", "value": 97, "contribution": 0.33},
                ],
                recommended_actions=[{"action_type": "increase_pool", "title": "Increase pool"}],
            )
        )
    action = PreventiveAction.objects.create(
        prediction=predictions[0],
        service="django",
        action_type="increase_pool",
        title="Increase the database connection pool",
        description="Raise the pool from 20 to 40 connections.",
        root_cause="db_pool_exhaustion",
        priority="high",
        can_be_automated=True,
    )
    PreventiveAction.objects.create(
        service="laravel",
        action_type="clear_cache",
        title="Clear the application cache",
        root_cause="cache_stampede",
        priority="medium",
    )
    AIInsight.objects.create(
        service="django",
        insight_type="trend",
        title="Database errors rose 3× over the last 6 hours",
        description="database_count went from 4/h to 13/h; the pool is at 97%.",
        severity="critical",
        dedup_key="django-trend-db",
    )
    AIInsight.objects.create(
        service="java",
        insight_type="forecast",
        title="Error rate expected to peak tonight",
        description="The forecast peaks at 40 errors/min at 21:00 UTC.",
        severity="warning",
        dedup_key="java-forecast-peak",
    )
    return DashboardRows(
        now=now,
        critical_anomaly_id=critical.anomaly_id,
        high_anomaly_id=high.anomaly_id,
        prediction_ids=[p.prediction_id for p in predictions],
        action_id=action.action_id,
    )


@pytest.fixture
def logged_in_page(page, live_server, ops_user):
    """A page signed in to the dashboard as the ops user, through the real login form."""
    page.goto(f"{live_server.url}/dashboard/")
    assert "/dashboard/login/" in page.url
    page.fill("input[name=username]", ops_user.get_username())
    page.fill("input[name=password]", OPS_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    return page
