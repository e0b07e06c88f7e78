"""The Celery application; settings come from Django's CELERY_* settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")

app = Celery("feeding_hearts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
