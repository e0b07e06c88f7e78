"""The ops dashboard in real headless Chromium: login, charts, buttons, live refresh."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import critical_spike

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"]),
]


def test_login_shows_every_service_chart_with_data(dashboard_rows, logged_in_page, screenshot):
    # given a signed-in ops user and three services with history, forecasts and anomalies
    page = logged_in_page

    # when the dashboard has rendered
    page.wait_for_selector("svg.chart[data-service=django]")
    screenshot(page, "dashboard")

    # then every service has a chart, and those with data draw a line, a band and anomaly dots
    assert page.locator("svg.chart").count() == 7
    for service in ("django", "laravel", "java"):
        chart = page.locator(f"svg.chart[data-service={service}]")
        assert int(chart.get_attribute("data-points")) >= 70  # hourly points over 3 days
        points = chart.locator("polyline.observed").get_attribute("points")
        assert len(points.split()) >= 70
        assert chart.locator("polygon.band").count() == 1
        assert chart.locator("polyline.forecast").count() == 1
        assert chart.locator("circle.anomaly").count() >= 1
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 100
    assert page.locator("svg.chart[data-service=flutter] text.empty").count() == 1
    assert page.locator("#health-score").inner_text().strip().isdigit()


def test_acknowledging_an_anomaly_removes_it_from_the_unacknowledged_list(
    dashboard_rows, logged_in_page, screenshot, ops_client
):
    # given the critical anomaly listed first among the unacknowledged ones
    from ml_prediction.models import AnomalyDetection

    page = logged_in_page
    anomaly_id = str(dashboard_rows.critical_anomaly_id)
    row = page.locator(f"#anomalies tr[data-anomaly-id='{anomaly_id}']")
    assert row.count() == 1
    assert page.locator("#anomalies tbody tr").first.get_attribute("data-anomaly-id") == anomaly_id

    # when the ops user clicks Acknowledge
    row.get_by_role("button", name="Acknowledge").click()

    # then the row leaves the list without a page reload, and the API agrees
    page.wait_for_selector(f"#anomalies tr[data-anomaly-id='{anomaly_id}']", state="detached")
    page.wait_for_selector("#flash .flash.success")
    screenshot(page, "acknowledged")
    assert page.locator("#anomalies tbody tr").count() == 2
    stored = AnomalyDetection.objects.get(anomaly_id=anomaly_id)
    assert stored.acknowledged is True
    assert stored.acknowledged_by == "ops"
    listed = ops_client.get("/api/ml/anomalies/unacknowledged/")
    assert listed.status_code == 200
    body = listed.json()
    ids = [a["anomaly_id"] for a in (body["results"] if isinstance(body, dict) else body)]
    assert anomaly_id not in ids
    assert str(dashboard_rows.high_anomaly_id) in ids


def test_prediction_feedback_is_recorded_through_the_api(
    dashboard_rows, logged_in_page, screenshot, ops_client
):
    # given the two most likely open predictions in the high-risk table
    from ml_prediction.models import PredictionFeedback

    page = logged_in_page
    first, second = (str(p) for p in dashboard_rows.prediction_ids[:2])
    assert page.locator(f"#predictions tr[data-prediction-id='{first}'] >> text=91%").count() == 1

    for prediction_id, button, verdict in (
        (first, "True positive", "true_positive"),
        (second, "False positive", "false_positive"),
    ):
        # when the ops user gives feedback
        row = page.locator(f"#predictions tr[data-prediction-id='{prediction_id}']")
        row.get_by_role("button", name=button).click()

        # then the prediction leaves the open table and the verdict is stored and in the API
        page.wait_for_selector(
            f"#predictions tr[data-prediction-id='{prediction_id}']", state="detached"
        )
        screenshot(page, verdict)
        feedback = PredictionFeedback.objects.get(prediction_id=prediction_id)
        assert feedback.verdict == verdict
        assert feedback.created_by == "ops"
        audit = ops_client.get(
            "/api/ml/audit/", {"object_id": prediction_id, "action": "prediction.feedback"}
        )
        assert audit.status_code == 200
        events = audit.json()["results"]
        assert len(events) == 1
        assert events[0]["actor"] == "ops"
        assert events[0]["details"]["verdict"] == verdict
    assert page.locator("#predictions tbody tr").count() == 1


def test_mark_occurred_and_execute_action_buttons(dashboard_rows, logged_in_page, screenshot):
    # given an open prediction and a pending action
    from ml_prediction.models import ErrorPrediction, PreventiveAction

    page = logged_in_page
    prediction_id = str(dashboard_rows.prediction_ids[1])
    action_id = str(dashboard_rows.action_id)

    # when the ops user marks the prediction as occurred and executes the action
    page.locator(f"#predictions tr[data-prediction-id='{prediction_id}']").get_by_role(
        "button", name="Mark occurred"
    ).click()
    page.wait_for_selector(
        f"#predictions tr[data-prediction-id='{prediction_id}']", state="detached"
    )
    # automation is off: the button is "Mark as done" (manual work), behind a confirmation
    # naming the action and the service; dismissing it changes nothing
    row = page.locator(f"#actions tr[data-action-id='{action_id}']")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    row.get_by_role("button", name="Mark as done").click()
    page.wait_for_timeout(300)
    assert PreventiveAction.objects.get(action_id=action_id).status == "recommended"
    page.once("dialog", lambda dialog: answer(dialog, True))
    row.get_by_role("button", name="Mark as done").click()
    page.wait_for_selector(f"#actions tr[data-action-id='{action_id}']", state="detached")
    assert "Increase the database connection pool" in questions[0] and "django" in questions[0]
    assert "marked as done by hand" in page.locator("#flash").inner_text()
    screenshot(page, "occurred-executed")

    # then both changes are stored with the person who made them
    prediction = ErrorPrediction.objects.get(prediction_id=prediction_id)
    assert prediction.actual_error_occurred is True
    action = PreventiveAction.objects.get(action_id=action_id)
    assert action.status == PreventiveAction.Status.EXECUTED
    assert action.executed_by == "ops"
    assert action.execution_result["mode"] == "manual"


def test_a_new_incident_appears_without_a_page_reload(
    dashboard_rows, logged_in_page, screenshot, settings, live_server
):
    # given a dashboard that refreshes every second, and a marker that a reload would erase
    from datetime import timedelta

    settings.DASHBOARD_REFRESH_SECONDS = 1
    page = logged_in_page
    page.goto(f"{live_server.url}/dashboard/")
    page.evaluate("window.__stillTheSamePage = true")
    assert page.locator("#anomalies tbody tr").count() == 3

    # when an analysis stores a new critical anomaly while people watch
    start = dashboard_rows.now - timedelta(minutes=5)
    incident = critical_spike(
        "flutter",
        start,
        observed=300.0,
        expected=12.0,
        score=0.97,
        root_cause_hypothesis="Bad release 4.2.0 deployed 10 minutes ago.",
    )

    # then it shows up at the top of the list on the same page
    page.wait_for_selector(f"#anomalies tr[data-anomaly-id='{incident.anomaly_id}']")
    screenshot(page, "live-incident")
    assert page.evaluate("window.__stillTheSamePage") is True
    assert page.locator("#anomalies tbody tr").count() == 4


def test_a_read_only_user_sees_the_data_but_no_buttons(
    page, live_server, readonly_user, dashboard_rows
):
    # given a read-only account
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "reader")
    page.fill("input[name=password]", "reader-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")

    # then the lists are there, the buttons are not
    assert page.locator("#anomalies tbody tr").count() == 3
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    assert page.get_by_role("button", name="Execute").count() == 0


def test_wrong_password_stays_on_the_login_page(page, live_server, ops_user):
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("text=Wrong username or password").count() == 1
    assert "/dashboard/login/" in page.url


def test_an_alert_link_opened_while_signed_out_lands_on_its_row_after_signing_in(
    page, live_server, ops_user, dashboard_rows
):
    # given the link of an alert email, opened in a browser that is not signed in
    anchor = f"anomaly-{dashboard_rows.critical_anomaly_id}"
    page.goto(f"{live_server.url}/dashboard/#{anchor}")
    assert "/dashboard/login/" in page.url

    # when the on-call person signs in
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "ops-pass-123")
    page.click("button[type=submit]")

    # then the dashboard opens at the anomaly the alert was about
    page.wait_for_url(f"{live_server.url}/dashboard/#{anchor}")
    assert page.evaluate("location.hash") == f"#{anchor}"


def test_why_this_cause_shows_the_decision_path_and_stays_open_across_refreshes(
    dashboard_rows, logged_in_page, settings, live_server
):
    """The engine's decision path behind an episode's cause was dropped before it reached the
    page: people saw the one-sentence hypothesis, never the steps that led to it."""
    from datetime import timedelta

    # given an explained episode whose row keeps its decision path, and a 1-second refresh
    settings.DASHBOARD_REFRESH_SECONDS = 1
    start = dashboard_rows.now - timedelta(minutes=10)
    path = [
        "error type: database errors ×40: 120 per 5 min in the last hour vs 3 before "
        "→ db_pool_exhaustion",
        "service: django is a back end (database pool, memory, upstream calls)",
        "system state: db pool at 97% (baseline 40%) → db_pool_exhaustion",
        "similar past issues: no past incidents of this service to compare with yet",
    ]
    incident = critical_spike(
        "django",
        start,
        observed=120.0,
        expected=3.0,
        score=0.99,
        root_cause_hypothesis="django: database connections are exhausted (db pool 97%).",
        contributing_features={
            "root_cause_key": "db_pool_exhaustion",
            "root_cause_as_of": (start + timedelta(minutes=5)).isoformat(),
            "root_cause_path": path,
        },
    )
    page = logged_in_page
    page.goto(f"{live_server.url}/dashboard/")
    row = page.locator(f"#anomalies tr[data-anomaly-id='{incident.anomaly_id}']")
    why = row.locator("details.path")
    assert why.count() == 1
    assert not why.locator("ol").is_visible()  # closed until asked

    # when somebody opens "why this cause" and the panels refresh twice
    why.locator("summary").click()
    page.evaluate(
        "window.__refreshes = 0; document.getElementById('panels')"
        ".addEventListener('panels:refreshed', () => window.__refreshes++)"
    )
    page.wait_for_function("window.__refreshes >= 2")

    # then every step is listed, "the last hour" said as the hour it meant, and it stayed open
    steps = row.locator("details.path ol li").all_inner_texts()
    assert len(steps) == 4
    assert steps[0].startswith("error type: database errors ×40: 120 per 5 min in the hour before ")
    # each step's conclusion in words, as the hypotheses say causes (the row keeps the key)
    assert steps[0].endswith(" → database connections are exhausted")
    assert steps[2] == (
        "system state: db pool at 97% (baseline 40%) → database connections are exhausted"
    )
    assert row.locator("details.path").get_attribute("open") is not None
    assert row.locator("details.path ol").is_visible()
    # rows without a stored path (written before it was kept) show no empty disclosure
    other = page.locator(f"#anomalies tr[data-anomaly-id='{dashboard_rows.critical_anomaly_id}']")
    assert other.locator("details.path").count() == 0
