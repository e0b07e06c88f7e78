"""create_api_user --update changes only what it is asked to; without a terminal and without
--password it says --password is required instead of crashing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _roles(username: str) -> list[str]:
    user = get_user_model().objects.get(username=username)
    return list(user.groups.values_list("name", flat=True))


def _no_terminal(prompt: str = "") -> str:
    """getpass without a tty and with nothing on stdin (a script, CI)."""
    raise EOFError


def test_update_changes_the_role_without_asking_for_or_changing_the_password(monkeypatch):
    call_command(
        "create_api_user", "hana", role="ops", password="first-pass-1", stdout=io.StringIO()
    )
    monkeypatch.setattr("getpass.getpass", _no_terminal)
    before = get_user_model().objects.get(username="hana").password
    out = io.StringIO()

    call_command("create_api_user", "hana", role="read-only", update=True, stdout=out)

    user = get_user_model().objects.get(username="hana")
    assert _roles("hana") == ["read-only"]
    assert user.password == before and user.check_password("first-pass-1")
    assert "password unchanged" in out.getvalue()


def test_update_without_a_role_keeps_the_role_and_changes_the_password():
    call_command(
        "create_api_user", "ivan", role="ops", password="first-pass-1", stdout=io.StringIO()
    )

    call_command(
        "create_api_user", "ivan", update=True, password="second-pass-2", stdout=io.StringIO()
    )

    assert _roles("ivan") == ["ops"]
    assert get_user_model().objects.get(username="ivan").check_password("second-pass-2")


def test_change_password_prompts_on_update(monkeypatch):
    call_command(
        "create_api_user", "jade", role="ops", password="first-pass-1", stdout=io.StringIO()
    )
    answers = iter(["typed-pass-2", "typed-pass-2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    call_command("create_api_user", "jade", update=True, change_password=True, stdout=io.StringIO())

    assert get_user_model().objects.get(username="jade").check_password("typed-pass-2")


def test_without_a_terminal_a_missing_password_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("getpass.getpass", _no_terminal)

    with pytest.raises(CommandError, match="--password is required when not running"):
        call_command("create_api_user", "kira", role="ops")
    assert not get_user_model().objects.filter(username="kira").exists()


def test_no_input_never_prompts(monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("prompted"))

    with pytest.raises(CommandError, match="--password is required when not running"):
        call_command("create_api_user", "lena", role="ops", interactive=False)


def test_a_new_user_needs_a_role():
    with pytest.raises(CommandError, match="--role is required"):
        call_command("create_api_user", "mona", password="some-pass-1")
