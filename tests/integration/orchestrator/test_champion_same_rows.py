"""A retrained error classifier is compared with the active one on the same held-out rows
(real training, real registry, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_the_next_days_model_is_compared_with_the_champion_on_its_own_held_out_rows():
    from django.utils import timezone

    from ml_prediction.models import MLModel
    from ml_prediction.services.training import training_run_for_service

    load_traffic("django", days=4, seed=11, errors_per_minute=2.0, incidents_per_week=10)
    now = timezone.now()
    training_run_for_service(
        service="django", model_types=["error_classifier"], as_of=now - timedelta(hours=12)
    )
    champion = MLModel.objects.get(service="django", model_type="error_classifier", status="active")

    histories = training_run_for_service(service="django", model_types=["error_classifier"])

    winner = next(
        h
        for h in histories
        if h.metrics.get("compared_with", {}).get("basis", "").startswith("active")
    )
    assert winner.metrics["compared_with"]["model_id"] == str(champion.model_id)
    assert winner.metrics["compared_with"]["basis"] == "active model, same held-out rows"
    reason = winner.metrics["promotion"]
    assert "the active model's" in reason and "held-out buckets from" in reason
    assert "tolerance" not in reason
    # whichever won, exactly one version serves
    assert (
        MLModel.objects.filter(
            service="django", model_type="error_classifier", status="active"
        ).count()
        == 1
    )
