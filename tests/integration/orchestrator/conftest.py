"""Fixtures of the orchestrator tests: small simulated traffic, fast engine settings, a worker.

The worker is a real ``celery -A feeding_hearts worker`` subprocess pointed at this run's test
databases (their names go in its environment), with the same fast engine settings as the test
process. Tests that need it use ``transaction=True`` so the worker sees their rows.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import python_command

ROOT = Path(__file__).resolve().parents[3]
BOTH_DBS = ["default", "ml_prediction"]
# Fast engines: few trees, no Prophet/LSTM, short cold start; identical in tests and worker.
ENGINE_OVERRIDES = {
    "ForecastConfig": {"candidates": ["seasonal_naive", "holt_winters"], "backtest_folds": 2},
    "PredictorConfig": {
        "n_estimators": 15,
        "horizons_minutes": [30, 120],
        "min_positive_samples": 3,
    },
    "AnomalyConfig": {"n_estimators": 16},
}
FAST_CONFIG = {
    "MIN_TRAINING_SAMPLES": 200,
    "COLD_START_DAYS": 1.0,
    "FEATURE_CACHE_TTL": 0,
    "TRAINING_LOOKBACK_DAYS": 4.0,
    "ANALYSIS_DEBOUNCE_SECONDS": 1,
    "ENGINE_OVERRIDES": ENGINE_OVERRIDES,
}
FAST_ENV = {
    "ML_TRAINING_SAMPLES_MIN": "200",
    "ML_COLD_START_DAYS": "1",
    "ML_FEATURE_CACHE_TTL": "0",
    "ML_TRAINING_LOOKBACK_DAYS": "4",
    "ML_ANALYSIS_DEBOUNCE_SECONDS": "1",
    "ML_ENGINE_OVERRIDES": json.dumps(ENGINE_OVERRIDES),
}


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(autouse=True)
def fast_ml_config(monkeypatch, artifact_dir) -> dict:
    """Point the registry at a temporary directory and make the engines fast."""
    from ml_prediction.services.registry import registry_cache_clear

    for key, value in {**FAST_CONFIG, "ARTIFACT_DIR": str(artifact_dir)}.items():
        monkeypatch.setitem(settings.ML_PREDICTION_CONFIG, key, value)
    registry_cache_clear()
    return settings.ML_PREDICTION_CONFIG


def floor_5min(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def assert_actions_answer(actions, *, cause: str, service: str) -> None:
    """Each action names ``cause``; any other cause it names is that of another current episode.

    An action two current episodes call for ("Scale up" for a pool exhaustion and a slow
    dependency) is one pending row naming both causes; the simulated traffic holds such a small
    episode at some hours of the week (the clock sweep found them)."""
    from ml_prediction.models import AnomalyDetection
    from ml_prediction.services.orchestrator import current_cutoff

    current = {
        a.contributing_features.get("root_cause_key")
        for a in AnomalyDetection.objects.filter(
            service=service,
            is_anomaly=True,
            window_end__gte=current_cutoff() - timedelta(minutes=5),  # the run was earlier
        )
    }
    assert actions
    for action in actions:
        causes = set(action.root_cause.split(", "))
        assert cause in causes and causes <= current, (action.root_cause, current)


def load_traffic(
    service: str, *, days: float, seed: int = 7, end: datetime | None = None, **sim_options
) -> object:
    """Simulate ``days`` of one service ending at ``end`` (default now) and ingest it for real."""
    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics
    from ml_prediction.engines.simulator import SimulationConfig, simulate

    end = floor_5min(end or timezone.now())
    sim = simulate(
        SimulationConfig(
            days=days,
            services=(service,),
            seed=seed,
            start=end - timedelta(days=days),
            **sim_options,
        )
    )
    with analysis_requests_suspended():
        errors = list(sim.iter_errors(service))
        for i in range(0, len(errors), 1000):
            ingest_errors(service=service, items=errors[i : i + 1000])
        metrics = list(sim.iter_metrics(service))
        for i in range(0, len(metrics), 2000):
            ingest_metrics(service=service, items=metrics[i : i + 2000])
    return sim


def burst_in_bucket(service: str, start: datetime, *, count: int = 300, message, **fields) -> None:
    """``count`` errors spread over the 5-minute bucket at ``start``, ingested for real; each
    item's message is ``message(i)`` and its other fields ``fields`` (error_type, severity …)."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    step = 295.0 / count  # within the bucket, from its fifth second
    items = [
        {
            **fields,
            "message": message(i),
            "occurred_at": (start + timedelta(seconds=5 + step * i)).isoformat(),
        }
        for i in range(count)
    ]
    with analysis_requests_suspended():
        ingest_errors(service=service, items=items)


