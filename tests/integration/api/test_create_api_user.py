"""manage.py create_api_user NAME --role ops|read-only [--password P]."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.mark.parametrize(("role", "is_ops"), [("ops", True), ("read-only", False)])
def test_creates_a_user_in_the_role(role, is_ops):
    call_command("create_api_user", "carol", role=role, password="s3cret-pass")

    user = get_user_model().objects.get(username="carol")
    assert user.check_password("s3cret-pass")
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert user.has_perm("ml_prediction.ops") is is_ops


def test_prompts_for_the_password_when_not_given(monkeypatch):
    answers = iter(["typed-pass-1", "typed-pass-1"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    call_command("create_api_user", "dave", role="ops")

    assert get_user_model().objects.get(username="dave").check_password("typed-pass-1")


def test_mismatched_prompted_passwords_are_refused(monkeypatch):
    answers = iter(["one-pass-1", "two-pass-2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="do not match"):
        call_command("create_api_user", "erin", role="ops")
    assert not get_user_model().objects.filter(username="erin").exists()


def test_existing_user_needs_update_flag_and_changes_role():
    call_command("create_api_user", "frank", role="ops", password="first-pass-1")

    with pytest.raises(CommandError, match="exists"):
        call_command("create_api_user", "frank", role="read-only", password="x-pass-2")
    call_command("create_api_user", "frank", role="read-only", password="second-pass", update=True)

    user = get_user_model().objects.get(username="frank")
    assert list(user.groups.values_list("name", flat=True)) == ["read-only"]
    assert user.check_password("second-pass")


def test_unknown_role_is_refused():
    with pytest.raises(CommandError):
        call_command("create_api_user", "gina", role="admin", password="p")
