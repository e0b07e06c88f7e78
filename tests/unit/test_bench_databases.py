"""The benchmarks that store data use databases of their own, whatever the environment names.

`make bench` runs every benchmark with DATABASE_URL etc. naming the development databases. The
orchestrator benchmark TRUNCATEs the error tables of the database it is given, and it used to
take the environment's (it defaulted its own); the dashboard benchmark measured the environment's
database and failed on a fresh machine where that database did not exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
DEVELOPMENT_ENV = {
    "DATABASE_URL": "postgres://postgres:postgres@127.0.0.1:5432/feeding_hearts",
    "ML_DATABASE_URL": "postgres://postgres:postgres@127.0.0.1:5432/feeding_hearts_ml",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
}


def test_orchestrator_benchmark_never_takes_the_environments_databases() -> None:
    # A child process: the benchmark sets its environment when imported.
    script = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        "import orchestrator_bench as bench\n"
        "print(json.dumps({k: os.environ[k] for k in bench.BENCH_ENV}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **DEVELOPMENT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["DATABASE_URL"].endswith("/feeding_hearts_bench_orch")
    assert seen["ML_DATABASE_URL"].endswith("/feeding_hearts_ml_bench_orch")
    assert seen["CELERY_BROKER_URL"].endswith("/12")
    assert seen["REDIS_URL"].endswith("/13")


@pytest.fixture
def dashboard_bench(benchmark_script):
    return benchmark_script("dashboard_bench")


def test_dashboard_benchmark_sets_up_and_reads_its_own_demo(
    dashboard_bench, monkeypatch, tmp_path
) -> None:
    for name, value in DEVELOPMENT_ENV.items():
        monkeypatch.setenv(name, value)  # restored after the test, whatever the code removes
    monkeypatch.setenv("ML_DB_HOST", "db.example")
    monkeypatch.setenv("FH_VAR_DIR", "/somewhere/else")
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs, dict(os.environ)))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(dashboard_bench.subprocess, "run", run)
    dashboard_bench.use_own_demo(tmp_path / "demo")

    [(command, kwargs, env)] = calls
    assert command[1:] == ["manage.py", "demo", "--no-serve"]
    assert kwargs["check"] is True
    for seen in (env, os.environ):  # the demo's process and the measuring one alike
        assert seen["FH_VAR_DIR"] == str((tmp_path / "demo").resolve())
        assert not {*DEVELOPMENT_ENV, "ML_DB_HOST"} & set(seen)


@pytest.mark.parametrize(("age_hours", "reset"), [(None, False), (1, False), (7, True)])
def test_dashboard_benchmark_makes_an_old_demo_again(
    dashboard_bench, monkeypatch, tmp_path, age_hours, reset
) -> None:
    # given the benchmark's demo folder: empty, seeded an hour ago, or seeded 7 hours ago (the
    # demo without its server does not top up its traffic; the page charts the last 3 days)
    for name in DEVELOPMENT_ENV:
        monkeypatch.setenv(name, "unused")
    monkeypatch.setenv("FH_VAR_DIR", "/somewhere/else")
    if age_hours is not None:
        seeded_until = datetime.now(UTC) - timedelta(hours=age_hours)
        (tmp_path / "demo").mkdir()
        (tmp_path / "demo" / "state.json").write_text(
            json.dumps({"seeded": True, "seeded_until": seeded_until.isoformat()})
        )
    commands = []
    monkeypatch.setattr(
        dashboard_bench.subprocess,
        "run",
        lambda command, **kwargs: commands.append(command) or subprocess.CompletedProcess([], 0),
    )

    # when the benchmark points itself at it
    dashboard_bench.use_own_demo(tmp_path)

    # then only the old one is reset; the others are set up or reused by the demo itself
    [command] = commands
    assert ("--reset" in command) is reset
