"""Typed reading of environment variables for settings.

One place turns strings from the environment into values; a malformed value stops start-up with
a message naming the variable, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# The guide's variables for the ML database (any of them selects PostgreSQL in settings.py).
ML_DB_VARIABLES = ("ML_DB_NAME", "ML_DB_USER", "ML_DB_PASSWORD", "ML_DB_HOST", "ML_DB_PORT")
# Every variable that points the project at a database, broker or cache of its own instead of the
# embedded defaults (SQLite under FH_VAR_DIR, in-process broker, local-memory cache).
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "ML_DATABASE_URL",
    *ML_DB_VARIABLES,
    "CELERY_BROKER_URL",
    "REDIS_URL",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    value = env.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}.")
    return parsed


def env_float(
    name: str,
    default: float,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if parsed != parsed:  # NaN
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.")
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}.")
    if maximum is not None and parsed > maximum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at most {maximum}.")
    return parsed


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, environ)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def env_json(name: str, default: Any, environ: Mapping[str, str] | None = None) -> Any:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc.msg}.") from None


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


# When the nightly training runs for each ML_TRAINING_INTERVAL (crontab fields, UTC). Hourly at
# :40 stays clear of the hourly predictions (:00) and the outcome refresh (:20); weekly trains
# in the quiet of Sunday night.
TRAINING_CRONTABS: dict[str, dict[str, str]] = {
    "hourly": {"minute": "40"},
    "daily": {"minute": "0", "hour": "2"},
    "weekly": {"minute": "0", "hour": "2", "day_of_week": "sun"},
}


def training_crontab(schedule: str) -> dict[str, str]:
    """The beat entry's crontab fields for a TRAINING_SCHEDULE value."""
    try:
        return dict(TRAINING_CRONTABS[schedule])
    except KeyError:
        raise ImproperlyConfigured(
            f"TRAINING_SCHEDULE must be one of {', '.join(TRAINING_CRONTABS)}, not {schedule!r}."
        ) from None


