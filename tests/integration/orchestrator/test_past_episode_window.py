"""A past episode is explained as an analysis 15 minutes into it would have seen it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.orchestrator.conftest import BOTH_DBS, floor_5min, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def test_a_pool_that_saturates_after_the_first_bucket_still_explains_the_episode():
    """Found in use: a labelled pool-exhaustion incident read as "a dependency is slow" because
    its first anomalous bucket still had the pool at 82% (the threshold is 85%)."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services import PredictionOrchestrator

    now = timezone.now()
    load_traffic("java", days=1, seed=12)
    start = floor_5min(now - timedelta(hours=15))
    errors = [
        {
            "error_type": "RequestFailed",
            "message": "request failed",
            "severity": "critical",
            "occurred_at": (start + timedelta(seconds=3 * i)).isoformat(),
        }
        for i in range(400)  # 20 minutes from ``start``
    ]
    pool = [
        {
            "metric_name": "db_pool_in_use",
            "value": 80.0 if minute < 5 else 100.0,  # saturates after the first bucket
            "timestamp": (start + timedelta(minutes=minute, seconds=second)).isoformat(),
        }
        for minute in range(20)
        for second in range(0, 60, 3)
    ]
    with analysis_requests_suspended():
        ingest_errors(service="java", items=errors)
        ingest_metrics(service="java", items=pool)

    PredictionOrchestrator().run_full_analysis("java", "deep")

    episode = AnomalyDetection.objects.filter(
        service="java",
        is_anomaly=True,
        window_start__gte=start - timedelta(minutes=5),
        window_start__lt=start + timedelta(minutes=20),
    )
    assert episode.exists()
    causes = {a.contributing_features.get("root_cause_key") for a in episode}
    assert causes == {"db_pool_exhaustion"}, [
        (a.window_start, a.root_cause_hypothesis) for a in episode
    ]
