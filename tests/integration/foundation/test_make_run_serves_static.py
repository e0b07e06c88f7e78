"""`make run` (runserver with DEBUG off) serves the dashboard's CSS/JS and the API docs' assets:
without them the dashboard was unstyled, never refreshed, and /api/docs/ was blank."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_command() -> list[str]:
    """The Makefile's `run` recipe, with this interpreter and a free port."""
    recipe = re.search(
        r"^run:.*\n(?:\t@.*\n)*\t\$\(PY\) (manage\.py runserver.*)$",
        (ROOT / "Makefile").read_text(),
        flags=re.M,
    )
    assert recipe, "the Makefile has no `run` recipe calling runserver"
    return recipe.group(1).split()


def test_the_run_target_serves_static_files(tmp_path):
    port = _free_port()
    args = [a.replace("$(PORT)", str(port)) for a in _run_command()]
    env = {
        **os.environ,
        "DEBUG": "false",
        "FH_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite3'}",
        "ML_DATABASE_URL": f"sqlite:///{tmp_path / 'ml.sqlite3'}",
    }
    server = subprocess.Popen(
        [sys.executable, *args, "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/static/dashboard/dashboard.css"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    assert b"{" in response.read()
                    break
            except urllib.error.HTTPError:
                raise  # the server answered: a 404 is the failure, not a slow start
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)
