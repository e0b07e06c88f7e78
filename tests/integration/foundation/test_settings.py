"""Settings come from the environment; embedded defaults need nothing; bad values stop start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from feeding_hearts.config import SERVICE_VARIABLES, build_ml_prediction_config

ROOT = Path(__file__).resolve().parents[3]
_DB_VARS = (*SERVICE_VARIABLES, "FH_TEST_DB_SUFFIX")


def _settings_in_subprocess(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Load settings in a fresh interpreter with exactly the given variables."""
    clean = {k: v for k, v in os.environ.items() if k not in _DB_VARS and not k.startswith("ML_")}
    clean.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    clean.update(env)
    code = (
        "import json, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE']='feeding_hearts.settings'\n"
        "from django.conf import settings\n"
        "print(json.dumps({'default': settings.DATABASES['default'],"
        " 'ml': settings.DATABASES['ml_prediction'],"
        " 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
        " 'broker': settings.CELERY_BROKER_URL,"
        " 'cache': settings.CACHES['default']['BACKEND'],"
        " 'config': settings.ML_PREDICTION_CONFIG, 'debug': settings.DEBUG,"
        " 'secret': settings.SECRET_KEY,"
        " 'train': {f: str(getattr(settings.CELERY_BEAT_SCHEDULE['train-models']['schedule'],"
        " '_orig_' + f)) for f in ('minute', 'hour', 'day_of_week')}},"
        " default=str))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_default_is_two_sqlite_files_under_var_and_eager_celery(tmp_path):
    result = _settings_in_subprocess(tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert data["ml"]["ENGINE"] == "django.db.backends.sqlite3"
    assert data["default"]["NAME"].startswith(str(tmp_path / "var"))
    assert data["ml"]["NAME"].startswith(str(tmp_path / "var"))
    assert data["default"]["NAME"] != data["ml"]["NAME"]
    assert data["eager"] is True
    assert data["debug"] is False
    assert data["cache"].endswith("LocMemCache")
    assert (tmp_path / "logs").is_dir()


def test_embedded_secret_key_is_generated_once_and_reused(tmp_path):
    first = json.loads(_settings_in_subprocess(tmp_path).stdout)["secret"]
    second = json.loads(_settings_in_subprocess(tmp_path).stdout)["secret"]
    assert len(first) >= 40
    assert first == second
    env_key = json.loads(
        _settings_in_subprocess(tmp_path, SECRET_KEY="from-env-" + "x" * 40).stdout
    )
    assert env_key["secret"] == "from-env-" + "x" * 40


def test_urls_switch_to_postgresql_redis_and_ai_models_search_path(tmp_path):
    result = _settings_in_subprocess(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.example:5433/main",
        ML_DATABASE_URL="postgres://u:p@mldb.example:5432/ml",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert (data["default"]["HOST"], data["default"]["PORT"], data["default"]["NAME"]) == (
        "db.example",
        5433,
        "main",
    )
    assert data["ml"]["NAME"] == "ml"
    assert "search_path=ai_models" in data["ml"]["OPTIONS"]["options"]
    assert data["eager"] is False
    assert data["broker"] == "redis://127.0.0.1:6379/0"
    assert data["cache"].endswith("RedisCache")


def test_guide_ml_db_variables_configure_the_ml_database(tmp_path):
    result = _settings_in_subprocess(
        tmp_path,
        ML_DB_NAME="feeding_hearts_ml",
        ML_DB_USER="mluser",
        ML_DB_PASSWORD="secret",
        ML_DB_HOST="mlhost",
        ML_DB_PORT="6543",
    )
    assert result.returncode == 0, result.stderr
    ml = json.loads(result.stdout)["ml"]
    assert ml["ENGINE"] == "django.db.backends.postgresql"
    assert (ml["NAME"], ml["USER"], ml["HOST"], ml["PORT"]) == (
        "feeding_hearts_ml",
        "mluser",
        "mlhost",
        "6543",
    )


def test_guide_variables_override_ml_prediction_config_defaults():
    config = build_ml_prediction_config(
        {
            "ML_ANOMALY_THRESHOLD": "0.75",
            "ML_PREDICTION_THRESHOLD": "0.65",
            "ML_ALERT_PROBABILITY": "0.8",
            "ML_LOOKBACK_HOURS": "48",
            "ML_FORECAST_HORIZON": "12",
            "ML_TRAINING_SAMPLES_MIN": "500",
            "ML_TRAINING_INTERVAL": "weekly",
            "ML_MODEL_RETRAINING_ENABLED": "false",
            "ML_ALERT_EMAIL": "oncall@example.org",
            "ALERT_SEVERITY_CRITICAL": "false",
        }
    )
    assert config["ANOMALY_SCORE_THRESHOLD"] == config["ANOMALY_THRESHOLD"] == 0.75
    assert config["PREDICTION_THRESHOLD"] == 0.65
    assert config["ALERT_PROBABILITY_THRESHOLD"] == config["ALERT_PROBABILITY"] == 0.8
    assert config["LOOKBACK_HOURS"] == 48
    assert config["FORECAST_HORIZON"] == 12
    assert config["MIN_TRAINING_SAMPLES"] == 500
    assert config["TRAINING_SCHEDULE"] == "weekly"
    assert config["MODEL_RETRAINING_ENABLED"] is False
    assert config["ALERT_EMAIL"] == "oncall@example.org"
    assert config["ALERT_SEVERITY_CRITICAL"] is False


def test_defaults_are_the_guides():
    config = build_ml_prediction_config({})
    assert config["ANOMALY_SCORE_THRESHOLD"] == 0.7
    assert config["ANOMALY_CRITICAL_THRESHOLD"] == 0.85
    assert config["ANOMALY_WARNING_THRESHOLD"] == 0.5
    assert config["HIGH_PROBABILITY_THRESHOLD"] == 0.75
    assert config["MEDIUM_PROBABILITY_THRESHOLD"] == 0.60
    assert config["LOW_PROBABILITY_THRESHOLD"] == 0.40
    assert config["ALERT_PROBABILITY_THRESHOLD"] == 0.70
    assert (config["SHORT_TERM_HORIZON"], config["MEDIUM_TERM_HORIZON"]) == (30, 120)
    assert config["LONG_TERM_HORIZON"] == 1440
    assert (config["FEATURE_CACHE_TTL"], config["PREDICTION_CACHE_TTL"]) == (300, 60)
    assert config["TRAINING_SCHEDULE"] == "daily"
    assert config["MIN_TRAINING_SAMPLES"] == 1000
    assert config["MAX_TRAINING_TIME"] == 3600
    assert config["CLEANUP_OLD_PREDICTIONS_DAYS"] == 90


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ML_ANOMALY_THRESHOLD", "high"),
        ("ML_ANOMALY_THRESHOLD", "1.5"),
        ("ML_LOOKBACK_HOURS", "1.5"),
        ("ML_MODEL_RETRAINING_ENABLED", "maybe"),
        ("ML_TRAINING_INTERVAL", "fortnightly"),
        ("ML_ACTION_WEBHOOKS", "{not json"),
    ],
)
def test_malformed_value_names_the_variable(variable, value):
    with pytest.raises(ImproperlyConfigured, match=variable):
        build_ml_prediction_config({variable: value})


def test_malformed_value_stops_start_up_with_the_variable_name(tmp_path):
    result = _settings_in_subprocess(tmp_path, ML_LOOKBACK_HOURS="a day")
    assert result.returncode != 0
    assert "ML_LOOKBACK_HOURS" in result.stderr


def test_logging_writes_the_guides_rotating_files(tmp_path):
    code = (
        "import os, logging\n"
        "os.environ['DJANGO_SETTINGS_MODULE']='feeding_hearts.settings'\n"
        "import django; django.setup()\n"
        "logging.getLogger('ml_prediction.test').info('hello info')\n"
        "logging.getLogger('ml_prediction.test').error('hello error')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in _DB_VARS}
    env.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "hello info" in (tmp_path / "logs" / "ml_prediction.log").read_text()
    errors = (tmp_path / "logs" / "ml_prediction_errors.log").read_text()
    assert "hello error" in errors and "hello info" not in errors


def test_a_guide_ml_db_variable_without_ml_db_name_still_selects_postgresql(tmp_path):
    """ML_DB_HOST and a password set, the name left to its default: not a silent SQLite."""
    result = _settings_in_subprocess(tmp_path, ML_DB_HOST="mlhost", ML_DB_PASSWORD="secret")
    assert result.returncode == 0, result.stderr
    ml = json.loads(result.stdout)["ml"]
    assert ml["ENGINE"] == "django.db.backends.postgresql"
    assert (ml["NAME"], ml["HOST"]) == ("feeding_hearts_ml", "mlhost")


@pytest.mark.parametrize(
    ("interval", "crontab"),
    [
        (None, {"minute": "0", "hour": "2", "day_of_week": "*"}),
        ("hourly", {"minute": "40", "hour": "*", "day_of_week": "*"}),
        ("weekly", {"minute": "0", "hour": "2", "day_of_week": "sun"}),
    ],
)
def test_ml_training_interval_sets_when_beat_trains(tmp_path, interval, crontab):
    env = {"ML_TRAINING_INTERVAL": interval} if interval else {}
    result = _settings_in_subprocess(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["train"] == crontab


@pytest.mark.parametrize(
    ("key", "alias"),
    [
        ("ALERT_PROBABILITY", "ALERT_PROBABILITY_THRESHOLD"),
        ("ANOMALY_SCORE_THRESHOLD", "ANOMALY_THRESHOLD"),
        ("TRAINING_SCHEDULE", "MODEL_RETRAINING_INTERVAL"),
    ],
)
def test_the_guides_two_names_of_one_setting_must_agree(settings, key, alias):
    """A settings.py edited after one of the guide's two blocks changes one name only."""
    from ml_prediction.checks import guide_aliases_agree

    assert guide_aliases_agree() == []
    changed = "weekly" if key == "TRAINING_SCHEDULE" else 0.9
    settings.ML_PREDICTION_CONFIG = {**settings.ML_PREDICTION_CONFIG, alias: changed}

    errors = guide_aliases_agree()

    assert [e.id for e in errors] == ["ml_prediction.E001"]
    assert key in errors[0].msg and alias in errors[0].msg