def episode_rows(service: str, first_bucket: datetime) -> list:
    """The service's flagged anomaly rows from ``first_bucket`` on, oldest first."""
    from ml_prediction.models import AnomalyDetection

    return list(
        AnomalyDetection.objects.filter(
            service=service, is_anomaly=True, window_start__gte=first_bucket
        ).order_by("window_start")
    )


def wait_for(
    predicate, *, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, nodename: str, log_path: Path) -> None:
        self.process = process
        self.nodename = nodename
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _descendants(self) -> list[int]:
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                tasks = Path(f"/proc/{pid}/task").iterdir()
                children = [int(c) for t in tasks for c in (t / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
        return found

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would, and
        return only once every one of them is gone: a pool child still exiting would otherwise
        count as a live lock holder for the next step of a test."""
        from ml_prediction.services.locks import process_alive

        children = self._descendants()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        wait_for(
            lambda: not any(process_alive(pid) for pid in children),
            timeout=30,
            interval=0.05,
            message="the worker's pool children to exit",
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


_STARTED: list[WorkerProcess] = []


@atexit.register
def _kill_leftover_workers() -> None:
    """A worker whose test failed before stopping it must not outlive the run: it would keep
    consuming the shared test broker's queues with this checkout's code in the next run."""
    for worker in _STARTED:
        if worker.process.poll() is None:
            with contextlib.suppress(Exception):
                os.killpg(worker.process.pid, signal.SIGKILL)


def start_worker(
    *,
    artifact_dir: Path,
    log_dir: Path,
    name: str,
    extra_env: dict | None = None,
    queues: str | None = "analysis,training",
) -> WorkerProcess:
    """Start a real worker on the test databases and wait until it answers a ping
    (``queues=None``: no -Q, as the guide starts it)."""
    from django.db import connections

    from feeding_hearts.celery import app

    base = "postgres://postgres:postgres@127.0.0.1:5432/"
    env = {
        **os.environ,
        **FAST_ENV,
        "DATABASE_URL": base + connections["default"].settings_dict["NAME"],
        "ML_DATABASE_URL": base + connections["ml_prediction"].settings_dict["NAME"],
        "ML_ARTIFACT_DIR": str(artifact_dir),
        "FH_TEST_DB_SUFFIX": "",
        **(extra_env or {}),
    }
    nodename = f"{name}-{os.getpid()}@localhost"
    log_path = log_dir / f"{name}.log"
    process = subprocess.Popen(
        python_command(
            "celery",
            "-A",
            "feeding_hearts",
            "worker",
            *(["-Q", queues] if queues else []),
            "-c",
            "2",
            "-n",
            nodename,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--logfile={log_path}",
        ),
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    worker = WorkerProcess(process, nodename, log_path)
    _STARTED.append(worker)
    try:
        wait_for(
            lambda: (
                process.poll() is not None or app.control.ping(destination=[nodename], timeout=0.5)
            ),
            timeout=90,
            message=f"worker {nodename} to start",
        )
    except BaseException:  # whatever failed (a broker error, Ctrl-C), never leave it running
        worker.kill()
        raise
    if process.poll() is not None:
        raise AssertionError(f"worker exited at start:\n{worker.log()[-3000:]}")
    return worker


@pytest.fixture(scope="package")
def celery_worker_process(
    django_db_setup, django_db_blocker, artifact_dir, tmp_path_factory
) -> Iterator[WorkerProcess]:
    """One real worker for this package's tests (stopped after them, so it never takes another
    package's queued messages), on clean broker and cache Redis databases."""
    import redis

    for url in (settings.CELERY_BROKER_URL, settings.REDIS_URL):
        redis.Redis.from_url(url).flushdb()
    with django_db_blocker.unblock():
        worker = start_worker(
            artifact_dir=artifact_dir,
            log_dir=tmp_path_factory.mktemp("worker-logs"),
            name="orch-main",
        )
    yield worker
    worker.stop()


@pytest.fixture
def redis_clean() -> Iterator[None]:
    """Forget locks, debounce keys and cached reads between tests (our own Redis databases)."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    yield
