"""The guide's integration points: health check, webhook, commands, DjangoMLIntegration, imports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("tensorflow", "keras", "prophet", "torch")


def test_the_web_process_never_imports_tensorflow_or_prophet():
    code = (
        "import sys, json, django\n"
        "django.setup()\n"
        "from django.urls import get_resolver\n"
        "import feeding_hearts.urls, feeding_hearts.wsgi\n"
        "import ml_prediction.api.views, ml_prediction.health_check, ml_prediction.webhooks\n"
        "import ml_prediction.services.orchestrator, ml_prediction.services.selectors\n"
        "import ml_prediction.tasks, ml_prediction.django_integration\n"
        "get_resolver().resolve('/api/ml/health/')\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _healthy_rows():
    from ml_prediction.models import AnalysisRun, ErrorPrediction, MLModel

    model = MLModel.objects.create(
        model_name="m",
        model_type="anomaly_detection",
        service="django",
        model_algorithm="x",
        status="active",
    )
    ErrorPrediction.objects.create(
        model=model,
        service="django",
        predicted_error_type="T",
        probability=0.7,
        time_horizon_minutes=30,
        prediction_bucket=timezone.now(),
        predicted_timestamp=timezone.now() + timedelta(minutes=30),
    )
    AnalysisRun.objects.create(
        service="django", analysis_type="full", as_of=timezone.now(), status="completed"
    )


@pytest.mark.django_db(databases=BOTH_DBS)
def test_health_check_reports_the_guides_fields_and_a_live_worker(
    readonly_client, celery_worker_process
):
    from django.core.cache import cache

    from ml_prediction.health_check import WORKERS_CACHE_KEY

    _healthy_rows()
    cache.delete(WORKERS_CACHE_KEY)  # a count cached by an earlier test without a worker

    body = readonly_client.get("/api/ml/health/").json()

    assert body["status"] == "healthy" and body["health_score"] == 100
    assert body["active_models"] == 1 and body["recent_predictions_1h"] == 1
    assert {"recent_anomalies_1h", "timestamp"} <= set(body)
    assert (
        body["checks"]["database_default"]
        and body["checks"]["database_ml"]
        and body["checks"]["redis"]
    )
    assert body["checks"]["celery_workers"] >= 1 and body["down"] == []
    assert "postgres" not in json.dumps(body) and "redis://" not in json.dumps(body)


@pytest.mark.django_db(databases=BOTH_DBS)
def test_health_check_is_degraded_naming_what_is_down(readonly_client, settings, monkeypatch):
    from ml_prediction import health_check

    _healthy_rows()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(health_check, "_workers", lambda: 0)

    body = readonly_client.get("/api/ml/health/").json()

    assert body["status"] == "degraded"
    assert body["down"] == ["redis", "celery_workers"]


@pytest.mark.django_db(databases=BOTH_DBS)
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"service": "cobol"}, 400, "service"),
        ({"error_id": "x"}, 400, "service"),
        ({"service": "django", "analysis_type": "slow"}, 400, "analysis_type"),
    ],
)
def test_webhook_refuses_bad_input(ops_client, body, status, field):
    response = ops_client.post("/api/ml/webhooks/predict-for-error/", body, format="json")

    assert response.status_code == status
    assert field in json.dumps(response.json())


@pytest.mark.django_db(databases=BOTH_DBS)
def test_webhook_needs_the_ops_role(readonly_client):
    response = readonly_client.post(
        "/api/ml/webhooks/predict-for-error/", {"service": "django"}, format="json"
    )

    assert response.status_code == 403


@pytest.mark.django_db(databases=BOTH_DBS, transaction=True)
def test_webhook_answers_with_the_analysis_of_the_errors_service(
    ops_client, celery_worker_process, redis_clean
):
    load_traffic("react", days=0.2, seed=9)

    response = ops_client.post(
        "/api/ml/webhooks/predict-for-error/",
        {
            "error_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "service": "react",
            "analysis_type": "quick",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["analysis_results"]["service"] == "react"
    assert body["analysis_results"]["anomalies"]["scored"] == 12


@pytest.mark.django_db(databases=BOTH_DBS)
def test_run_analysis_command_prints_progress_and_counts():
    load_traffic("vue", days=0.2, seed=10)
    out = io.StringIO()

    call_command("run_analysis", "--service", "vue", "--type", "quick", stdout=out)

    text = out.getvalue()
    assert "[1/1] vue (quick)" in text and "anomalies (learning)" in text
    assert "done: 1 service(s) analysed" in text


@pytest.mark.django_db(databases=BOTH_DBS)
def test_train_models_command_skips_a_service_without_enough_errors():
    from ml_prediction.models import ModelTrainingHistory

    out = io.StringIO()

    call_command("train_models", "--service", "java", stdout=out)

    assert "MIN_TRAINING_SAMPLES is 200" in out.getvalue() and "done: 5 skipped" in out.getvalue()
    assert set(ModelTrainingHistory.objects.values_list("status", flat=True)) == {"skipped"}


@pytest.mark.django_db(databases=BOTH_DBS)
@pytest.mark.parametrize(
    ("service", "analysis_type", "message"),
    [
        ("cobol", "full", "service 'cobol' is unknown"),
        ("django", "slow", "analysis_type 'slow' is unknown"),
    ],
)
def test_orchestrator_refuses_unknown_services_and_types(service, analysis_type, message):
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.orchestrator import AnalysisInputError

    with pytest.raises(AnalysisInputError, match=message):
        PredictionOrchestrator().run_full_analysis(service, analysis_type)


@pytest.mark.django_db(databases=BOTH_DBS)
@pytest.mark.parametrize(
    ("enabled", "webhooks", "executed"),
    [
        (False, {"restart": "http://127.0.0.1:9/x"}, 0),
        (True, {}, 0),
        (True, {"restart": "http://127.0.0.1:9/x"}, 1),
    ],
)
def test_preventive_actions_are_automated_only_when_enabled_and_automatable(
    settings, monkeypatch, enabled, webhooks, executed
):
    from ml_prediction.django_integration import DjangoMLIntegration
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import actions

    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "AUTOMATION_ENABLED", enabled)
    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "ACTION_WEBHOOKS", webhooks)
    monkeypatch.setattr(actions, "_call_webhook", lambda action, actor: (True, {"status": 200}))
    auto = PreventiveAction.objects.create(
        service="django",
        action_type="restart",
        title="Restart",
        priority="high",
        can_be_automated=True,
    )
    manual = PreventiveAction.objects.create(
        service="django",
        action_type="restart",
        title="Restart by hand",
        priority="high",
        can_be_automated=False,
    )
    results = {"actions": {"ids": [str(auto.action_id), str(manual.action_id)]}}

    done = DjangoMLIntegration.execute_preventive_actions(results)

    assert len(done) == executed
    assert PreventiveAction.objects.filter(status="executed").count() == executed
    assert PreventiveAction.objects.get(action_id=manual.action_id).status == "recommended"


@pytest.mark.django_db(databases=BOTH_DBS)
def test_on_error_logged_asks_for_one_debounced_analysis(
    redis_clean, django_capture_on_commit_callbacks
):
    from error_logging.models import ErrorLog
    from ml_prediction.django_integration import DjangoMLIntegration

    error = ErrorLog(service="flutter", error_type="E", occurred_at=timezone.now(), fingerprint="f")

    with django_capture_on_commit_callbacks(using="default") as callbacks:
        first = DjangoMLIntegration.on_error_logged(error)
        second = DjangoMLIntegration.on_error_logged(error)

    # the first enqueues an analysis now; the second is debounced into the one trailing
    # analysis of the window (error_logging.analysis_trigger), not into a second one now
    assert (first, second) == (True, False) and len(callbacks) == 2
    with django_capture_on_commit_callbacks(using="default") as later:
        assert DjangoMLIntegration.on_error_logged(error) is False
    assert later == []
