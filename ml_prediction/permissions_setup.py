"""The two roles of the API: ``ops`` (may change state) and ``read-only``."""

from __future__ import annotations

OPS_GROUP = "ops"
READ_ONLY_GROUP = "read-only"
OPS_PERMISSION = "ml_prediction.ops"


def ensure_roles() -> None:
    """Create both groups and give ``ops`` the ops permission (idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from ml_prediction.models import MLModel

    content_type = ContentType.objects.get_for_model(MLModel)
    permission, _ = Permission.objects.get_or_create(
        codename="ops",
        content_type=content_type,
        defaults={"name": "Ops: act on predictions, anomalies, actions and analyses"},
    )
    ops, _ = Group.objects.get_or_create(name=OPS_GROUP)
    ops.permissions.add(permission)
    Group.objects.get_or_create(name=READ_ONLY_GROUP)
