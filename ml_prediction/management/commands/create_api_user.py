"""``manage.py create_api_user NAME --role ops|read-only [--password P]``: an API user in a role.

Prompts for the password (twice, hidden) when ``--password`` is not given, so it stays out of
shell history; without a terminal to prompt on (a script, CI) ``--password`` is required.
Re-running for an existing user is refused unless ``--update`` is given, which changes only
what is asked for: the role, the email, and the password only with ``--password`` or
``--change-password`` (a new password signs the user out of every token issued before).
"""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ml_prediction.permissions_setup import OPS_GROUP, READ_ONLY_GROUP, ensure_roles

ROLES = (OPS_GROUP, READ_ONLY_GROUP)
NOT_INTERACTIVE = "--password is required when not running interactively."


class Command(BaseCommand):
    help = "Create a user of the ML API with the ops or read-only role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role", choices=ROLES, help="Required for a new user; kept when --update omits it."
        )
        parser.add_argument("--password", help="Prompted for (hidden) when not given.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--update",
            action="store_true",
            help="Change an existing user: the role and email given; the password only with "
            "--password or --change-password.",
        )
        parser.add_argument(
            "--change-password",
            action="store_true",
            help="With --update: prompt for a new password (or take --password).",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never prompt (then a new password needs --password).",
        )

    def _password(self, options: dict[str, Any]) -> str:
        if options["password"]:
            return options["password"]
        if not options.get("interactive", True):
            raise CommandError(NOT_INTERACTIVE)
        try:
            first = getpass.getpass("Password: ")
            second = getpass.getpass("Password (again): ")
        except EOFError:  # no terminal and nothing on stdin: a script that forgot --password
            raise CommandError(NOT_INTERACTIVE) from None
        if first != second:
            raise CommandError("The passwords do not match.")
        return first

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("The username must not be empty.")
        user_model = get_user_model()
        existing = user_model.objects.filter(username=username).first()
        if existing is not None and not options["update"]:
            raise CommandError(f"User {username!r} exists; use --update to change it.")
        if options["role"] and options["role"] not in ROLES:  # call_command skips ``choices``
            raise CommandError(f"--role must be one of: {', '.join(ROLES)}.")
        if existing is None and not options["role"]:
            raise CommandError(f"--role is required to create the user {username!r}.")
        # An update changes the password only when asked: a role change must not sign the user
        # out (tokens carry a digest of the password hash) or make anyone type a password.
        set_password = existing is None or options["change_password"] or options["password"]
        password = self._password(options) if set_password else None
        candidate = existing or user_model(username=username, email=options["email"])
        if password is not None:
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                raise CommandError("Password rejected: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            ensure_roles()
            user = candidate
            if options["email"]:
                user.email = options["email"]
            if password is not None:
                user.set_password(password)
            user.save()
            if options["role"]:
                user.groups.remove(*Group.objects.filter(name__in=ROLES))
                user.groups.add(Group.objects.get(name=options["role"]))
        roles = ", ".join(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        verb = "Updated" if existing else "Created"
        kept = " (password unchanged)" if password is None else ""
        self.stdout.write(f"{verb} API user {username!r} with role {roles or 'none'}{kept}.")
