"""Migrations build both PostgreSQL databases; the DBA SQL file builds the same ML schema."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
from django.db import connections

ROOT = Path(__file__).resolve().parents[3]
SQL_FILE = ROOT / "database" / "postgres" / "ai-error-prediction-schema.sql"
VIEWS = (
    "v_active_models_summary",
    "v_recent_critical_anomalies",
    "v_high_risk_predictions",
    "v_model_accuracy_trend",
)
pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

COLUMNS_SQL = """
    SELECT table_name, column_name, data_type, is_nullable
    FROM information_schema.columns WHERE table_schema = 'ai_models'
    ORDER BY table_name, column_name
"""
TABLES_SQL = """
    SELECT table_name, table_type FROM information_schema.tables
    WHERE table_schema = 'ai_models' ORDER BY table_name
"""


def _fetch(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return list(cursor.fetchall())


def test_both_databases_are_postgresql_and_distinct():
    default, ml = connections["default"], connections["ml_prediction"]
    assert default.vendor == ml.vendor == "postgresql"
    assert default.settings_dict["NAME"] != ml.settings_dict["NAME"]


def test_ml_tables_live_in_schema_ai_models_and_not_on_default():
    with connections["ml_prediction"].cursor() as cursor:
        tables = {name for name, kind in _fetch(cursor, TABLES_SQL) if kind == "BASE TABLE"}
    assert {"ml_models", "anomaly_detections", "error_predictions", "prediction_feedback"} <= tables
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass('ai_models.ml_models'), to_regclass('public.error_logs')"
        )
        ml_on_default, error_logs = cursor.fetchone()
    assert ml_on_default is None
    assert error_logs is not None


@pytest.mark.parametrize("view", VIEWS)
def test_reporting_views_are_queryable(view):
    from ml_prediction.models import MLModel, ModelPerformanceTracking

    model = MLModel.objects.create(
        model_name="django-anomaly-detector-v1",
        model_type="anomaly_detection",
        service="django",
        framework="Django/Python",
        model_algorithm="IsolationForest",
        status="active",
        config={"n_estimators": 100, "contamination": 0.05},
        created_by="system",
        accuracy=0.9,
    )
    from django.utils import timezone

    ModelPerformanceTracking.objects.create(
        model=model, tracking_date=timezone.now().date(), accuracy_today=0.8, predictions_made=5
    )
    with connections["ml_prediction"].cursor() as cursor:
        cursor.execute(f"SELECT * FROM ai_models.{view}")
        rows = cursor.fetchall()
    if view in ("v_active_models_summary", "v_model_accuracy_trend"):
        assert len(rows) == 1


def test_sql_file_builds_the_same_schema_as_the_migrations():
    settings = connections["ml_prediction"].settings_dict
    params = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"],
        "password": settings["PASSWORD"],
    }
    scratch = f"fh_sqlfile_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dbname="postgres", **params)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        conn = psycopg2.connect(dbname=scratch, **params)
        with conn, conn.cursor() as cursor:
            cursor.execute(SQL_FILE.read_text())
            from_file = (_fetch(cursor, TABLES_SQL), _fetch(cursor, COLUMNS_SQL))
        conn.close()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.close()
    with connections["ml_prediction"].cursor() as cursor:
        from_migrations = (_fetch(cursor, TABLES_SQL), _fetch(cursor, COLUMNS_SQL))
    assert from_file[0] == from_migrations[0]
    assert from_file[1] == from_migrations[1]
    assert {name for name, kind in from_file[0] if kind == "VIEW"} == set(VIEWS)
