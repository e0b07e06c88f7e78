"""The default database connection dropped mid-batch: nothing half stored, a 503, an exact retry."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from error_logging.models import ErrorLog, ErrorRollup
from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "ml_prediction"])

# Kills the request's own PostgreSQL backend when the batch reaches its rollup upsert: the
# error rows of the batch are already written inside the transaction at that point.
KILL_ON_ROLLUP = """
CREATE OR REPLACE FUNCTION fh_test_kill_backend() RETURNS trigger AS $$
BEGIN
    PERFORM pg_terminate_backend(pg_backend_pid());
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fh_test_kill BEFORE INSERT OR UPDATE ON error_rollups
    FOR EACH ROW EXECUTE FUNCTION fh_test_kill_backend();
"""
REMOVE = """
DROP TRIGGER IF EXISTS fh_test_kill ON error_rollups;
DROP FUNCTION IF EXISTS fh_test_kill_backend();
"""


@pytest.fixture
def dropping_database():
    with connection.cursor() as cursor:
        cursor.execute(KILL_ON_ROLLUP)
    yield
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(REMOVE)


def test_connection_dropped_mid_batch_stores_nothing_then_retry_stores_each_once(
    client, django_key, dropping_database
):
    # given: a batch of 50 errors with their own ids
    batch = [error_item(error_id=str(uuid.uuid4()), message=f"m{i}") for i in range(50)]
    headers = {"HTTP_X_INGEST_KEY": django_key.public_key}

    # when: the database connection dies in the middle of the batch's transaction
    response = client.post("/api/errors/", batch, content_type="application/json", **headers)

    # then: the client gets a retryable 503 and nothing of the batch is stored
    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    assert "nothing was stored" in response.json()["detail"]
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(REMOVE)
    assert ErrorLog.objects.count() == 0
    assert ErrorRollup.objects.count() == 0

    # when: the client retries the same batch, twice
    first = client.post("/api/errors/", batch, content_type="application/json", **headers)
    again = client.post("/api/errors/", batch, content_type="application/json", **headers)

    # then: every error is stored exactly once and the rollups count each once
    assert first.status_code in (200, 201), first.content
    assert again.status_code in (200, 201), again.content
    assert ErrorLog.objects.count() == 50
    assert sum(r.total_count for r in ErrorRollup.objects.all()) == 50
