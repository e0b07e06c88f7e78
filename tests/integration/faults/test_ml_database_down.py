"""The ML database unreachable: ingestion keeps working; health says degraded, naming it."""

from __future__ import annotations

import socket

import pytest
from django.db import connections

from error_logging.models import ErrorLog
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def ml_database_unreachable():
    ml = connections["ml_prediction"]
    saved = dict(ml.settings_dict)
    ml.close()
    ml.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(_closed_port())})
    yield
    ml.close()
    ml.settings_dict.clear()
    ml.settings_dict.update(saved)


def test_ingestion_works_and_health_is_degraded_naming_the_ml_database(
    client, django_key, ml_database_unreachable
):
    # when: errors arrive while the ML database refuses connections
    response = client.post(
        "/api/errors/",
        [error_item(message="one"), error_item(message="two")],
        content_type="application/json",
        HTTP_X_INGEST_KEY=django_key.public_key,
    )
    health = client.get("/api/ml/health/")

    # then: both errors are stored, and the health check says what is down
    assert response.status_code in (200, 201), response.content
    assert ErrorLog.objects.count() == 2
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database_ml"] is False
    assert "database_ml" in body["down"]
    assert body["checks"]["database_default"] is True
