"""`manage.py evaluate {nab,forecast,prediction,all}`: run the engines' honest evaluations and
write their markdown sections into docs/EVALUATION.md (other sections are kept as they were)."""

from __future__ import annotations

import importlib
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml_prediction.evaluation import default_datasets_dir
from ml_prediction.evaluation.nab import CorpusError

EVALUATIONS = ("nab", "forecast", "prediction")
HEADER = (
    "# Evaluation of the ML engines\n\n"
    "Written by `python manage.py evaluate {nab,forecast,prediction,all}` (`make evaluate`) from "
    "the read-only datasets in `../shared/datasets/`. Each section says what ran, on what data, "
    "and the command that reproduces it. Nothing is shuffled across time.\n"
)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- evaluate:{name} -->", f"<!-- /evaluate:{name} -->"


def merge_section(document: str, name: str, body: str) -> str:
    """Replace section ``name`` between its markers (or append it), keeping the rest as is."""
    start, end = _markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not document.strip():
        document = HEADER
    if pattern.search(document):
        return pattern.sub(lambda _match: block, document)
    return document.rstrip() + "\n\n" + block + "\n"


class Command(BaseCommand):
    help = "Evaluate the engines on ../shared/datasets and write docs/EVALUATION.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("which", choices=(*EVALUATIONS, "all"))
        parser.add_argument("--quick", action="store_true", help="a handful of files / days only")
        parser.add_argument("--datasets", type=Path, default=None, help="datasets directory")
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="markdown file to update (default: docs/EVALUATION.md)",
        )
        parser.add_argument(
            "--export-nab",
            type=Path,
            default=None,
            metavar="DIR",
            help="also write the NAB detector's per-row scores in NAB's results layout",
        )
        parser.add_argument(
            "--product-form",
            action="store_true",
            help="NAB: also score the detector as the product model runs it (daily refits, "
            "24 h windows; several minutes)",
        )
        parser.add_argument(
            "--split-check",
            action="store_true",
            help="NAB: also choose the alarm knobs on odd files and score even ones (and back)",
        )
        parser.add_argument(
            "--category",
            action="append",
            default=None,
            help="forecast: only these NAB categories (repeatable; for iterating, not publishing)",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="forecast: at most this many NAB files"
        )
        parser.add_argument(
            "--nab-days",
            type=int,
            default=None,
            help="forecast: held-out days (rolling origins) per NAB file "
            "(default 3; 1 with --quick)",
        )
        parser.add_argument(
            "--skip-last-days",
            type=int,
            default=0,
            metavar="K",
            help="forecast: hold out the days K days before the end instead of the last ones "
            "(NAB and simulator; for tuning on earlier origins, never on the published days; "
            "default 0)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="prediction: the headline's first seed (published: 7); other seeds run the "
            "same protocol on other traffic (needs --output: the published section keeps seed 7)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="forecast: worker processes (at most the number of cores; default 2)",
        )

    def handle(self, *args, **options) -> None:
        datasets = options["datasets"] or default_datasets_dir()
        if not datasets.is_dir():
            raise CommandError(f"datasets directory {datasets} does not exist (use --datasets)")
        output = options["output"] or Path(settings.BASE_DIR) / "docs" / "EVALUATION.md"
        names = EVALUATIONS if options["which"] == "all" else (options["which"],)
        quick = options["quick"]
        if options["seed"] is not None and options["output"] is None:
            raise CommandError(
                "--seed needs --output FILE: docs/EVALUATION.md publishes the default seed"
            )
        if options["nab_days"] is not None and options["nab_days"] < 1:
            raise CommandError("--nab-days must be at least 1")
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        if options["skip_last_days"] < 0:
            raise CommandError("--skip-last-days must not be negative")

        def progress(message: str) -> None:
            if options.get("verbosity", 1) >= 1:
                sys.stderr.write(f"  {message}\n")
                sys.stderr.flush()

        document = output.read_text() if output.exists() else ""
        for name in names:
            started = time.perf_counter()
            self.stdout.write(f"evaluate {name}{' (quick)' if quick else ''}…")
            module = self._module(name)
            if module is None:
                body = f"## {name}\n\nNot available yet: `ml_prediction.evaluation.{name}` is missing.\n"
            else:
                kwargs = {"quick": quick, "progress": progress}
                if name == "nab" and options["export_nab"] is not None:
                    kwargs["export_dir"] = options["export_nab"]
                if name == "nab" and options["split_check"]:
                    kwargs["split"] = True
                if name == "nab" and options["product_form"]:
                    kwargs["product_form"] = True
                if name == "prediction" and options["seed"] is not None:
                    kwargs["seed"] = options["seed"]
                if name == "forecast":
                    kwargs.update(
                        categories=options["category"],
                        limit=options["limit"],
                        nab_days=options["nab_days"],
                        skip_last_days=options["skip_last_days"],
                    )
                    if options["jobs"] is not None:
                        kwargs["jobs"] = options["jobs"]
                try:
                    body = module.run(datasets, **kwargs)
                except CorpusError as exc:
                    raise CommandError(f"{name}: {exc}") from None
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            elapsed = time.perf_counter() - started
            body = body.rstrip() + f"\n\n_Generated {stamp}, {elapsed:.0f} s._\n"
            document = merge_section(document, name, body)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(document)  # after each section, so a later failure keeps it
            self.stdout.write(f"  done in {elapsed:.0f} s")
        self.stdout.write(self.style.SUCCESS(f"wrote {output}"))

    @staticmethod
    def _module(name: str):
        try:
            return importlib.import_module(f"ml_prediction.evaluation.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ml_prediction.evaluation.{name}":
                return None
            raise
