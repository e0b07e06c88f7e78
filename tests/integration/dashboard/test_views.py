"""Dashboard views without a browser: access rules, bad input, the live partial, the charts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.fixture
def anomaly():
    from ml_prediction.models import AnomalyDetection

    start = timezone.now() - timedelta(minutes=10)
    return AnomalyDetection.objects.create(
        service="vue",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        observed_value=50.0,
        expected_value=5.0,
        anomaly_score=0.9,
        is_anomaly=True,
        severity_level="critical",
        anomaly_type="spike",
    )


@pytest.fixture
def prediction():
    from ml_prediction.models import ErrorPrediction

    now = timezone.now()
    return ErrorPrediction.objects.create(
        service="vue",
        predicted_error_type="ChunkLoadError",
        probability=0.9,
        time_horizon_minutes=30,
        prediction_bucket=now - timedelta(minutes=20),
        predicted_timestamp=now + timedelta(minutes=10),
    )


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/panels/"])
def test_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/dashboard/login/")


def test_panels_partial_has_the_lists_but_not_the_page(client, ops_user, anomaly):
    # given a signed-in ops user and one open anomaly
    client.force_login(ops_user)

    # when the live view fetches the partial
    response = client.get("/dashboard/panels/")

    # then it has the panels and no page chrome
    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-anomaly-id="{anomaly.anomaly_id}"' in body
    assert f'id="anomaly-{anomaly.anomaly_id}"' in body  # alerts link to /dashboard/#anomaly-…
    # the summary card says its window, and how many of its predictions are open now (the
    # panel's count): "28 high-risk" beside "12 open" read as a contradiction
    assert "high-probability predictions, 7 days" in body and "0 open now" in body
    assert "<th>When (UTC)</th>" in body  # the page renders UTC whatever the browser's zone
    assert "<html" not in body
    assert body.count('<svg class="chart"') == 7


def test_the_health_card_says_what_the_score_loses(client, ops_user, anomaly):
    # given no active model, no recorded analysis and one critical anomaly that paged
    anomaly.alert_triggered = True
    anomaly.save(update_fields=["alert_triggered"])
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()

    # then the card shows the score and each deduction with its reason
    assert '<div class="big" id="health-score">20</div>' in body
    assert "−50: no active model: run train_models" in body
    assert "−25: no analysis ran in the last hour: is beat running?" in body
    assert "−5: 1 paged critical anomaly not acknowledged" in body


def test_each_chart_says_how_fresh_its_analysis_is(client, ops_user):
    from ml_prediction.models import AnalysisRun

    as_of = timezone.now().replace(hour=14, minute=35, second=0, microsecond=0)
    AnalysisRun.objects.create(
        service="java", analysis_type="full", as_of=as_of, status="completed"
    )
    AnalysisRun.objects.create(
        service="vue", analysis_type="full", as_of=as_of - timedelta(minutes=5), status="completed"
    )
    AnalysisRun.objects.create(
        service="vue",
        analysis_type="full",
        as_of=as_of,
        status="failed",
        error="OperationalError: the ML database is in recovery mode",
    )
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()

    def caption(service: str) -> str:
        start = body.index(f'id="chart-{service}"')
        return body[start : body.index("</figcaption>", start)]

    stamp = as_of.strftime("%b %d 14:35")
    assert f"analysed up to {stamp} UTC" in caption("java")
    assert f"last analysis failed ({stamp} UTC)" in caption("vue")
    assert "OperationalError: the ML database is in recovery mode" in caption("vue")
    assert "never analysed" in caption("react")


def test_read_only_users_cannot_press_buttons(client, readonly_user, anomaly):
    client.force_login(readonly_user)
    response = client.post(f"/dashboard/anomalies/{anomaly.anomaly_id}/acknowledge/")
    assert response.status_code == 403
    anomaly.refresh_from_db()
    assert anomaly.acknowledged is False


def test_buttons_need_the_csrf_token(ops_user, anomaly):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(ops_user)
    response = client.post(f"/dashboard/anomalies/{anomaly.anomaly_id}/acknowledge/")
    assert response.status_code == 403
    anomaly.refresh_from_db()
    assert anomaly.acknowledged is False


@pytest.mark.parametrize(
    ("verdict", "status"),
    [("maybe", 400), ("", 400), ("true_positive", 200), ("false_positive", 200)],
)
def test_feedback_verdicts(client, ops_user, prediction, verdict, status):
    from ml_prediction.models import PredictionFeedback

    client.force_login(ops_user)
    response = client.post(
        f"/dashboard/predictions/{prediction.prediction_id}/feedback/",
        {"verdict": verdict},
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == status
    stored = PredictionFeedback.objects.filter(prediction=prediction).count()
    assert stored == (1 if status == 200 else 0)
    if status == 400:
        assert "verdict" in response.json()["message"]


def test_acknowledging_twice_is_a_conflict_with_a_message(client, ops_user, anomaly):
    client.force_login(ops_user)
    url = f"/dashboard/anomalies/{anomaly.anomaly_id}/acknowledge/"
    first = client.post(url, HTTP_X_REQUESTED_WITH="fetch")
    second = client.post(url, HTTP_X_REQUESTED_WITH="fetch")
    assert first.status_code == 200
    assert second.status_code == 409
    assert "already acknowledged" in second.json()["message"]


def test_unknown_ids_are_not_found(client, ops_user):
    client.force_login(ops_user)
    response = client.post(
        f"/dashboard/anomalies/{uuid.uuid4()}/acknowledge/", HTTP_X_REQUESTED_WITH="fetch"
    )
    assert response.status_code == 404


def test_a_plain_form_post_redirects_back_with_a_message(client, ops_user, anomaly):
    client.force_login(ops_user)
    response = client.post(f"/dashboard/anomalies/{anomaly.anomaly_id}/acknowledge/", follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert "Anomaly acknowledged." in response.content.decode()


def test_mark_occurred_links_the_error_that_happened(client, ops_user, prediction):
    # given a stored error of the predicted type after the prediction was made
    from error_logging.services import ingest_errors

    occurred = prediction.prediction_bucket + timedelta(minutes=12)
    result = ingest_errors(
        service="vue",
        items=[
            {
                "error_type": "ChunkLoadError",
                "message": "Loading chunk 7 failed",
                "severity": "error",
                "occurred_at": occurred.isoformat(),
            }
        ],
    )
    client.force_login(ops_user)

    # when the ops user presses "Mark occurred"
    response = client.post(
        f"/dashboard/predictions/{prediction.prediction_id}/occurred/",
        HTTP_X_REQUESTED_WITH="fetch",
    )

    # then the prediction points at that error
    assert response.status_code == 200
    prediction.refresh_from_db()
    assert prediction.actual_error_occurred is True
    assert str(prediction.actual_error_id) == result.ids[0]
    assert abs((prediction.actual_occurred_at - occurred).total_seconds()) < 1


def test_mark_occurred_never_links_an_error_outside_the_predictions_horizon():
    """An error after the horizon ended is not this prediction coming true: linking it would
    count a miss as a hit (and mark_occurred refuses such a timestamp)."""
    from dashboard.selectors import matching_error
    from error_logging.models import ErrorLog
    from ml_prediction.models import ErrorPrediction

    now = timezone.now()
    ended = ErrorPrediction.objects.create(
        service="vue",
        predicted_error_type="ChunkLoadError",
        probability=0.9,
        time_horizon_minutes=30,
        prediction_bucket=now - timedelta(hours=3),
        predicted_timestamp=now - timedelta(hours=2, minutes=30),
    )
    ErrorLog.objects.create(service="vue", error_type="ChunkLoadError", occurred_at=now)
    assert matching_error(prediction=ended) is None
    inside = ErrorLog.objects.create(
        service="vue", error_type="ChunkLoadError", occurred_at=now - timedelta(hours=2, minutes=40)
    )
    assert matching_error(prediction=ended)[0] == inside.error_id


def test_pending_actions_say_their_causes_in_words(client, ops_user):
    # given a pending action that two causes of one incident recommended
    from ml_prediction.models import PreventiveAction

    PreventiveAction.objects.create(
        service="java",
        action_type="scale_up",
        title="Scale up java",
        root_cause="traffic_surge, db_pool_exhaustion",
        priority="high",
        can_be_automated=True,
    )
    client.force_login(ops_user)

    # when the panels are drawn
    body = client.get("/dashboard/panels/").content.decode()

    # then the causes read as the hypotheses say them, the keys kept in the cell's title
    assert (
        '<td class="cause-text" title="traffic_surge, db_pool_exhaustion">'
        "a traffic surge overloads the service; database connections are exhausted</td>"
    ) in body
