"""create_ingest_key and the admin refuse rate limits and project ids the key cannot use."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from error_logging.models import IngestKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rate-limit", "-5", "--rate-limit must be between 1 and"),
        ("--rate-limit", "0", "--rate-limit must be between 1 and"),
        ("--rate-limit", "99999999999", "--rate-limit must be between 1 and"),
        ("--project-id", "-1", "--project-id must be between 1 and"),
        ("--project-id", "0", "--project-id must be between 1 and"),
        ("--project-id", "99999999999", "--project-id must be between 1 and"),
    ],
)
def test_create_ingest_key_refuses_unusable_numbers_with_a_message(option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_ingest_key", "django", option, value, stdout=io.StringIO())
    assert IngestKey.objects.count() == 0


def test_create_ingest_key_keeps_a_positive_rate_limit():
    call_command("create_ingest_key", "django", "--rate-limit", "1", stdout=io.StringIO())
    assert IngestKey.objects.get().rate_limit_per_minute == 1


@pytest.mark.parametrize(
    ("field", "values"),
    [("rate_limit_per_minute", {"rate_limit_per_minute": 0}), ("project_id", {"project_id": 0})],
)
def test_a_key_with_zero_fails_validation(field, values):
    key = IngestKey(service="django", **{"project_id": 5, **values})
    with pytest.raises(ValidationError) as caught:
        key.full_clean()
    assert field in caught.value.message_dict


def test_the_admin_refuses_a_zero_rate_limit(admin_client):
    response = admin_client.post(
        "/admin/error_logging/ingestkey/add/",
        {
            "service": "django",
            "name": "",
            "project_id": 3,
            "is_active": "on",
            "rate_limit_per_minute": 0,
            "secret_key": "",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert b"Must be at least 1 item per minute" in response.content
    assert IngestKey.objects.count() == 0
