"""A worker started as the guide says (``celery -A … worker``, no -Q) runs every task: training
and alert delivery live on their own queues, and a worker reading only the default queue
would leave them waiting forever, silently."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator.conftest import start_worker

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def test_a_worker_without_queue_options_consumes_every_queue_the_tasks_use(artifact_dir, tmp_path):
    from django.conf import settings

    from feeding_hearts.celery import app

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    routed.add(settings.CELERY_TASK_DEFAULT_QUEUE)

    worker = start_worker(artifact_dir=artifact_dir, log_dir=tmp_path, name="noq", queues=None)
    try:
        active = app.control.inspect(destination=[worker.nodename], timeout=5).active_queues()
    finally:
        worker.stop()

    consumed = {queue["name"] for queue in active[worker.nodename]}
    assert routed == {"analysis", "training", "alerts"}
    assert consumed == routed
