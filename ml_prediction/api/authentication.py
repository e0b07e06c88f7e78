"""JWT authentication with the user row kept in the shared cache.

simplejwt loads the user with an ORM query on every request; for a cached API read that query
was about a quarter of the web worker's CPU. The cached entry is deleted whenever the user,
their groups or their permissions change (signals below), in every process at once through
Redis, so a deactivated user is still refused on their next request. The entry is the row's
column values (plain data: the cache never pickles), rebuilt into a ``User`` as the ORM would
load it. Permissions themselves are not cached: ``has_perm`` loads them per request.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from ml_prediction.services.cache import cache_set_if_up

logger = logging.getLogger(__name__)
USER_CACHE_SECONDS = 300


def user_cache_key(user_id: Any) -> str:
    return f"jwt-user:{user_id}"


def user_cache_entry(user: Any) -> dict[str, Any]:
    """What the cache keeps of a user: the database alias and every column's value."""
    return {
        "db": user._state.db,
        "fields": {f.attname: getattr(user, f.attname) for f in user._meta.concrete_fields},
    }


def user_from_cache_entry(entry: Any) -> Any:
    """The ``User`` of a ``user_cache_entry``, as loaded from its database; None (a miss) for
    no entry or one whose columns no longer match the model (an entry from before a migration)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("fields"), dict):
        return None
    model = get_user_model()
    fields = entry["fields"]
    if list(fields) != [f.attname for f in model._meta.concrete_fields]:
        return None
    return model.from_db(entry.get("db"), list(fields), list(fields.values()))


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's ``JWTAuthentication``, the same checks, the user from the cache when there."""

    def get_user(self, validated_token: Any) -> Any:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        key = user_cache_key(user_id)
        try:
            user = user_from_cache_entry(cache.get(key))
        except Exception:
            logger.warning("cache unavailable; loading the user from the database", exc_info=True)
            return super().get_user(validated_token)
        if user is None:
            user = super().get_user(validated_token)  # raises for unknown or inactive users
            cache_set_if_up(
                key, user_cache_entry(user), timeout=USER_CACHE_SECONDS, what="user cache"
            )
            return user
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                "The user's password has been changed.", code="password_changed"
            )
        return user


class CachedUserJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme: the same bearer JWT as simplejwt's (registered on import)."""

    target_class = "ml_prediction.api.authentication.CachedUserJWTAuthentication"


def forget_cached_user(sender: Any, instance: Any = None, **kwargs: Any) -> None:
    """Signal receiver: drop the changed user's cache entry (all users on a reverse m2m change)."""
    model = get_user_model()
    try:
        if isinstance(instance, model):
            cache.delete(user_cache_key(instance.pk))
        elif kwargs.get("pk_set"):  # group.user_set / permission.user_set changed
            cache.delete_many([user_cache_key(pk) for pk in kwargs["pk_set"]])
    except Exception:
        logger.warning(
            "cache unavailable; a changed user may be served for %ss",
            USER_CACHE_SECONDS,
            exc_info=True,
        )


def connect_user_cache_signals() -> None:
    model = get_user_model()
    post_save.connect(forget_cached_user, sender=model, dispatch_uid="jwt-user-saved")
    post_delete.connect(forget_cached_user, sender=model, dispatch_uid="jwt-user-deleted")
    for through in (model.groups.through, model.user_permissions.through):
        m2m_changed.connect(forget_cached_user, sender=through, dispatch_uid=f"jwt-user-{through}")
