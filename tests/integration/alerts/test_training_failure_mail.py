"""A failed training is the ML team's to hear about (ML_TEAM_EMAIL), over real SMTP: nothing
pages for it (the active model keeps serving), so without a mail the model silently ages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _history(status: str, **values):
    from ml_prediction.models import ModelTrainingHistory

    return ModelTrainingHistory.objects.create(
        service="java",
        model_type=values.pop("model_type", "forecaster"),
        model_algorithm=values.pop("model_algorithm", "auto"),
        status=status,
        started_at=timezone.now(),
        **values,
    )


@pytest.fixture
def training_returns(monkeypatch):
    """The training service returns the given histories (what it recorded for this run)."""
    from ml_prediction.services import training

    def use(histories):
        monkeypatch.setattr(training, "training_run_for_service", lambda **kw: histories)

    return use


def test_failed_runs_are_mailed_to_the_ml_team(smtp_server, ml_config, training_returns):
    from ml_prediction.tasks import train_service_models

    ml_config(TEAM_EMAIL="ml-team@feedinghearts.test, lead@feedinghearts.test")
    failed = _history(
        "failed", failure_reason="MemoryError: LSTM fit needed 9 GiB", model_algorithm="lstm"
    )
    training_returns([failed, _history("completed", model_type="anomaly_detection")])

    result = train_service_models.apply(args=("java",)).get()

    assert result["failures_mailed"] is True
    [message] = smtp_server.messages
    assert message["To"] == "ml-team@feedinghearts.test, lead@feedinghearts.test"
    assert message["Subject"] == "[Feeding Hearts ML] training failed: java: forecaster (lstm)"
    body = message.get_content()
    assert "MemoryError: LSTM fit needed 9 GiB" in body
    assert str(failed.training_id) in body
    assert "active models keep serving" in body
    assert "python manage.py train_models --service java" in body
    assert "anomaly_detection" not in body  # what succeeded is not news


def test_nothing_is_mailed_when_nothing_failed_or_nobody_is_set(
    smtp_server, ml_config, training_returns
):
    from ml_prediction.tasks import train_service_models

    ml_config(TEAM_EMAIL="ml-team@feedinghearts.test")
    training_returns([_history("completed"), _history("skipped", failure_reason="insufficient")])
    assert train_service_models.apply(args=("java",)).get()["failures_mailed"] is False

    ml_config(TEAM_EMAIL="")
    training_returns([_history("failed", failure_reason="boom")])
    assert train_service_models.apply(args=("java",)).get()["failures_mailed"] is False

    assert smtp_server.messages == []


def test_an_smtp_server_that_is_down_never_fails_the_training_task(
    settings, ml_config, training_returns
):
    from ml_prediction.tasks import train_service_models

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    ml_config(TEAM_EMAIL="ml-team@feedinghearts.test")
    training_returns([_history("failed", failure_reason="boom")])

    result = train_service_models.apply(args=("java",)).get()

    assert result["status"] == "completed" and result["failures_mailed"] is False
