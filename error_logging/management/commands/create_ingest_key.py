"""``manage.py create_ingest_key SERVICE``: a new ingest key and the DSN / header to use.

The DSN and URLs printed point at the server's address as the services reach it: ``--base-url``,
else ``ML_DASHBOARD_BASE_URL`` (the server's public address, also used for links in alerts),
else this machine on ``$PORT`` (8000 by default, as ``make run``/``make demo`` use). A fixed
port 8000 sent the SDKs of a demo served on another port to nothing.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max

from error_logging.models import MAX_KEY_NUMBER, IngestKey
from feeding_hearts.catalog import SERVICES


def default_base_url() -> str:
    """Where the server answers, when ``--base-url`` is not given (see the module docstring)."""
    configured = os.environ.get("ML_DASHBOARD_BASE_URL", "").strip()
    if configured:
        return configured
    port = os.environ.get("PORT", "").strip() or "8000"
    return f"http://127.0.0.1:{port}"


class Command(BaseCommand):
    help = "Create an ingest key for a service and print its Sentry DSN and X-Ingest-Key header."

    def add_arguments(self, parser) -> None:
        parser.add_argument("service", choices=SERVICES)
        parser.add_argument("--name", default="", help="A label for the key (e.g. 'web prod').")
        parser.add_argument("--project-id", type=int, help="DSN project id (default: next free).")
        parser.add_argument(
            "--base-url",
            help="The server's address as the services reach it, e.g. https://errors.example.com "
            "(default: ML_DASHBOARD_BASE_URL, else http://127.0.0.1:$PORT, PORT=8000).",
        )
        parser.add_argument("--host", help="Host[:port] for the DSN, instead of the base URL's.")
        parser.add_argument(
            "--scheme", choices=["http", "https"], help="Instead of the base URL's scheme."
        )
        parser.add_argument("--rate-limit", type=int, help="Items per minute for this key.")

    def handle(self, *args, **options) -> None:
        base_url = options["base_url"] or default_base_url()
        parts = urlsplit(base_url if "//" in base_url else f"http://{base_url}")
        scheme = options["scheme"] or parts.scheme
        host = options["host"] or parts.netloc
        if scheme not in ("http", "https") or not host:
            raise CommandError(
                "--base-url must be an http(s) URL such as http://127.0.0.1:8000 "
                f"(got {base_url!r})."
            )
        prefix = parts.path.rstrip("/")  # a server behind a path prefix keeps it
        rate_limit = options["rate_limit"]
        if rate_limit is not None and not 1 <= rate_limit <= MAX_KEY_NUMBER:
            # 0 used to be stored and then read as "no limit of its own" (the default): a key
            # is stopped by deactivating it, so there is no meaning left for 0 to have
            raise CommandError(
                f"--rate-limit must be between 1 and {MAX_KEY_NUMBER} items per minute "
                f"(got {rate_limit}); leave it out to use the default "
                "(ML_INGEST_RATE_LIMIT_PER_MINUTE), or deactivate a key to stop it."
            )
        project_id = options["project_id"]
        if project_id is not None and not 1 <= project_id <= MAX_KEY_NUMBER:
            raise CommandError(
                f"--project-id must be between 1 and {MAX_KEY_NUMBER} (got {project_id})."
            )
        with transaction.atomic():
            if project_id is None:
                project_id = (IngestKey.objects.aggregate(m=Max("project_id"))["m"] or 0) + 1
            elif IngestKey.objects.filter(project_id=project_id).exists():
                raise CommandError(f"project id {project_id} is already used by another key")
            key = IngestKey.objects.create(
                service=options["service"],
                name=options["name"],
                project_id=project_id,
                rate_limit_per_minute=rate_limit,
            )
        dsn = f"{scheme}://{key.public_key}@{host}{prefix}/{key.project_id}"
        self.stdout.write(f"service:      {key.service}")
        self.stdout.write(f"public key:   {key.public_key}")
        self.stdout.write(f"project id:   {key.project_id}")
        self.stdout.write(f"DSN:          {dsn}")
        self.stdout.write(f"header:       X-Ingest-Key: {key.public_key}")
        self.stdout.write(
            f"native:       POST {scheme}://{host}{prefix}/api/errors/  "
            f"(header X-Ingest-Key or Authorization: Bearer <key>)"
        )
