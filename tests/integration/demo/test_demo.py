"""The demo's generate + train + analyse steps at a reduced size, then every API endpoint.

The same ``manage.py demo`` code path a new user runs (minus serving), on PostgreSQL, for one
service over ten days at the generator's full error rate: big enough for every model type to train and
for a full analysis to store anomalies, predictions, forecasts, actions and insights.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from ml_prediction.management.commands.demo import DEMO_ENGINE_OVERRIDES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"]),
]

SERVICE = "django"


@pytest.fixture
def demo_dirs(settings, tmp_path: Path) -> Path:
    """State, labels and model artifacts of this run live in a temporary folder."""
    settings.VAR_DIR = tmp_path
    # Nine days of one service may hold no incident near "now": with these thresholds every
    # scored bucket and prediction is stored, so the test checks the wiring, not model quality.
    settings.ML_PREDICTION_CONFIG = {
        **settings.ML_PREDICTION_CONFIG,
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "ANOMALY_WARNING_THRESHOLD": 0.05,
        "ANOMALY_THRESHOLD": 0.1,
        "ANOMALY_SCORE_THRESHOLD": 0.1,
        "PREDICTION_THRESHOLD": 0.0,
        "HIGH_PROBABILITY_THRESHOLD": 0.0,
        # an error limit every forecast crosses, so a capacity insight is stored: insights are
        # honest now (no permanent latency risk, no morning "rising trend"), and ten quiet
        # days may hold no other finding
        "CAPACITY_LIMITS": {**settings.ML_PREDICTION_CONFIG["CAPACITY_LIMITS"], "error_count": 1},
        # the demo's fast forecasting profile, plus a classifier that accepts the one or two
        # labelled bursts per error category that ten days hold (production asks for three)
        "ENGINE_OVERRIDES": {
            **DEMO_ENGINE_OVERRIDES,
            "PredictorConfig": {"min_positive_events": 1, "min_positive_samples": 3},
        },
    }
    return tmp_path


@pytest.fixture
def demo_run(demo_dirs: Path) -> dict:
    out = StringIO()
    call_command(
        "demo",
        no_serve=True,
        days=10,
        services=SERVICE,
        # the generator's full rate: at the demo's lower rate ten days of one service hold too
        # few labelled error bursts for the classifier to train
        errors_per_minute=1.0,
        workers=1,
        no_progress=True,
        stdout=out,
    )
    return {"output": out.getvalue(), "dir": demo_dirs}


def _items(body):
    if isinstance(body, list):
        return body
    if "results" in body:
        return body["results"]
    return body


def test_demo_steps_leave_data_behind_every_api_endpoint_and_rerun_reuses_it(demo_run, ops_client):
    from error_logging.models import ErrorLog, IngestKey
    from ml_prediction.models import (
        AnomalyDetection,
        MLModel,
        TimeSeriesForecast,
    )

    # then the run printed where to go, with a working token
    output = demo_run["output"]
    assert "/dashboard/" in output and "/api/docs/" in output and "/admin/" in output
    assert 'curl -H "Authorization: Bearer ' in output
    assert IngestKey.objects.count() == 7
    assert ErrorLog.objects.filter(service=SERVICE).count() > 3000
    labels = json.loads((demo_run["dir"] / "demo" / "labels.json").read_text())
    assert labels["incidents"], "the generator labelled no incident"

    # and every list endpoint of the API returns rows
    for path in (
        "/api/ml/models/",
        "/api/ml/predictions/",
        "/api/ml/anomalies/",
        "/api/ml/anomalies/unacknowledged/",
        "/api/ml/forecasts/",
        f"/api/ml/forecasts/by-service/{SERVICE}/",
        "/api/ml/actions/",
        "/api/ml/actions/pending/",
        "/api/ml/insights/",
        "/api/ml/insights/active/",
    ):
        response = ops_client.get(path)
        assert response.status_code == 200, (path, response.content[:300])
        assert _items(response.json()), f"{path} returned no data"

    # high risk is what pages would say, by the same rule: it may be legitimately empty (the
    # demo's "high risk" rows were 24-hour heads at their usual rate, which ML_ALERT_MIN_LIFT
    # now leaves out), but never leaves out a current prediction that may page
    high_risk = ops_client.get("/api/ml/predictions/high_risk/")
    assert high_risk.status_code == 200
    listed = {row["prediction_id"] for row in _items(high_risk.json())}
    from ml_prediction.services.selectors import prediction_current, prediction_head_skill

    paging = {
        str(p.prediction_id)
        for p in prediction_current().select_related("model")
        if p.probability >= 0.75
        and p.predicted_timestamp >= timezone.now()
        and prediction_head_skill(
            metrics=p.model.metrics if p.model_id else None,
            target=p.predicted_category,
            horizon_minutes=p.time_horizon_minutes,
            probability=p.probability,
        ).pages
    }
    assert paging <= listed
    for row in _items(high_risk.json()):
        base = row["head_base_rate"]
        assert base is None or row["probability"] >= 2 * base, row

    # a person's acknowledgement shows in the audit trail
    anomaly_id = _items(ops_client.get("/api/ml/anomalies/unacknowledged/").json())[0]["anomaly_id"]
    assert ops_client.post(f"/api/ml/anomalies/{anomaly_id}/acknowledge/").status_code == 200
    audit = _items(ops_client.get("/api/ml/audit/").json())
    assert [e["object_id"] for e in audit] == [anomaly_id]

    # the filtered views agree with the tables (they may be legitimately empty)
    critical = ops_client.get("/api/ml/anomalies/critical/").json()
    assert (
        critical["count"]
        == AnomalyDetection.objects.filter(is_anomaly=True, severity_level="critical").count()
    )
    at_risk = ops_client.get("/api/ml/forecasts/at_risk/")
    assert at_risk.status_code == 200
    # at risk = the newest forecast of each (service, metric) crossing its limit, not yet over
    # (a demo whose analyses straddle an hour stores two forecasts of one metric)
    newest: dict[tuple[str, str], TimeSeriesForecast] = {}
    for forecast in TimeSeriesForecast.objects.order_by("created_at"):
        newest[(forecast.service, forecast.metric_name)] = forecast
    current = [f for f in newest.values() if f.is_at_risk and f.forecast_end >= timezone.now()]
    assert at_risk.json()["count"] == len(current)

    by_priority = ops_client.get("/api/ml/actions/by_priority/").json()
    assert sum(group["count"] for group in by_priority["priorities"]) > 0
    by_service = ops_client.get("/api/ml/insights/by_service/").json()
    assert [row["service"] for row in by_service["summary"]] == [SERVICE]

    # the model detail endpoints answer for every active model
    active = MLModel.objects.filter(status=MLModel.Status.ACTIVE, service=SERVICE)
    assert {m.model_type for m in active} >= {
        "anomaly_detection",
        "error_classifier",
        "time_series_forecast",
    }
    for model in active:
        for suffix in ("", "performance/", "features/"):
            response = ops_client.get(f"/api/ml/models/{model.model_id}/{suffix}")
            assert response.status_code == 200, (suffix, response.content[:300])

    summary = ops_client.get("/api/ml/dashboard/summary/").json()
    assert summary["models"]["active"] >= 3
    assert summary["predictions"]["total"] > 0
    assert summary["anomalies"]["total"] > 0
    health = ops_client.get("/api/ml/health/")
    assert health.status_code == 200

    # and the dashboard shows the service's chart with its forecast
    from django.test import Client

    from ml_prediction.management.commands.demo import DEMO_USER, load_state

    browser = Client()
    assert browser.login(username=DEMO_USER, password=load_state()["password"])
    page = browser.get("/dashboard/").content.decode()
    chart = page.split(f'data-service="{SERVICE}"')[1].split("</svg>")[0]
    assert 'class="observed"' in chart and 'class="band"' in chart

    # and a second run right away reuses everything: nothing generated, trained or analysed
    from ml_prediction.models import ModelTrainingHistory

    runs_before = ModelTrainingHistory.objects.count()
    again = StringIO()
    call_command("demo", no_serve=True, workers=1, no_progress=True, stdout=again)
    output = again.getvalue()
    assert "Generating" not in output
    assert "Training" not in output
    assert "Running a full analysis" not in output
    assert "is ready" in output
    assert ModelTrainingHistory.objects.count() == runs_before


def test_live_top_up_continues_exactly_where_the_stored_traffic_ends(demo_dirs):
    # given a demo whose traffic ended 40 minutes ago
    from datetime import UTC, datetime, timedelta

    from error_logging.models import ErrorLog, MetricSample
    from ml_prediction.management.commands.demo import demo_top_up, load_state, save_state

    now = datetime(2026, 3, 2, 12, 3, tzinfo=UTC)
    ended = datetime(2026, 3, 2, 11, 20, tzinfo=UTC)
    state = {"seeded_until": ended.isoformat(), "services": ["vue"], "errors_per_minute": 2.0}
    save_state(state)

    # when the live loop tops it up
    added = demo_top_up(state=state, now=now)

    # then the new traffic covers [end of stored traffic, now's bucket) and nothing else
    assert added == ErrorLog.objects.filter(service="vue").count() > 0
    times = ErrorLog.objects.filter(service="vue").values_list("occurred_at", flat=True)
    assert min(times) >= ended
    assert max(times) < datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert MetricSample.objects.filter(service="vue").exists()
    assert load_state()["seeded_until"] == datetime(2026, 3, 2, 12, 0, tzinfo=UTC).isoformat()

    # and a second top-up within the same bucket adds nothing
    assert demo_top_up(state=load_state(), now=now + timedelta(minutes=1)) == 0


def test_live_top_up_runs_on_from_the_release_the_service_runs(demo_dirs):
    # given stored vue traffic whose newest errors came from release vue@1.30.0
    from datetime import UTC, datetime

    from error_logging.models import ErrorLog
    from error_logging.services import ingest_errors
    from ml_prediction.management.commands.demo import demo_top_up, save_state

    ended = datetime(2026, 3, 2, 11, 20, tzinfo=UTC)
    ingest_errors(
        service="vue",
        items=[
            {
                "error_type": "TypeError",
                "message": "Cannot read properties of undefined",
                "release": "vue@1.30.0",
                "occurred_at": "2026-03-02T11:15:00+00:00",
            }
        ],
    )
    state = {"seeded_until": ended.isoformat(), "services": ["vue"], "errors_per_minute": 2.0}
    save_state(state)

    # when the live loop tops it up (a fresh draw of the generator)
    added = demo_top_up(state=state, now=datetime(2026, 3, 2, 13, 3, tzinfo=UTC))

    # then the new traffic still runs vue@1.30.0 or a later release: never a "new" vue@1.0.0
    # that a root cause would date as the latest deploy
    new = ErrorLog.objects.filter(service="vue", occurred_at__gte=ended)
    assert added == new.count() > 0
    releases = set(new.values_list("release", flat=True))
    assert "vue@1.30.0" in releases
    assert all(int(r.split("@1.")[1].split(".")[0]) >= 30 for r in releases), releases


def test_the_live_incident_is_seen_from_a_front_end_too(demo_dirs):
    """One failure seen from two services: the front end's API calls fail during the last
    minutes of the back end's incident, so its root cause can name the back end's."""
    from datetime import UTC, datetime, timedelta

    from error_logging.models import ErrorLog
    from ml_prediction.management.commands.demo import (
        LIVE_CASCADE_MINUTES,
        demo_live_incident,
        live_downstream,
    )

    assert live_downstream(("laravel", "vue", "react")) == "vue"
    assert live_downstream(("laravel", "java")) is None
    assert live_downstream(("react", "vue")) is None  # a front end's incident: no callers

    end = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    stored = demo_live_incident(service="django", end=end, downstream="react")

    assert stored == ErrorLog.objects.filter(service="django").count() > 0
    failing = ErrorLog.objects.filter(service="react")
    assert failing.count() == LIVE_CASCADE_MINUTES * 12
    times = list(failing.values_list("occurred_at", flat=True))
    assert min(times) >= end - timedelta(minutes=LIVE_CASCADE_MINUTES)
    assert max(times) < end
    assert set(failing.values_list("error_type", flat=True)) == {"AxiosError"}
