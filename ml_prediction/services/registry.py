"""Model registry: artifacts on disk with sha256, MLModel lifecycle (filled in by the orchestrator work)."""

from __future__ import annotations

import uuid

from django.db import transaction

from ml_prediction.models import MLModel


def model_activate(*, model_id: uuid.UUID) -> MLModel:
    """Make one version active and every other version of its service and type inactive."""
    with transaction.atomic(using="ml_prediction"):
        model = MLModel.objects.select_for_update().get(model_id=model_id)
        MLModel.objects.filter(
            service=model.service, model_type=model.model_type, status=MLModel.Status.ACTIVE
        ).exclude(model_id=model.model_id).update(status=MLModel.Status.INACTIVE)
        model.status = MLModel.Status.ACTIVE
        model.save(update_fields=["status", "updated_at"])
    return model
