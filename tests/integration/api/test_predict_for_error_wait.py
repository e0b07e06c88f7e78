"""The predict-for-error webhook holds a sync web worker, which ingestion shares (two by default):
it waits at most two seconds for the analysis, then answers 202 with where to find the run."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

URL = "/api/ml/webhooks/predict-for-error/"


@pytest.mark.parametrize("configured", [None, 60])
def test_without_a_worker_the_webhook_answers_202_within_two_seconds(
    ops_client, broker, settings, configured
):
    # given a broker and no worker: the analysis cannot finish; a longer wait may be configured
    if configured is not None:
        settings.ML_PREDICTION_CONFIG = {
            **settings.ML_PREDICTION_CONFIG,
            "WEBHOOK_WAIT_SECONDS": configured,
        }

    started = time.monotonic()
    response = ops_client.post(URL, {"service": "java", "analysis_type": "quick"}, format="json")
    elapsed = time.monotonic() - started

    # then the worker is free again within the cap, and the answer says what to poll
    assert response.status_code == 202
    assert elapsed < 3.0, f"the web worker was held {elapsed:.1f} s"
    body = response.json()
    assert body["queued"] is True and body["task_id"]
    assert body["poll_url"] == "/api/ml/analysis-runs/?service=java&analysis_type=quick"
    assert ops_client.get(body["poll_url"]).status_code == 200
