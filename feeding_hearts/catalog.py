"""Names shared by both apps: services, severities, categories, levels.

They live in ``ml_prediction.engines.catalog`` so that the pure engines can import them without
loading this package (whose ``__init__`` starts the Celery app and with it Django settings).
"""

from ml_prediction.engines.catalog import (
    CATEGORIES,
    LEVELS,
    SERVICE_CHOICES,
    SERVICES,
    SEVERITIES,
)

__all__ = ["CATEGORIES", "LEVELS", "SERVICES", "SERVICE_CHOICES", "SEVERITIES"]
