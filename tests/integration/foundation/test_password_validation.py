"""Weak passwords are refused: settings carry Django's standard password validators."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1", "too short"),
        ("password123", "too common"),
        ("8675309123", "entirely numeric"),
        ("weakling-user", "too similar to the username"),
    ],
)
def test_create_api_user_refuses_a_weak_password(password, reason):
    with pytest.raises(CommandError, match=f"Password rejected: .*{reason}"):
        call_command(
            "create_api_user", "weakling-user", role="ops", password=password, stdout=io.StringIO()
        )
    assert not get_user_model().objects.filter(username="weakling-user").exists()


def test_create_api_user_accepts_a_reasonable_password():
    call_command(
        "create_api_user", "strong", role="ops", password="tangerine-orbit-42", stdout=io.StringIO()
    )
    assert get_user_model().objects.get(username="strong").check_password("tangerine-orbit-42")
