"""A bad environment value stops manage.py, the WSGI entry and gunicorn with one clear line
naming the variable and a non-zero exit, not a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_DB_VARS = ("DATABASE_URL", "ML_DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
MESSAGE = "Configuration error: ML_ANOMALY_THRESHOLD='abc' is not a number."


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _DB_VARS and not k.startswith("ML_")}
    clean.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    clean.update(env)
    return subprocess.run(args, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize(
    "args",
    [
        [sys.executable, "manage.py", "check"],
        [sys.executable, "manage.py", "migrate", "--check"],
        [sys.executable, "-c", "import feeding_hearts.wsgi"],
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "feeding_hearts.wsgi",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            "127.0.0.1:0",
        ],
    ],
    ids=["manage-check", "manage-migrate", "wsgi", "gunicorn"],
)
def test_a_bad_setting_prints_only_the_message(tmp_path, args):
    result = _run(args, tmp_path, ML_ANOMALY_THRESHOLD="abc")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == MESSAGE


def test_good_settings_still_run_commands(tmp_path):
    result = _run([sys.executable, "manage.py", "check"], tmp_path)
    assert result.returncode == 0, result.stderr
