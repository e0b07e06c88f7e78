"""Production settings pass Django's deployment checks; a missing SECRET_KEY stops start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The production environment documented in docs/OPERATIONS.md.
PRODUCTION_ENV = {
    "FH_REQUIRE_SECRET_KEY": "true",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "ml.example.org",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; production never does.
    full = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    full.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_documented_production_environment(tmp_path):
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(60),
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = dict(PRODUCTION_ENV)
    result = _manage(tmp_path, "check", SECRET_KEY="", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_operations_doc_lists_the_production_environment():
    doc = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for variable in PRODUCTION_ENV:
        assert variable in doc, variable
