"""The cheap count: exact up to the cap, the planner's estimate above it, links always exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ml_prediction.api.pagination import EXACT_COUNT_LIMIT
from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _events(n: int) -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor="bulk",
            action="x",
            object_type="y",
            created_at=now - timedelta(seconds=i),
        )
        for i in range(n)
    )


def test_count_is_exact_up_to_the_cap(ops_client):
    _events(EXACT_COUNT_LIMIT)

    response = ops_client.get("/api/ml/audit/?page_size=7")

    assert response.json()["count"] == EXACT_COUNT_LIMIT
    assert "X-Count-Estimated" not in response


def test_above_the_cap_the_count_is_an_estimate_flagged_in_a_header(ops_client):
    from django.db import connections

    _events(EXACT_COUNT_LIMIT + 500)
    with connections["ml_prediction"].cursor() as cursor:
        cursor.execute("ANALYZE audit_events")

    response = ops_client.get("/api/ml/audit/?page_size=7")
    last = ops_client.get(f"/api/ml/audit/?page_size=500&page={(EXACT_COUNT_LIMIT + 500) // 500}")

    assert response["X-Count-Estimated"] == "true"
    assert response.json()["count"] > EXACT_COUNT_LIMIT
    assert abs(response.json()["count"] - (EXACT_COUNT_LIMIT + 500)) < 300
    assert last.json()["next"] is None
    assert last.json()["count"] == EXACT_COUNT_LIMIT + 500
