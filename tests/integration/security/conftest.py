"""Security tests reuse the API row factories and the ingestion key fixtures (no copies)."""

from __future__ import annotations

from tests.integration.api.conftest import (  # noqa: F401
    anon_client,
    clean_read_cache,
    fast_password_hashing,
    make_action,
    make_anomaly,
    make_forecast,
    make_insight,
    make_model,
    make_prediction,
)
from tests.integration.error_logging.conftest import (  # noqa: F401
    django_key,
    error_item,
    isolated_cache,
    laravel_key,
)
