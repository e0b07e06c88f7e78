"""The guide's four reporting views on the ML database (PostgreSQL only).

Kept in one place: the views migration and the DBA schema file both use these statements.
"""

# The gate ROC-AUC of a prediction's head (``selectors.head_gate_auc``): the head's
# calibration-rows ROC-AUC, else its held-out one; NULL when neither is a JSON number.
_HEAD_AUC = """
    COALESCE(
        CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                             p.time_horizon_minutes || '.cal_roc_auc')) = 'number'
             THEN (m.metrics ->> (p.predicted_category || '@' ||
                                  p.time_horizon_minutes || '.cal_roc_auc'))::double precision END,
        CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                             p.time_horizon_minutes || '.roc_auc')) = 'number'
             THEN (m.metrics ->> (p.predicted_category || '@' ||
                                  p.time_horizon_minutes || '.roc_auc'))::double precision END
    )"""

# The head's base rate (``selectors.head_base_rate``); NULL for models trained before it was kept.
_HEAD_BASE_RATE = """
    CASE WHEN jsonb_typeof(m.metrics -> (p.predicted_category || '@' ||
                                         p.time_horizon_minutes || '.base_rate')) = 'number'
         THEN (m.metrics ->> (p.predicted_category || '@' ||
                              p.time_horizon_minutes || '.base_rate'))::double precision END"""

HIGH_RISK_VIEW = f"""
        CREATE OR REPLACE VIEW ai_models.v_high_risk_predictions AS
        SELECT p.prediction_id, p.service, p.predicted_error_type, p.predicted_severity,
               p.probability, p.time_horizon_minutes, p.predicted_timestamp,
               p.alert_triggered, p.actual_error_occurred, p.created_at,
               {_HEAD_AUC} AS head_roc_auc,
               {_HEAD_BASE_RATE} AS head_base_rate
        FROM ai_models.error_predictions p
        LEFT JOIN ai_models.ml_models m ON m.model_id = p.model_id
        WHERE p.probability >= 0.75
          AND p.predicted_timestamp >= NOW()
          AND (p.model_id IS NULL OR {_HEAD_AUC} >= 0.6)
          AND ({_HEAD_BASE_RATE} IS NULL OR p.probability >= 2.0 * {_HEAD_BASE_RATE})
    """

VIEWS: dict[str, str] = {
    "v_active_models_summary": """
        CREATE OR REPLACE VIEW ai_models.v_active_models_summary AS
        SELECT m.service,
               m.model_type,
               COUNT(*) AS active_models,
               MAX(m.last_trained_at) AS last_trained_at,
               AVG(m.accuracy) AS avg_accuracy,
               AVG(m.f1_score) AS avg_f1_score
        FROM ai_models.ml_models m
        WHERE m.status = 'active'
        GROUP BY m.service, m.model_type
    """,
    "v_recent_critical_anomalies": """
        CREATE OR REPLACE VIEW ai_models.v_recent_critical_anomalies AS
        SELECT a.anomaly_id, a.service, a.metric_name, a.anomaly_score, a.anomaly_type,
               a.detected_at, a.root_cause_hypothesis, a.recommended_action, a.acknowledged
        FROM ai_models.anomaly_detections a
        WHERE a.severity_level = 'critical'
          AND a.is_anomaly
          AND a.detected_at >= NOW() - INTERVAL '7 days'
    """,
    # The API's rule (``selectors.prediction_high_risk``) at the settings' defaults
    # (HIGH_PROBABILITY_THRESHOLD 0.75, ALERT_MIN_HEAD_AUC 0.6, ALERT_MIN_LIFT 2): a view
    # cannot read settings.
    # A head that ranks outcomes no better than chance is not high risk whatever its
    # probability; a prediction no stored model made has no head to judge and stays in.
    "v_high_risk_predictions": HIGH_RISK_VIEW,
    "v_model_accuracy_trend": """
        CREATE OR REPLACE VIEW ai_models.v_model_accuracy_trend AS
        SELECT m.model_id, m.model_name, m.service, m.model_type, t.tracking_date,
               t.accuracy_today, t.predictions_made, t.predictions_correct, t.errors_prevented
        FROM ai_models.model_performance_tracking t
        JOIN ai_models.ml_models m ON m.model_id = t.model_id
        WHERE t.tracking_date >= CURRENT_DATE - INTERVAL '30 days'
    """,
}
