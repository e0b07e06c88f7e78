"""The guide's reporting views (PostgreSQL only; see ml_prediction/sql_views.py)."""

from django.db import migrations

from ml_prediction.sql_views import VIEWS


def create_views(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in VIEWS.values():
        schema_editor.execute(sql)


def drop_views(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in VIEWS:
        schema_editor.execute(f"DROP VIEW IF EXISTS ai_models.{name}")


class Migration(migrations.Migration):
    dependencies = [("ml_prediction", "0002_initial")]
    operations = [migrations.RunPython(create_views, drop_views)]
