"""The JWT endpoints' serializers (wired in ``SIMPLE_JWT``): sign-in behind the sign-in throttle,
and no token outliving its user's password.

simplejwt's ``CHECK_REVOKE_TOKEN`` puts a digest of the password hash in every token and the API's
authentication refuses a token whose digest no longer matches; its refresh and verify endpoints
do not look, so an old refresh token would go on minting access tokens (each refused on use, but
"valid" to a client) until it expired. These check the user the same way.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.contrib.rest_framework_simplejwt import (
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
    TokenVerifySerializerExtension,
)
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token, UntypedToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from feeding_hearts.throttling import (
    login_attempt_begin,
    login_attempt_succeeded,
    login_throttled_message,
)


class LoginThrottled(exceptions.Throttled):
    """429 with Retry-After (DRF adds the header from ``wait``) and the sign-in message."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait)
        self.detail = exceptions.ErrorDetail(login_throttled_message(wait), code=self.default_code)


def token_user_check(token: Token) -> None:
    """Refuse a token whose user is gone or inactive, or changed their password since it was
    issued (the same rules as ``CachedUserJWTAuthentication``)."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = None
    if user_id is not None:
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed(
            "No active account found for the given token.", code="no_active_account"
        )
    if api_settings.CHECK_REVOKE_TOKEN and token.get(
        api_settings.REVOKE_TOKEN_CLAIM
    ) != get_md5_hash_password(user.password):
        raise AuthenticationFailed("The user's password has been changed.", code="password_changed")


@extend_schema_serializer(component_name="TokenObtainPair")  # simplejwt's name, unchanged
class ThrottledTokenObtainPairSerializer(TokenObtainPairSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        request = self.context.get("request")
        if request is None:  # not from a view: no client to count
            return super().validate(attrs)
        attempt = login_attempt_begin(request, username=attrs[self.username_field])
        if attempt.retry_after is not None:
            raise LoginThrottled(attempt.retry_after)
        data = super().validate(attrs)  # a wrong password raises here: the attempt stays counted
        login_attempt_succeeded(attempt)
        return data


@extend_schema_serializer(component_name="TokenRefresh")
class RevocableTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token_user_check(self.token_class(attrs["refresh"]))
        return super().validate(attrs)


@extend_schema_serializer(component_name="TokenVerify")
class RevocableTokenVerifySerializer(TokenVerifySerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[Any, Any]:
        data = super().validate(attrs)
        token_user_check(UntypedToken(attrs["token"]))
        return data


# The OpenAPI schema keeps simplejwt's request/response shapes (registered on import).
class ThrottledTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "feeding_hearts.auth.ThrottledTokenObtainPairSerializer"


class RevocableTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "feeding_hearts.auth.RevocableTokenRefreshSerializer"


class RevocableTokenVerifySerializerExtension(TokenVerifySerializerExtension):
    target_class = "feeding_hearts.auth.RevocableTokenVerifySerializer"
