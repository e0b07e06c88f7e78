"""``v_high_risk_predictions`` applies the lift rule of ``prediction_high_risk`` too.

A prediction no likelier than twice its head's base rate (ALERT_MIN_LIFT's default) is the
service's usual state, not a risk (acceptance pass: a 24-hour head at 77% with a 42% base rate
was listed as high risk and created actions). The view gains ``head_base_rate``. The SQL is
frozen here (both directions) so that later edits of ``sql_views`` do not rewrite history.
"""

from django.db import migrations

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
BASE = """CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                         p.time_horizon_minutes || '.base_rate')) = 'number'
         THEN (m.metrics ->> (p.predicted_category || '@' ||
                              p.time_horizon_minutes || '.base_rate'))::double precision END"""
WITH_LIFT = """
    CREATE OR REPLACE VIEW ai_models.v_high_risk_predictions AS
    SELECT p.prediction_id, p.service, p.predicted_error_type, p.predicted_severity,
           p.probability, p.time_horizon_minutes, p.predicted_timestamp,
           p.alert_triggered, p.actual_error_occurred, p.created_at,
           {auc} AS head_roc_auc,
           {base} AS head_base_rate
    FROM ai_models.error_predictions p
    LEFT JOIN ai_models.ml_models m ON m.model_id = p.model_id
    WHERE p.probability >= 0.75
      AND p.predicted_timestamp >= NOW()
      AND (p.model_id IS NULL OR {auc} >= 0.6)
      AND ({base} IS NULL OR p.probability >= 2.0 * {base})
"""
PREVIOUS = """
    CREATE VIEW ai_models.v_high_risk_predictions AS
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


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP VIEW IF EXISTS ai_models.v_high_risk_predictions")
    schema_editor.execute(WITH_LIFT.format(auc=AUC, base=BASE))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP VIEW IF EXISTS ai_models.v_high_risk_predictions")
    schema_editor.execute(PREVIOUS.format(auc=AUC))


class Migration(migrations.Migration):
    dependencies = [("ml_prediction", "0009_high_risk_view_head_trust")]
    operations = [migrations.RunPython(forwards, backwards)]
