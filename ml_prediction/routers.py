"""Database router: the ml_prediction app lives on its own database, everything else on default."""

from __future__ import annotations

from typing import Any

ML_APP_LABEL = "ml_prediction"
ML_DB = "ml_prediction"


class MLPredictionRouter:
    """Route by app label; refuse relations and migrations across the two databases."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return ML_DB if model._meta.app_label == ML_APP_LABEL else "default"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return ML_DB if model._meta.app_label == ML_APP_LABEL else "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return (obj1._meta.app_label == ML_APP_LABEL) == (obj2._meta.app_label == ML_APP_LABEL)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        if app_label == ML_APP_LABEL:
            return db == ML_DB
        return db != ML_DB
