"""WSGI entry point (gunicorn feeding_hearts.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")
application = get_wsgi_application()
