"""After ingestion, logins and rejected credentials, no log file holds an ingest key, an ingest
secret, a JWT or a password: logs name keys by id or by a short SHA-256 digest only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.integration.error_logging.conftest import error_item

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _log_text() -> str:
    """Every file under LOG_DIR (rotated ones too), after flushing the file handlers."""
    for name in ("ml_prediction", "error_logging"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    return "\n".join(
        path.read_text(errors="replace")
        for path in Path(settings.LOG_DIR).rglob("*")
        if path.is_file()
    )


def test_keys_tokens_and_passwords_never_reach_the_logs(django_user_model, caplog):
    from error_logging.models import IngestKey

    caplog.set_level(logging.INFO)
    secret = secrets.token_hex(16)
    key = IngestKey.objects.create(service="django", project_id=9101, secret_key=secret)
    other = IngestKey.objects.create(service="laravel", project_id=9102)
    unknown_key = secrets.token_hex(16)
    password = f"pw-{secrets.token_hex(12)}"
    django_user_model.objects.create_user("log-reader", password=password)
    client = APIClient()

    # given: an ingestion, a login and a few calls refused for bad credentials
    stored = client.post(
        "/api/errors/", [error_item()], format="json", headers={"X-Ingest-Key": key.public_key}
    )
    pair = client.post(
        "/api/auth/token/", {"username": "log-reader", "password": password}, format="json"
    )
    jwt = pair.json()["access"]
    refused = {
        "unknown key": client.post(
            "/api/errors/", [error_item()], format="json", headers={"X-Ingest-Key": unknown_key}
        ),
        "other service": client.post(
            "/api/errors/",
            [error_item(service="django")],
            format="json",
            headers={"X-Ingest-Key": other.public_key},
        ),
        "jwt as ingest key": client.post(
            "/api/errors/",
            [error_item()],
            format="json",
            headers={"Authorization": f"Bearer {jwt}"},
        ),
        "sentry bad key": client.post(
            "/api/9101/store/",
            json.dumps({"message": "boom"}),
            content_type="application/json",
            headers={"X-Sentry-Auth": f"Sentry sentry_key={unknown_key}, sentry_secret={secret}"},
        ),
        "ingest key as jwt": client.get(
            "/api/ml/models/", headers={"Authorization": f"Bearer {key.public_key}"}
        ),
        "audit without ops": client.get(
            "/api/ml/audit/", headers={"Authorization": f"Bearer {jwt}"}
        ),
        "wrong password": client.post(
            "/api/auth/token/",
            {"username": "log-reader", "password": password + "x"},
            format="json",
        ),
    }
    assert stored.status_code == 201 and pair.status_code == 200
    assert {name: r.status_code for name, r in refused.items()} == {
        "unknown key": 401,
        "other service": 403,
        "jwt as ingest key": 401,
        "sentry bad key": 401,
        "ingest key as jwt": 401,
        "audit without ops": 403,
        "wrong password": 401,
    }

    # when
    logs = _log_text() + "\n" + caplog.text

    # then: the refusals were logged, by digest and id only
    assert hashlib.sha256(unknown_key.encode()).hexdigest()[:12] in logs
    assert f"ingest key {other.id} of laravel sent another service's item" in logs
    leaked = {
        name: value
        for name, value in {
            "ingest key": key.public_key,
            "other ingest key": other.public_key,
            "unknown key": unknown_key,
            "ingest secret": secret,
            "access token": jwt,
            "refresh token": pair.json()["refresh"],
            "password": password,
        }.items()
        if value in logs
    }
    assert leaked == {}