def build_ml_prediction_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The guide's ML_PREDICTION_CONFIG, each key overridable by the guide's variable names.

    The guide shows two config blocks with slightly different keys (``ANOMALY_THRESHOLD`` and
    ``ANOMALY_SCORE_THRESHOLD``, ``ALERT_PROBABILITY`` and ``ALERT_PROBABILITY_THRESHOLD``); both
    spellings are present and always equal, so code copied from either block works.
    """
    e = environ
    anomaly = env_float("ML_ANOMALY_THRESHOLD", 0.7, e, minimum=0.0, maximum=1.0)
    alert_probability = env_float("ML_ALERT_PROBABILITY", 0.70, e, minimum=0.0, maximum=1.0)
    training_schedule = env_choice("ML_TRAINING_INTERVAL", "daily", tuple(TRAINING_CRONTABS), e)
    config: dict[str, Any] = {
        # Thresholds
        "ANOMALY_THRESHOLD": anomaly,
        "ANOMALY_SCORE_THRESHOLD": anomaly,
        "ANOMALY_CRITICAL_THRESHOLD": env_float(
            "ML_ANOMALY_CRITICAL_THRESHOLD", 0.85, e, minimum=0.0, maximum=1.0
        ),
        "ANOMALY_WARNING_THRESHOLD": env_float(
            "ML_ANOMALY_WARNING_THRESHOLD", 0.5, e, minimum=0.0, maximum=1.0
        ),
        "PREDICTION_THRESHOLD": env_float(
            "ML_PREDICTION_THRESHOLD", 0.6, e, minimum=0.0, maximum=1.0
        ),
        # a predicted risk counts when it held this many consecutive buckets (the evaluated,
        # debounced policy: docs/EVALUATION.md); 1 reports every bucket's own probability
        "PREDICTION_ALERT_MIN_BUCKETS": env_int("ML_PREDICTION_ALERT_MIN_BUCKETS", 2, e, minimum=1),
        # each service's error predictor also learns from the other services' histories (one
        # service sees too few incidents to learn from alone: docs/EVALUATION.md)
        "PREDICTION_FLEET_TRAINING": env_bool("ML_PREDICTION_FLEET_TRAINING", True, e),
        "HIGH_PROBABILITY_THRESHOLD": env_float(
            "ML_HIGH_PROBABILITY_THRESHOLD", 0.75, e, minimum=0.0, maximum=1.0
        ),
        "MEDIUM_PROBABILITY_THRESHOLD": env_float(
            "ML_MEDIUM_PROBABILITY_THRESHOLD", 0.60, e, minimum=0.0, maximum=1.0
        ),
        "LOW_PROBABILITY_THRESHOLD": env_float(
            "ML_LOW_PROBABILITY_THRESHOLD", 0.40, e, minimum=0.0, maximum=1.0
        ),
        "ALERT_PROBABILITY": alert_probability,
        "ALERT_PROBABILITY_THRESHOLD": alert_probability,
        # a prediction head (target × horizon) whose held-out ROC-AUC is below this is stored
        # but never pages: a head no better than chance on its held-out days cannot wake anyone
        "ALERT_MIN_HEAD_AUC": env_float("ML_ALERT_MIN_HEAD_AUC", 0.6, e, minimum=0.0, maximum=1.0),
        # ... nor a prediction below this many times its head's base rate: "a burst within 24
        # hours" on a service that bursts on 85% of its days is its usual state, not news
        "ALERT_MIN_LIFT": env_float("ML_ALERT_MIN_LIFT", 2.0, e, minimum=1.0),
        # how long predict-for-error holds a web worker for the analysis before answering 202
        "WEBHOOK_WAIT_SECONDS": env_float(
            "ML_WEBHOOK_WAIT_SECONDS", 2.0, e, minimum=0.0, maximum=2.0
        ),
        # Windows and horizons
        "LOOKBACK_HOURS": env_int("ML_LOOKBACK_HOURS", 24, e, minimum=1),
        "FORECAST_HORIZON": env_int("ML_FORECAST_HORIZON", 24, e, minimum=1),
        "SHORT_TERM_HORIZON": env_int("ML_SHORT_TERM_HORIZON", 30, e, minimum=1),
        "MEDIUM_TERM_HORIZON": env_int("ML_MEDIUM_TERM_HORIZON", 120, e, minimum=1),
        "LONG_TERM_HORIZON": env_int("ML_LONG_TERM_HORIZON", 1440, e, minimum=1),
        # Caching (seconds)
        "FEATURE_CACHE_TTL": env_int("ML_FEATURE_CACHE_TTL", 300, e, minimum=0),
        "PREDICTION_CACHE_TTL": env_int("ML_PREDICTION_CACHE_TTL", 60, e, minimum=0),
        # Training
        "MODEL_RETRAINING_INTERVAL": training_schedule,
        "TRAINING_SCHEDULE": training_schedule,
        "MODEL_RETRAINING_ENABLED": env_bool("ML_MODEL_RETRAINING_ENABLED", True, e),
        "MIN_TRAINING_SAMPLES": env_int("ML_TRAINING_SAMPLES_MIN", 1000, e, minimum=1),
        "MAX_TRAINING_TIME": env_int("ML_MAX_TRAINING_TIME", 3600, e, minimum=1),
        "ARTIFACT_DIR": env_str("ML_ARTIFACT_DIR", "", e),
        # Per-engine config overrides, {"ForecastConfig": {"lstm_epochs": 5}, …} (tests, benchmarks)
        "ENGINE_OVERRIDES": env_json("ML_ENGINE_OVERRIDES", {}, e),
        "TRAINING_LOOKBACK_DAYS": env_float("ML_TRAINING_LOOKBACK_DAYS", 30.0, e, minimum=0.1),
        # Cleanup
        "CLEANUP_OLD_PREDICTIONS_DAYS": env_int(
            "ML_CLEANUP_OLD_PREDICTIONS_DAYS", 90, e, minimum=1
        ),
        # Anomaly detection behaviour
        "ANOMALY_MIN_VOLUME": env_int("ML_ANOMALY_MIN_VOLUME", 10, e, minimum=0),
        "COLD_START_DAYS": env_float("ML_COLD_START_DAYS", 7.0, e, minimum=0.0),
        "BUCKET_MINUTES": env_int("ML_BUCKET_MINUTES", 5, e, minimum=1),
        # Analysis triggering
        "ANALYSIS_DEBOUNCE_SECONDS": env_int("ML_ANALYSIS_DEBOUNCE_SECONDS", 60, e, minimum=0),
        # Ingestion limits
        "INGEST_MAX_BATCH": env_int("ML_INGEST_MAX_BATCH", 1000, e, minimum=1),
        "INGEST_MAX_BODY_BYTES": env_int(
            "ML_INGEST_MAX_BODY_BYTES", 20 * 1024 * 1024, e, minimum=1024
        ),
        "INGEST_RATE_LIMIT_PER_MINUTE": env_int(
            "ML_INGEST_RATE_LIMIT_PER_MINUTE", 120000, e, minimum=1
        ),
        "INGEST_KEEP_LOCAL_VARS": env_bool("ML_INGEST_KEEP_LOCAL_VARS", False, e),
        # Alerts
        "ALERT_EMAIL": env_str("ML_ALERT_EMAIL", "ops-team@feedinghearts.local", e),
        "TEAM_EMAIL": env_str("ML_TEAM_EMAIL", "ml-team@feedinghearts.local", e),
        "ALERT_SEVERITY_CRITICAL": env_bool("ALERT_SEVERITY_CRITICAL", True, e),
        "SLACK_WEBHOOK_URL": env_str("ML_SLACK_WEBHOOK_URL", "", e),
        "SLACK_CHANNEL_OVERRIDES": env_json("ML_SLACK_CHANNEL_OVERRIDES", {}, e),
        "ALERT_COOLDOWN_MINUTES": env_int("ML_ALERT_COOLDOWN_MINUTES", 120, e, minimum=0),
        "ANOMALY_ALERT_MIN_BUCKETS": env_int("ML_ANOMALY_ALERT_MIN_BUCKETS", 2, e, minimum=1),
        "ANOMALY_ALERT_WINDOW_MINUTES": env_int(
            "ML_ANOMALY_ALERT_WINDOW_MINUTES", 60, e, minimum=1
        ),
        "ANOMALY_ALERT_SUPPRESS_MINUTES": env_int(
            "ML_ANOMALY_ALERT_SUPPRESS_MINUTES", 120, e, minimum=0
        ),
        # this many scored normal buckets in a row end an anomaly episode: a burst after them is
        # a new incident and pages, and a paged episode stops holding back prediction alerts
        "ANOMALY_RECOVERY_BUCKETS": env_int("ML_ANOMALY_RECOVERY_BUCKETS", 3, e, minimum=1),
        # anomalies whose window ended longer ago than this are history: stored and explained,
        # but they neither page nor create pending preventive actions (backfills, deep lookbacks)
        "ANOMALY_CURRENT_MINUTES": env_int("ML_ANOMALY_CURRENT_MINUTES", 120, e, minimum=5),
        "ALERT_DIGEST_THRESHOLD": env_int("ML_ALERT_DIGEST_THRESHOLD", 5, e, minimum=2),
        "DASHBOARD_BASE_URL": env_str("ML_DASHBOARD_BASE_URL", "http://127.0.0.1:8000", e),
        # Preventive-action automation
        "AUTOMATION_ENABLED": env_bool("ML_AUTOMATION_ENABLED", False, e),
        "ACTION_WEBHOOKS": env_json("ML_ACTION_WEBHOOKS", {}, e),
        # Forecast capacity limits per metric (forecast above the limit → at risk):
        # error_count per hour; response_time_p95 in ms, against the hourly p95 of the
        # service's response_time_ms metric samples (request latency, not failed requests');
        # any other name is a metric the services report (db_pool_in_use, cpu, …).
        "CAPACITY_LIMITS": env_json(
            "ML_CAPACITY_LIMITS",
            {"error_count": 500, "response_time_p95": 2000, "db_pool_in_use": 90},
            e,
        ),
    }
    if not isinstance(config["ACTION_WEBHOOKS"], dict):
        raise ImproperlyConfigured("ML_ACTION_WEBHOOKS must be a JSON object of action_type → URL.")
    if not isinstance(config["SLACK_CHANNEL_OVERRIDES"], dict):
        raise ImproperlyConfigured(
            "ML_SLACK_CHANNEL_OVERRIDES must be a JSON object of service → channel."
        )
    if not isinstance(config["CAPACITY_LIMITS"], dict):
        raise ImproperlyConfigured("ML_CAPACITY_LIMITS must be a JSON object of metric → limit.")
    if not (
        config["ANOMALY_WARNING_THRESHOLD"]
        <= config["ANOMALY_SCORE_THRESHOLD"]
        <= config["ANOMALY_CRITICAL_THRESHOLD"]
    ):
        raise ImproperlyConfigured(
            "ML_ANOMALY_WARNING_THRESHOLD <= ML_ANOMALY_THRESHOLD <= ML_ANOMALY_CRITICAL_THRESHOLD must hold."
        )
    return config
