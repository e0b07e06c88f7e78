"""``manage.py run_analysis [--service S] [--type quick|full|deep]``: analyse now, print a summary."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from feeding_hearts.catalog import SERVICES


class Command(BaseCommand):
    help = "Run the prediction orchestrator for one service (or all) and print what it stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--service", choices=SERVICES, help="only this service")
        parser.add_argument(
            "--type", dest="analysis_type", choices=("quick", "full", "deep"), default="full"
        )
        parser.add_argument("--json", action="store_true", help="print the full summaries as JSON")

    def handle(self, *args, **options) -> None:
        from ml_prediction.services.locks import LockHeld
        from ml_prediction.services.orchestrator import analysis_run_locked

        services = [options["service"]] if options["service"] else list(SERVICES)
        summaries = {}
        for index, service in enumerate(services, start=1):
            self.stdout.write(f"[{index}/{len(services)}] {service} ({options['analysis_type']})…")
            try:
                result = analysis_run_locked(
                    service=service, analysis_type=options["analysis_type"]
                )
            except LockHeld as exc:
                self.stdout.write(self.style.WARNING(f"  skipped: {exc}"))
                continue
            summaries[service] = result
            self.stdout.write(
                f"  {result['anomalies']['detected']} anomalies ({result['anomalies']['state']}), "
                f"{result['predictions']['stored']} predictions, {result['forecasts']['stored']} forecasts, "
                f"{result['actions']['created']} actions, {result['insights']['created']} new insights "
                f"in {result['duration_ms']:.0f} ms"
            )
            for engine, reason in result["skipped"].items():
                self.stdout.write(f"  - {engine}: {reason}")
        if options["json"]:
            self.stdout.write(json.dumps(summaries, indent=1, default=str))
        self.stdout.write(self.style.SUCCESS(f"done: {len(summaries)} service(s) analysed"))
