"""Shared fixtures. Integration tests run on real PostgreSQL (both databases) and Redis."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BOTH_DBS = ["default", "ml_prediction"]
DATASETS_DIR = Path(
    os.environ.get("FH_DATASETS_DIR", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


@pytest.fixture
def datasets_dir() -> Path:
    if not DATASETS_DIR.exists():
        if os.environ.get("CI"):
            pytest.fail(f"datasets folder {DATASETS_DIR} is missing on CI")
        pytest.skip(f"datasets folder {DATASETS_DIR} is absent (set FH_DATASETS_DIR)")
    return DATASETS_DIR


@pytest.fixture
def ops_user(db):
    from django.contrib.auth import get_user_model

    from ml_prediction.permissions_setup import ensure_roles

    ensure_roles()
    user = get_user_model().objects.create_user("ops", password="ops-pass-123")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="ops"))
    return user


@pytest.fixture
def readonly_user(db):
    from django.contrib.auth import get_user_model

    from ml_prediction.permissions_setup import ensure_roles

    ensure_roles()
    user = get_user_model().objects.create_user("reader", password="reader-pass-123")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="read-only"))
    return user


def _client_for(user):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def ops_client(ops_user):
    return _client_for(ops_user)


@pytest.fixture
def readonly_client(readonly_user):
    return _client_for(readonly_user)
