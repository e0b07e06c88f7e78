"""A 500 leaves its traceback in the log files and on the console, with DEBUG off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_ENV_VARS = ("DATABASE_URL", "ML_DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DEBUG")

# A view that raises, served through the real settings' middleware by the test client (as the
# WSGI handler would: the exception becomes a 500 page and a django.request log record).
_CODE = """
import os, sys
os.environ['DJANGO_SETTINGS_MODULE'] = 'feeding_hearts.settings'
import django
django.setup()
from django.test import Client, override_settings
from django.urls import path

def explode(request):
    raise RuntimeError('fh-boom-4f1c')

urlpatterns = [path('explode/', explode)]
with override_settings(ROOT_URLCONF=sys.modules[__name__]):
    response = Client(raise_request_exception=False).get('/explode/')
print('status', response.status_code)
"""


def test_an_unhandled_exception_is_logged_with_its_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS and not k.startswith("ML_")}
    env.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    result = subprocess.run(
        [sys.executable, "-c", _CODE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "status 500" in result.stdout
    for log in ("ml_prediction_errors.log", "ml_prediction.log"):
        text = (tmp_path / "logs" / log).read_text()
        assert "ERROR django.request" in text and "Internal Server Error: /explode/" in text
        assert "Traceback (most recent call last)" in text
        assert "RuntimeError: fh-boom-4f1c" in text
    assert "RuntimeError: fh-boom-4f1c" in result.stderr  # the console handler


def test_client_errors_stay_out_of_the_error_log(tmp_path):
    code = _CODE.replace(
        "raise RuntimeError('fh-boom-4f1c')", "from django.http import Http404; raise Http404"
    )
    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS and not k.startswith("ML_")}
    env.update({"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs")})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "status 404" in result.stdout
    assert not (tmp_path / "logs" / "ml_prediction_errors.log").exists()
