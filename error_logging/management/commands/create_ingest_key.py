"""``manage.py create_ingest_key SERVICE``: a new ingest key and the DSN / header to use."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max

from error_logging.models import MAX_KEY_NUMBER, IngestKey
from feeding_hearts.catalog import SERVICES


class Command(BaseCommand):
    help = "Create an ingest key for a service and print its Sentry DSN and X-Ingest-Key header."

    def add_arguments(self, parser) -> None:
        parser.add_argument("service", choices=SERVICES)
        parser.add_argument("--name", default="", help="A label for the key (e.g. 'web prod').")
        parser.add_argument("--project-id", type=int, help="DSN project id (default: next free).")
        parser.add_argument("--host", default="127.0.0.1:8000", help="Host[:port] for the DSN.")
        parser.add_argument("--scheme", default="http", choices=["http", "https"])
        parser.add_argument("--rate-limit", type=int, help="Items per minute for this key.")

    def handle(self, *args, **options) -> None:
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
        dsn = f"{options['scheme']}://{key.public_key}@{options['host']}/{key.project_id}"
        self.stdout.write(f"service:      {key.service}")
        self.stdout.write(f"public key:   {key.public_key}")
        self.stdout.write(f"project id:   {key.project_id}")
        self.stdout.write(f"DSN:          {dsn}")
        self.stdout.write(f"header:       X-Ingest-Key: {key.public_key}")
        self.stdout.write(
            f"native:       POST {options['scheme']}://{options['host']}/api/errors/  "
            f"(header X-Ingest-Key or Authorization: Bearer <key>)"
        )
