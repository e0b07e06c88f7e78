"""Create schema ai_models on PostgreSQL before any ML table (the connection's search_path
puts it first). SQLite has no schemas: nothing to do there."""

from django.db import migrations


def create_schema(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SCHEMA IF NOT EXISTS ai_models")


def drop_schema(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SCHEMA IF EXISTS ai_models CASCADE")


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [migrations.RunPython(create_schema, drop_schema)]
