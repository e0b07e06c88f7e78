"""Ingestion URLs: native JSON, Sentry-compatible and OTLP endpoints."""

urlpatterns: list = []
