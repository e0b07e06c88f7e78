"""Settings for Feeding Hearts ML, read from the environment.

With no variables set, everything runs embedded (two SQLite files under ``var/``, eager Celery,
local-memory cache) so the quick start needs nothing but Python. ``DATABASE_URL``,
``ML_DATABASE_URL`` (or the guide's ``ML_DB_*``), ``CELERY_BROKER_URL`` and ``REDIS_URL`` switch
to PostgreSQL and Redis. See README.md for every variable.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from feeding_hearts.config import (
    ML_DB_VARIABLES,
    build_ml_prediction_config,
    env_bool,
    env_int,
    env_list,
    env_str,
    training_crontab,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FH_VAR_DIR", str(BASE_DIR / "var")))
LOG_DIR = Path(env_str("FH_LOG_DIR", str(BASE_DIR / "logs")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
LOG_DIR.mkdir(parents=True, exist_ok=True)

_env = environ.Env()


def _secret_key() -> str:
    """SECRET_KEY from the environment; embedded runs keep one generated key in var/."""
    from_env = env_str("SECRET_KEY", "")
    if from_env:
        return from_env
    if env_bool("FH_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment in production.")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "error_logging",
    "ml_prediction",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "feeding_hearts.urls"
WSGI_APPLICATION = "feeding_hearts.wsgi.application"
ASGI_APPLICATION = "feeding_hearts.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------------------------
ML_DB_ALIAS = "ml_prediction"
_TEST_SUFFIX = env_str("FH_TEST_DB_SUFFIX", "")


def _database(url_var: str, sqlite_name: str) -> dict:
    url = env_str(url_var, "")
    if url:
        config = _env.db_url_config(url)
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / sqlite_name)}
    return config


def _ml_database() -> dict:
    """ML_DATABASE_URL, else the guide's ML_DB_* variables: any of them selects PostgreSQL
    (ML_DB_NAME defaults to feeding_hearts_ml), since a host and password without a name must
    not fall back to SQLite; else the embedded SQLite."""
    if env_str("ML_DATABASE_URL", ""):
        return _database("ML_DATABASE_URL", "ml_prediction.sqlite3")
    if any(env_str(name, "") for name in ML_DB_VARIABLES):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env_str("ML_DB_NAME", "feeding_hearts_ml"),
            "USER": env_str("ML_DB_USER", "postgres"),
            "PASSWORD": env_str("ML_DB_PASSWORD", ""),
            "HOST": env_str("ML_DB_HOST", "localhost"),
            "PORT": str(env_int("ML_DB_PORT", 5432, minimum=1)),
        }
    return _database("ML_DATABASE_URL", "ml_prediction.sqlite3")


def _finish(config: dict, *, ml: bool) -> dict:
    config.setdefault("OPTIONS", {})
    if "postgresql" in config["ENGINE"]:
        config["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
        config["CONN_HEALTH_CHECKS"] = True
        config["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=1))
        if ml:
            # The ML tables live in schema ai_models (created by the first migration).
            config["OPTIONS"]["options"] = "-c search_path=ai_models,public"
        if _TEST_SUFFIX:
            config["TEST"] = {"NAME": f"test_{config['NAME']}_{_TEST_SUFFIX}"}
    else:
        config["OPTIONS"].setdefault("timeout", 30)
        # Take the write lock when a transaction starts, so two processes (the demo's parallel
        # seeding and training) wait for each other instead of failing with "database is locked".
        config["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
        config["TEST"] = {"NAME": str(VAR_DIR / f"test_{Path(config['NAME']).stem}.sqlite3")}
    return config


DATABASES = {
    "default": _finish(_database("DATABASE_URL", "default.sqlite3"), ml=False),
    ML_DB_ALIAS: _finish(_ml_database(), ml=True),
}
DATABASE_ROUTERS = ["ml_prediction.routers.MLPredictionRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ----------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
REDIS_URL = env_str("REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "feeding_hearts.redis_cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "fh"),
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 2,
                # JSON with type tags, never pickle: Redis content must not become code.
                "serializer": "feeding_hearts.cache_serializer.JSONRedisSerializer",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message a worker took but never acknowledged (acks_late; the worker was killed) goes back to
# the queue after this many seconds. Keep it above the longest task (training) or a slow task
# runs twice; tests shorten it to see a killed task redelivered.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", 7200, minimum=1)
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "analysis"
# Declared so that a worker started without -Q (the guide's `celery -A … worker`) consumes all
# three; a worker given -Q consumes those it names (docs/OPERATIONS.md splits training off).
CELERY_TASK_QUEUES = (Queue("analysis"), Queue("training"), Queue("alerts"))
# Alert delivery tasks live beside the analysis tasks; both modules are registered here.
CELERY_IMPORTS = ["ml_prediction.tasks", "ml_prediction.alert_tasks"]
CELERY_TASK_ROUTES = {
    "ml_prediction.tasks.train_error_prediction_models": {"queue": "training"},
    "ml_prediction.tasks.train_service_models": {"queue": "training"},
    "ml_prediction.alert_tasks.*": {"queue": "alerts"},
    # outbound calls like the alerts: a slow action webhook never delays an analysis
    "ml_prediction.tasks.execute_automated_actions": {"queue": "alerts"},
}

# --- ML configuration (the guide's names) -------------------------------------------------------
ML_PREDICTION_CONFIG = build_ml_prediction_config()
if not ML_PREDICTION_CONFIG["ARTIFACT_DIR"]:
    ML_PREDICTION_CONFIG["ARTIFACT_DIR"] = str(VAR_DIR / "artifacts")
CELERY_TASK_TIME_LIMIT = ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"] + 60
CELERY_TASK_SOFT_TIME_LIMIT = ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"]

CELERY_BEAT_SCHEDULE = {
    "train-models": {
        "task": "ml_prediction.tasks.train_error_prediction_models",
        "schedule": crontab(**training_crontab(ML_PREDICTION_CONFIG["TRAINING_SCHEDULE"])),
    },
    "batch-predictions": {
        "task": "ml_prediction.tasks.predict_errors_batch",
        "schedule": crontab(minute=0),
    },
    "anomaly-detection": {
        "task": "ml_prediction.tasks.detect_anomalies_background",
        "schedule": crontab(minute="*/15"),
    },
    "insights-generation": {
        "task": "ml_prediction.tasks.generate_ai_insights",
        "schedule": crontab(minute="*/30"),
    },
    "cleanup-old-predictions": {
        "task": "ml_prediction.tasks.cleanup_old_predictions",
        "schedule": crontab(hour=3, minute=30),
    },
    # Catches services whose debounced analysis request was lost (Redis down, worker restart).
    "sweep-unanalysed-services": {
        "task": "ml_prediction.tasks.sweep_unanalysed_services",
        "schedule": crontab(minute="*/5"),
    },
    # Outcomes of predictions whose horizon ended, resolved from the stored errors, then the
    # daily accuracy per model (the feedback loop). Hourly: a 30-minute prediction's outcome
    # (and the drift insight that reads it) should not wait for midnight.
    "refresh-performance-tracking": {
        "task": "ml_prediction.tasks.refresh_performance_tracking",
        "schedule": crontab(minute=20),
    },
    # Alert notifications that never reached a worker (broker down) are queued again.
    "requeue-stalled-alerts": {
        "task": "ml_prediction.alert_tasks.requeue_stalled_alerts",
        "schedule": crontab(minute="*/10"),
    },
}

# --- Client addresses and the sign-in throttle (feeding_hearts.throttling) ------------------------
# Reverse proxies in front of the app that append to X-Forwarded-For (nginx, a load balancer).
# 0: the client is REMOTE_ADDR and the header is ignored, since any client can write it; N: the
# entry the outermost of N proxies appended. DRF's throttles use the same number.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
# Failed sign-ins (token endpoint, dashboard and admin logins) allowed per window, per username
# and per client address; further attempts get 429 until the window ends, the right password too.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5, minimum=1)
LOGIN_FAILURES_PER_IP = env_int("LOGIN_FAILURES_PER_IP", 20, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)

# --- REST framework, JWT, OpenAPI ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ml_prediction.api.authentication.CachedUserJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "ml_prediction.api.pagination.StandardPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["ml_prediction.api.throttling.WindowUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_USER", "6000/min")},
    "NUM_PROXIES": NUM_PROXIES,
    "EXCEPTION_HANDLER": "ml_prediction.api.errors.exception_handler",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 60, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry a digest of the password hash: a password change revokes every token issued
    # before it (API authentication, refresh and verify refuse them). Tokens from before this
    # setting carry none and are refused too: everyone signs in again once.
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_OBTAIN_SERIALIZER": "feeding_hearts.auth.ThrottledTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "feeding_hearts.auth.RevocableTokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "feeding_hearts.auth.RevocableTokenVerifySerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Feeding Hearts ML API",
    "DESCRIPTION": "Error ingestion, anomaly detection, error prediction, forecasting, "
    "root cause, preventive actions and insights.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from drf-spectacular-sidecar (served locally), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ml_prediction.api.schema_hooks.add_common_responses",
        "ml_prediction.api.schema_hooks.uuid_path_ids",
    ],
}

# CORS: only the ingestion endpoints, which browser SDKs call from any origin.
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/(api/(errors|metrics|\d+/(envelope|store))/|v1/logs).*$"
CORS_ALLOW_HEADERS = [
    "content-type",
    "content-encoding",
    "authorization",
    "x-sentry-auth",
    "x-ingest-key",
]

# --- Email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@feedinghearts.local")

# --- Security (production values come from the environment; see docs/OPERATIONS.md) ---------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
DATA_UPLOAD_MAX_MEMORY_SIZE = ML_PREDICTION_CONFIG["INGEST_MAX_BODY_BYTES"]

# Django's standard password rules; create_api_user and the admin's password forms apply them
# (without this list validate_password accepts anything, "1" included).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/dashboard/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Logging (the guide's rotating files, plus the console) --------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "level": "WARNING"},
        "ml_file": {
            "level": "INFO",
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "ml_prediction.log"),
            "maxBytes": 10485760,
            "backupCount": 10,
            "formatter": "plain",
            "delay": True,
        },
        "ml_errors": {
            "level": "ERROR",
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "ml_prediction_errors.log"),
            "maxBytes": 10485760,
            "backupCount": 10,
            "formatter": "plain",
            "delay": True,
        },
    },
    "loggers": {
        "ml_prediction": {
            "handlers": ["ml_file", "ml_errors", "console"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        "error_logging": {
            "handlers": ["ml_file", "ml_errors", "console"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        # Sign-ins refused by the throttle (a guessing attempt, or a user locked out for a while).
        "feeding_hearts.throttling": {
            "handlers": ["ml_file", "ml_errors", "console"],
            "level": "INFO",
            "propagate": False,
        },
        # Unhandled exceptions in views (the 500s), with their tracebacks. Django's default
        # sends them to the console only with DEBUG on and otherwise to mail_admins, which has
        # no ADMINS here: a production 500 left no trace. ERROR only, so the 4xx warnings of
        # rejected ingest items (a client's problem, at ingest rates) stay out of the files.
        "django.request": {
            "handlers": ["ml_file", "ml_errors", "console"],
            "level": "ERROR",
            "propagate": False,
        },
    },
}
