"""A password change revokes the user's JWTs: old access tokens are refused by the API (cached
user or not), old refresh tokens mint nothing, verify calls them invalid; new ones work."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

NEW_PASSWORD = "a-new-pass-456"


def _pair(username: str, password: str) -> dict[str, str]:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _read(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/ml/models/").status_code


def _refresh(refresh: str):
    return APIClient().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")


def _verify(token: str) -> int:
    return APIClient().post("/api/auth/token/verify/", {"token": token}, format="json").status_code


def test_a_password_change_revokes_the_old_access_and_refresh_tokens(readonly_user):
    # given a token pair in use (the user's row is now in the shared cache)
    old = _pair("reader", "reader-pass-123")
    assert _read(old["access"]) == 200

    # when the password changes
    readonly_user.set_password(NEW_PASSWORD)
    readonly_user.save()

    # then the old access token is refused, the old refresh token mints nothing, verify says no
    refreshed = _refresh(old["refresh"])
    assert _read(old["access"]) == 401
    assert refreshed.status_code == 401
    assert refreshed.json()["error"]["message"] == "The user's password has been changed."
    assert "access" not in refreshed.json()
    assert _verify(old["access"]) == 401
    assert _verify(old["refresh"]) == 401

    # and tokens from the new password work, refresh included
    new = _pair("reader", NEW_PASSWORD)
    assert _read(new["access"]) == 200
    assert _refresh(new["refresh"]).status_code == 200
    assert _verify(new["access"]) == 200


def test_the_cached_user_also_refuses_a_token_from_before_the_change(readonly_user):
    # given an old token, and the changed user's row cached by a request with a new token
    old = _pair("reader", "reader-pass-123")
    readonly_user.set_password(NEW_PASSWORD)
    readonly_user.save()
    new = _pair("reader", NEW_PASSWORD)
    assert _read(new["access"]) == 200

    # when the old token is used (the user now comes from the cache)
    status = _read(old["access"])

    # then it is refused all the same
    assert status == 401


def test_a_refresh_token_of_a_deleted_user_is_refused(readonly_user):
    old = _pair("reader", "reader-pass-123")
    readonly_user.delete()

    response = _refresh(old["refresh"])

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "No active account found for the given token."


def test_a_refresh_token_of_a_deactivated_user_is_refused(readonly_user):
    old = _pair("reader", "reader-pass-123")
    readonly_user.is_active = False
    readonly_user.save()

    assert _refresh(old["refresh"]).status_code == 401
    assert _verify(old["access"]) == 401
