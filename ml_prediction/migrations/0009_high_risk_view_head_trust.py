"""``v_high_risk_predictions`` applies the head-trust rule of ``prediction_high_risk``.

The view listed every prediction at 0.75 or more, so a DBA reading it saw the "82%" of a head
that ranks outcomes worse than a coin, which the API and the dashboard hide. The SQL is frozen
here (both directions) so that later edits of ``sql_views`` do not rewrite history.
"""

from django.db import migrations

TRUSTED = """
    CREATE OR REPLACE VIEW ai_models.v_high_risk_predictions AS
    SELECT p.prediction_id, p.service, p.predicted_error_type, p.predicted_severity,
           p.probability, p.time_horizon_minutes, p.predicted_timestamp,
           p.alert_triggered, p.actual_error_occurred, p.created_at,
           {auc} AS head_roc_auc
    FROM ai_models.error_predictions p
    LEFT JOIN ai_models.ml_models m ON m.model_id = p.model_id
    WHERE p.probability >= 0.75
      AND p.predicted_timestamp >= NOW()
      AND (p.model_id IS NULL OR {auc} >= 0.6)
"""
AUC = """COALESCE(
        CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                             p.time_horizon_minutes || '.cal_roc_auc')) = 'number'
             THEN (m.metrics ->> (p.predicted_category || '@' ||
                                  p.time_horizon_minutes || '.cal_roc_auc'))::double precision END,
        CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                             p.time_horizon_minutes || '.roc_auc')) = 'number'
             THEN (m.metrics ->> (p.predicted_category || '@' ||
                                  p.time_horizon_minutes || '.roc_auc'))::double precision END
    )"""
PREVIOUS = """
    CREATE VIEW ai_models.v_high_risk_predictions AS
    SELECT p.prediction_id, p.service, p.predicted_error_type, p.predicted_severity,
           p.probability, p.time_horizon_minutes, p.predicted_timestamp,
           p.alert_triggered, p.actual_error_occurred, p.created_at
    FROM ai_models.error_predictions p
    WHERE p.probability >= 0.75
      AND p.predicted_timestamp >= NOW()
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # dropped first: the views migration creates the view from the current ``sql_views``,
    # whose columns may be a later migration's (CREATE OR REPLACE cannot drop columns)
    schema_editor.execute("DROP VIEW IF EXISTS ai_models.v_high_risk_predictions")
    schema_editor.execute(TRUSTED.format(auc=AUC))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP VIEW IF EXISTS ai_models.v_high_risk_predictions")
    schema_editor.execute(PREVIOUS)


class Migration(migrations.Migration):
    dependencies = [("ml_prediction", "0008_prediction_bucket_index")]
    operations = [migrations.RunPython(forwards, backwards)]
