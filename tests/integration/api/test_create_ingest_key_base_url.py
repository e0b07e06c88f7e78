"""create_ingest_key prints a DSN for the server's real address: --base-url, else
ML_DASHBOARD_BASE_URL, else this machine on $PORT (8000 by default)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from error_logging.models import IngestKey

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    monkeypatch.delenv("ML_DASHBOARD_BASE_URL", raising=False)
    monkeypatch.delenv("PORT", raising=False)


def _run(*args: str) -> tuple[str, IngestKey]:
    out = io.StringIO()
    call_command("create_ingest_key", "django", *args, stdout=out)
    return out.getvalue(), IngestKey.objects.latest("project_id")


def test_the_default_is_this_machine_on_port_8000():
    output, key = _run()

    assert f"DSN:          http://{key.public_key}@127.0.0.1:8000/{key.project_id}\n" in output


def test_the_port_the_server_runs_on_is_used(monkeypatch):
    monkeypatch.setenv("PORT", "8123")

    output, key = _run()

    assert f"http://{key.public_key}@127.0.0.1:8123/{key.project_id}" in output
    assert "POST http://127.0.0.1:8123/api/errors/" in output


def test_the_configured_public_address_is_used(monkeypatch):
    monkeypatch.setenv("ML_DASHBOARD_BASE_URL", "https://ml.example.com/")
    monkeypatch.setenv("PORT", "8123")

    output, key = _run()

    assert f"https://{key.public_key}@ml.example.com/{key.project_id}" in output


def test_base_url_wins_and_keeps_a_path_prefix(monkeypatch):
    monkeypatch.setenv("ML_DASHBOARD_BASE_URL", "https://ml.example.com")

    output, key = _run("--base-url", "https://errors.example.com:8443/fh/")

    assert f"https://{key.public_key}@errors.example.com:8443/fh/{key.project_id}" in output
    assert "POST https://errors.example.com:8443/fh/api/errors/" in output


def test_host_and_scheme_still_override_the_base_url():
    output, key = _run("--base-url", "http://127.0.0.1:8123", "--host", "errors.example:9000")

    assert f"http://{key.public_key}@errors.example:9000/{key.project_id}" in output


def test_a_base_url_that_is_not_http_is_refused():
    with pytest.raises(CommandError, match="--base-url must be an http"):
        _run("--base-url", "ftp://example.com")
    assert not IngestKey.objects.exists()
