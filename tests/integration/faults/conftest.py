"""Fault tests reuse the ingestion fixtures (an ingest key, an isolated cache prefix)."""

from tests.integration.error_logging.conftest import django_key, isolated_cache  # noqa: F401
