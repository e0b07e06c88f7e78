"""The (service, release, occurred_at) index, built without blocking ingestion.

On PostgreSQL the index is created CONCURRENTLY: error_logs is the largest table, and a plain
CREATE INDEX would hold up every ingest request until it finished. Elsewhere (the embedded
SQLite quick start) a plain index.
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["service", "release", "occurred_at"], name="error_logs_svc_release_idx"
)


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def create_index(apps, schema_editor) -> None:
    model = apps.get_model("error_logging", "ErrorLog")
    schema_editor.add_index(model, INDEX, **_concurrently(schema_editor))


def drop_index(apps, schema_editor) -> None:
    model = apps.get_model("error_logging", "ErrorLog")
    schema_editor.remove_index(model, INDEX, **_concurrently(schema_editor))


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("error_logging", "0002_fingerprint_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="errorlog", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index, atomic=False)],
        ),
    ]
