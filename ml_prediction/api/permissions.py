"""Who may do what: any authenticated user reads; changing state needs the ``ops`` permission."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from ml_prediction.permissions_setup import OPS_PERMISSION


class IsOpsUser(BasePermission):
    """Grants access to users holding ``ml_prediction.ops`` (the ``ops`` group or a superuser)."""

    message = "This action needs the ops role (permission ml_prediction.ops)."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(OPS_PERMISSION))
