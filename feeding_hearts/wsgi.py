"""WSGI entry point (gunicorn feeding_hearts.wsgi)."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")
try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # A bad environment value (feeding_hearts.config names it): the message, not a traceback.
    # gunicorn loads this module in its master (preload_app), so the server stops with code 1.
    sys.exit(f"Configuration error: {exc}")


def _import_every_view() -> None:
    """Load the URLconf (and with it every view, DRF and the serializers) now.

    Django does it on the first request, which then takes ~1-2 s; with gunicorn's preload_app
    this runs once in the master, before the workers fork, so no client waits for it. It opens
    no database connection.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the import is the point)


_import_every_view()
