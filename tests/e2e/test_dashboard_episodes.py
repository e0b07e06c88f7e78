"""The anomaly table in real headless Chromium: one row per episode, alert links to any of its
buckets land on that row, and the chart legend names every dot colour."""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"]),
]


def _episode(now, *, service: str = "flutter", buckets: int = 6) -> list:
    """Consecutive critical buckets of one incident, each with the same cause."""
    from ml_prediction.models import AnomalyDetection

    first = now - timedelta(minutes=5 * (buckets + 6))
    return [
        AnomalyDetection.objects.create(
            service=service,
            metric_name="error_count",
            window_start=first + timedelta(minutes=5 * i),
            window_end=first + timedelta(minutes=5 * (i + 1)),
            observed_value=60.0 + i,
            expected_value=4.0,
            anomaly_score=0.99,
            is_anomaly=True,
            severity_level="critical",
            anomaly_type="spike",
            root_cause_hypothesis="flutter: the latest release introduced a fault "
            "(from 0 before to 61 per 5 min in the last hour).",
            recommended_action="Roll back the latest release of flutter",
        )
        for i in range(buckets)
    ]


def test_an_alert_link_to_any_bucket_lands_on_its_episode_row(
    dashboard_rows, logged_in_page, live_server, screenshot
):
    # given an incident of six buckets beside the three single-bucket anomalies
    from ml_prediction.models import AnomalyDetection

    buckets = _episode(dashboard_rows.now)
    first = str(buckets[0].anomaly_id)
    page = logged_in_page

    # when on-call opens an alert's link to the fourth bucket (a fresh page load)
    page.goto(f"{live_server.url}/dashboard/panels/")
    page.goto(f"{live_server.url}/dashboard/#anomaly-{buckets[3].anomaly_id}")

    # then the incident is one row, and the link scrolled to it, below the sticky top bar,
    # highlighted
    assert page.locator("#anomalies tbody tr").count() == 4
    row = page.locator(f"#anomalies tr[data-anomaly-id='{first}']")
    assert row.count() == 1
    assert page.evaluate("document.querySelector(':target').closest('tr').dataset.anomalyId") == (
        first
    )
    box = row.bounding_box()
    bar = page.locator(".topbar").bounding_box()
    assert bar["height"] - 1 <= box["y"] < 900
    assert row.evaluate("tr => getComputedStyle(tr).outlineStyle") == "solid"
    assert row.inner_text().count("the latest release introduced a fault") == 1
    assert "6 buckets of 5 min" in row.inner_text()
    screenshot(page, "episode-anchor")

    # when the one Acknowledge button of the row is pressed
    row.get_by_role("button", name="Acknowledge").click()

    # then the row leaves the list and every bucket of the incident is acknowledged
    page.wait_for_selector(f"#anomalies tr[data-anomaly-id='{first}']", state="detached")
    assert page.locator("#anomalies tbody tr").count() == 3
    ids = [b.anomaly_id for b in buckets]
    assert AnomalyDetection.objects.filter(anomaly_id__in=ids, acknowledged=True).count() == 6


def test_a_link_to_an_acknowledged_anomaly_lands_on_its_row_with_who_acknowledged_it(
    dashboard_rows, logged_in_page, live_server
):
    """Found on call: once acknowledged, the row was gone and the link landed at the top."""
    # given an anomaly someone acknowledged since its alert was sent
    from ml_prediction.models import AnomalyDetection

    AnomalyDetection.objects.filter(anomaly_id=dashboard_rows.critical_anomaly_id).update(
        acknowledged=True, acknowledged_by="dana"
    )
    page = logged_in_page

    # when the alert's link is opened
    page.goto(f"{live_server.url}/dashboard/panels/")
    page.goto(f"{live_server.url}/dashboard/#anomaly-{dashboard_rows.critical_anomaly_id}")

    # then it lands on the incident's row among the acknowledged ones, which says who
    row = page.locator(f"section#acknowledged #anomaly-{dashboard_rows.critical_anomaly_id}")
    row.wait_for()
    assert row.is_visible()
    assert "dana" in row.inner_text()
    assert page.evaluate("() => document.getElementById('flash').textContent.trim()") == ""


def test_a_link_to_an_anomaly_acknowledged_long_ago_says_why_it_is_not_listed(
    dashboard_rows, logged_in_page, live_server
):
    from ml_prediction.models import AnomalyDetection

    long_ago = dashboard_rows.now - timedelta(days=3)
    AnomalyDetection.objects.filter(anomaly_id=dashboard_rows.critical_anomaly_id).update(
        acknowledged=True,
        acknowledged_by="dana",
        window_start=long_ago,
        window_end=long_ago + timedelta(minutes=5),
    )
    page = logged_in_page

    page.goto(f"{live_server.url}/dashboard/panels/")
    page.goto(f"{live_server.url}/dashboard/#anomaly-{dashboard_rows.critical_anomaly_id}")

    page.wait_for_selector("#flash .flash.info")
    assert "not on this page" in page.locator("#flash").inner_text()


def test_the_legend_has_a_key_for_every_dot_colour(dashboard_rows, logged_in_page):
    # given charts with a critical, a high and a medium anomaly (dots coloured by severity)
    from dashboard.charts import SEVERITY_COLOURS

    page = logged_in_page
    page.wait_for_selector("svg.chart[data-service=laravel]")

    def rgb(hex_colour: str) -> str:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgb({r}, {g}, {b})"

    # then each severity has a visible legend key of the colour its dots are drawn in
    drawn = set(
        page.eval_on_selector_all(
            "svg.chart circle.anomaly", "cs => cs.map(c => c.getAttribute('fill'))"
        )
    )
    assert SEVERITY_COLOURS["high"] in drawn
    for level, colour in SEVERITY_COLOURS.items():
        key = page.locator(f".legend .key.anomaly.{level}")
        assert key.is_visible()
        assert key.evaluate("k => getComputedStyle(k).backgroundColor") == rgb(colour)
