"""Feature frames come back from the Redis cache exactly as computed, without a query."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.integration.orchestrator.conftest import load_traffic


@pytest.mark.django_db
def test_a_cached_bucket_frame_equals_the_computed_one(monkeypatch):
    from ml_prediction.services.features import bucket_frame_for_service

    monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, "FEATURE_CACHE_TTL", 300)
    cache.clear()
    sim = load_traffic("vue", days=0.25, seed=5)

    end = sim.end + timedelta(hours=1)  # an hour with no traffic: NaN response times

    computed = bucket_frame_for_service(service="vue", start=sim.start, end=end)
    with CaptureQueriesContext(connections["default"]) as queries:
        cached = bucket_frame_for_service(service="vue", start=sim.start, end=end)
    cache.clear()

    assert not queries.captured_queries
    assert computed["total_count"].sum() > 0
    assert any(column.startswith("metric_") for column in computed.columns)
    assert computed["rt_p95"].isna().any()
    pd.testing.assert_frame_equal(cached, computed, check_freq=True)
    assert cached.index.freq == computed.index.freq is not None
