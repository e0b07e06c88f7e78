"""``manage.py train_models [--service S] [--type T]``: train now, with progress output."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from feeding_hearts.catalog import SERVICES


class Command(BaseCommand):
    help = "Train every model type for one service (or all), recording training history."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--service", choices=SERVICES, help="only this service")
        parser.add_argument(
            "--type",
            dest="model_types",
            action="append",
            help="only this model type (repeatable): anomaly_detection, error_classifier, "
            "time_series_forecast, root_cause",
        )

    def handle(self, *args, **options) -> None:
        from django.conf import settings

        from ml_prediction.services.locks import LockHeld, service_lock
        from ml_prediction.services.training import MODEL_TYPES, training_run_for_service

        types = options["model_types"]
        if types:
            unknown = [t for t in types if t not in MODEL_TYPES]
            if unknown:
                raise CommandError(
                    f"unknown model type(s) {unknown}; known: {', '.join(MODEL_TYPES)}"
                )
        services = [options["service"]] if options["service"] else list(SERVICES)
        timeout = settings.ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"] + 120
        totals: dict[str, int] = {}
        for index, service in enumerate(services, start=1):
            self.stdout.write(f"[{index}/{len(services)}] {service}")
            try:
                with service_lock(service=service, kind="training", timeout=timeout):
                    histories = training_run_for_service(
                        service=service,
                        model_types=types,
                        progress=lambda message: self.stdout.write(f"  {message}"),
                    )
            except LockHeld as exc:
                self.stdout.write(self.style.WARNING(f"  skipped: {exc}"))
                continue
            for history in histories:
                totals[history.status] = totals.get(history.status, 0) + 1
        summary = (
            ", ".join(f"{n} {status}" for status, n in sorted(totals.items())) or "nothing run"
        )
        self.stdout.write(self.style.SUCCESS(f"done: {summary}"))
