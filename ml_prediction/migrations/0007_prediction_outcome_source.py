"""Who recorded a prediction's outcome: a person (mark_occurred) or the data (outcome resolution).

Existing outcomes are attributed from the audit trail: every mark_occurred left a
``prediction.mark_occurred`` audit event; every other recorded outcome was resolved from data.
"""

from django.db import migrations, models


def attribute_existing_outcomes(apps, schema_editor) -> None:
    db = schema_editor.connection.alias
    prediction = apps.get_model("ml_prediction", "ErrorPrediction")
    audit = apps.get_model("ml_prediction", "AuditEvent")
    marked = set(
        audit.objects.using(db)
        .filter(action="prediction.mark_occurred", outcome="ok")
        .values_list("object_id", flat=True)
    )
    decided = prediction.objects.using(db).filter(actual_error_occurred__isnull=False)
    decided.update(actual_outcome_source="data")
    marked_ids = [value for value in marked if value]
    for start in range(0, len(marked_ids), 1000):
        decided.filter(prediction_id__in=marked_ids[start : start + 1000]).update(
            actual_outcome_source="person"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ml_prediction", "0006_alert_resolved_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="errorprediction",
            name="actual_outcome_source",
            field=models.CharField(
                blank=True,
                choices=[("person", "Person"), ("data", "Data")],
                default="",
                max_length=10,
            ),
        ),
        migrations.RunPython(attribute_existing_outcomes, migrations.RunPython.noop),
    ]
