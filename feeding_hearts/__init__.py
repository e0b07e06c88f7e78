"""Feeding Hearts ML: the Django project."""

from feeding_hearts.celery import app as celery_app

__all__ = ["celery_app"]
