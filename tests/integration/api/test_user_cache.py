"""The JWT user cache holds the row's column values as JSON, never a pickled ``User``."""

from __future__ import annotations

import os
import pickle

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from ml_prediction.api.authentication import (
    user_cache_entry,
    user_cache_key,
    user_from_cache_entry,
)

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _raw(key: str) -> bytes | None:
    return cache._cache.get_client().get(cache.make_and_validate_key(key))


def test_the_cached_user_is_json_and_rebuilds_the_same_user(readonly_client, readonly_user):
    readonly_user.refresh_from_db()

    assert readonly_client.get("/api/ml/models/").status_code == 200
    raw = _raw(user_cache_key(readonly_user.pk))
    user = user_from_cache_entry(cache.get(user_cache_key(readonly_user.pk)))

    assert raw.startswith(b"T{")  # tagged JSON (the row has datetimes), not a pickle
    assert isinstance(user, get_user_model())
    assert user.pk == readonly_user.pk
    assert user.username == readonly_user.username
    assert user.password == readonly_user.password
    assert user.date_joined == readonly_user.date_joined
    assert user.last_login == readonly_user.last_login
    assert user.is_active is True
    assert (user._state.adding, user._state.db) == (False, "default")
    assert user.has_perm("ml_prediction.view_mlmodel") == readonly_user.has_perm(
        "ml_prediction.view_mlmodel"
    )


def test_a_cached_user_serves_the_next_request(readonly_client, readonly_user):
    readonly_client.get("/api/ml/models/")
    entry = cache.get(user_cache_key(readonly_user.pk))
    entry["fields"]["first_name"] = "from-the-cache"
    cache.set(user_cache_key(readonly_user.pk), entry, timeout=60)

    response = readonly_client.get("/api/ml/models/")

    assert response.wsgi_request.user.first_name == "from-the-cache"


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_planted_pickle_at_the_user_key_is_ignored(readonly_client, readonly_user, tmp_path):
    marker = tmp_path / "unpickled"
    key = user_cache_key(readonly_user.pk)
    cache._cache.get_client(write=True).set(
        cache.make_and_validate_key(key), pickle.dumps(_Marker(str(marker))), ex=60
    )

    response = readonly_client.get("/api/ml/models/")

    assert response.status_code == 200
    assert not marker.exists()
    assert _raw(key).startswith(b"T{")  # replaced by a fresh entry from the database


def test_an_entry_whose_columns_do_not_match_the_model_is_a_miss(readonly_user):
    entry = user_cache_entry(readonly_user)
    stale = {**entry, "fields": {k: v for k, v in entry["fields"].items() if k != "email"}}

    assert user_from_cache_entry(stale) is None
    assert user_from_cache_entry(None) is None
    assert user_from_cache_entry({"unexpected": "shape"}) is None
    assert user_from_cache_entry(entry).pk == readonly_user.pk
