"""``manage.py create_api_user NAME --role ops|read-only [--password P]``: an API user in a role.

Prompts for the password (twice, hidden) when ``--password`` is not given, so it stays out of
shell history. Re-running for an existing user is refused unless ``--update`` is given.
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


class Command(BaseCommand):
    help = "Create a user of the ML API with the ops or read-only role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", help="Prompted for (hidden) when not given.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--update", action="store_true", help="Change role/password of an existing user."
        )

    def _password(self, options: dict[str, Any]) -> str:
        if options["password"]:
            return options["password"]
        if not options.get("interactive", True):
            raise CommandError("--password is required when not running interactively.")
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
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
        password = self._password(options)
        candidate = existing or user_model(username=username, email=options["email"])
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            ensure_roles()
            user = candidate
            if options["email"]:
                user.email = options["email"]
            user.set_password(password)
            user.save()
            user.groups.remove(*Group.objects.filter(name__in=ROLES))
            user.groups.add(Group.objects.get(name=options["role"]))
        verb = "Updated" if existing else "Created"
        self.stdout.write(f"{verb} API user {username!r} with role {options['role']}.")
