"""ML_AUTOMATION_ENABLED means what it says: an analysis's new automatable actions are carried
out by their webhooks without a person pressing Execute (the guide's on_error_logged →
execute_preventive_actions). Only what is current is automated, as only what is current pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.engines.actions import ACTION_CATALOGUE
from tests.integration.alerts import conftest as alerts_conftest
from tests.integration.orchestrator import conftest as orchestrator_conftest
from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic
from tests.integration.orchestrator.test_pipeline import _burst

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

artifact_dir = orchestrator_conftest.artifact_dir
fast_ml_config = orchestrator_conftest.fast_ml_config
http_receiver = alerts_conftest.http_receiver
ml_config = alerts_conftest.ml_config
eager_celery = alerts_conftest.eager_celery


@pytest.fixture
def hook(http_receiver, ml_config):
    """A webhook answering 200 for every action type of the catalogue."""
    receiver = http_receiver(200)
    ml_config(
        ACTION_WEBHOOKS={name: receiver.url for name in ACTION_CATALOGUE},
        SLACK_WEBHOOK_URL="",
        ALERT_EMAIL="",
    )
    return receiver


def _incident_analysis(django_capture_on_commit_callbacks, as_of=None) -> dict:
    from ml_prediction.services import PredictionOrchestrator

    load_traffic("laravel", days=0.5, seed=12)
    _burst("laravel", count=400, minutes=20)  # pool errors, as in the pipeline tests
    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        return PredictionOrchestrator().run_full_analysis("laravel", "deep", as_of=as_of)


def test_automation_on_executes_the_new_automatable_actions(
    hook, ml_config, eager_celery, django_capture_on_commit_callbacks
):
    from ml_prediction.models import AuditEvent, PreventiveAction

    ml_config(AUTOMATION_ENABLED=True)

    result = _incident_analysis(django_capture_on_commit_callbacks)

    created = PreventiveAction.objects.filter(action_id__in=result["actions"]["ids"])
    automatable = [a for a in created if a.can_be_automated]
    assert automatable, "the incident should recommend at least one automatable action"
    assert sorted(b["action_id"] for b in hook.bodies) == sorted(
        str(a.action_id) for a in automatable
    )
    for action in automatable:
        action.refresh_from_db()
        assert action.status == "executed" and action.executed_by == "automation"
        assert action.execution_result["mode"] == "webhook"
        assert AuditEvent.objects.filter(
            object_id=str(action.action_id), action="action.execute"
        ).exists()
    # what a person must do stays for a person
    assert all(a.status == "recommended" for a in created if not a.can_be_automated)


def test_automation_off_leaves_every_action_to_a_person(
    hook, ml_config, eager_celery, django_capture_on_commit_callbacks
):
    from ml_prediction.models import PreventiveAction

    ml_config(AUTOMATION_ENABLED=False)

    result = _incident_analysis(django_capture_on_commit_callbacks)

    assert result["actions"]["created"] >= 1
    assert hook.requests == []
    assert not PreventiveAction.objects.filter(status="executed").exists()


@pytest.mark.parametrize(("hours_ago", "called"), [(0, 1), (6, 0)])
def test_a_backfill_is_never_automated(
    hook,
    ml_config,
    eager_celery,
    django_capture_on_commit_callbacks,
    monkeypatch,
    hours_ago,
    called,
):
    """A run of an hour long past (a late run, a re-analysis) may store actions, e.g. from its
    predictions; it restarts nothing now. The actions here stand for whatever such a run stored."""
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator, orchestrator

    ml_config(AUTOMATION_ENABLED=True)
    stored = PreventiveAction.objects.create(
        service="laravel",
        action_type="scale_up",
        title="Scale up",
        priority="high",
        can_be_automated=True,
    )
    monkeypatch.setattr(orchestrator, "_store_actions", lambda service, planned: [stored.pk])
    load_traffic("laravel", days=0.5, seed=12)
    as_of = timezone.now() - timedelta(hours=hours_ago)

    with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
        PredictionOrchestrator().run_full_analysis("laravel", "full", as_of=as_of)

    assert len(hook.requests) == called
    stored.refresh_from_db()
    assert stored.status == ("executed" if called else "recommended")
