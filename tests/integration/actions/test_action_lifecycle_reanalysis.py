"""Through the real orchestrator: what a person executed during an incident does not come back
as "recommended" at the next analysis of the same incident (D7)."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator import conftest as orchestrator_conftest
from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic
from tests.integration.orchestrator.test_pipeline import _burst

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

# fast engines and a temporary artifact directory, as in the orchestrator tests
artifact_dir = orchestrator_conftest.artifact_dir
fast_ml_config = orchestrator_conftest.fast_ml_config


def test_executed_actions_do_not_come_back_at_the_next_analysis():
    from ml_prediction.models import PreventiveAction
    from ml_prediction.services import PredictionOrchestrator
    from ml_prediction.services.actions import action_execute

    # given an incident whose first analysis recommended actions
    load_traffic("laravel", days=0.5, seed=12)
    _burst("laravel", count=400, minutes=20)  # pool errors, as in the pipeline tests
    first = PredictionOrchestrator().run_full_analysis("laravel", "deep")
    assert first["actions"]["created"] >= 1

    # when ops do them all by hand, and the incident is analysed again
    for action in PreventiveAction.objects.filter(service="laravel", status="recommended"):
        action_execute(
            action_id=action.action_id, executed_by="ops", result={"success": True, "note": "done"}
        )
    second = PredictionOrchestrator().run_full_analysis("laravel", "deep")

    # then nothing done is recommended again
    assert second["actions"]["created"] == 0
    assert not PreventiveAction.objects.filter(service="laravel", status="recommended").exists()
    # and there is never more than one pending row per action type
    types = list(
        PreventiveAction.objects.filter(service="laravel").values_list("action_type", flat=True)
    )
    assert len(types) == len(set(types))
