"""Seed realistic demo traffic: the labelled generator's errors and metrics through real ingestion.

The traffic ends now (so predictions and forecasts start from the present), is ingested in
batches by ``error_logging.services`` exactly as the HTTP endpoints would store it, with analysis
requests suspended (the demo runs one full analysis afterwards), and the incident labels are
written beside it as JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from feeding_hearts.catalog import SERVICES

DEFAULT_LABELS = "demo/labels.json"


@dataclass(frozen=True)
class SeedResult:
    errors: int
    metrics: int
    incidents: int
    seconds: float
    labels_path: Path | None
    start: datetime
    end: datetime
    labels: dict[str, Any] = field(default_factory=dict)


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def parse_services(value: str) -> tuple[str, ...]:
    """``all`` or a comma-separated list of known services."""
    if value.strip() in ("", "all"):
        return SERVICES
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in names if s not in SERVICES]
    if unknown:
        raise CommandError(f"unknown services {unknown}; known: {', '.join(SERVICES)}")
    return names


def bucket_end(end: datetime | None) -> datetime:
    """``end`` (default now) floored to a bucket boundary so the last bucket is complete."""
    bucket = int(settings.ML_PREDICTION_CONFIG["BUCKET_MINUTES"])
    end = end or datetime.now(UTC)
    return end.replace(second=0, microsecond=0) - timedelta(minutes=end.minute % bucket)


def _write_labels(labels: dict[str, Any], path: Path | None) -> Path:
    target = path or (Path(settings.VAR_DIR) / DEFAULT_LABELS)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(labels, indent=2))
    return target


def demo_seed(
    *,
    days: float,
    services: tuple[str, ...],
    seed: int = 42,
    batch_size: int | None = None,
    labels_path: Path | None = None,
    end: datetime | None = None,
    show_progress: bool = True,
    errors_per_minute: float | None = None,
    metric_interval_minutes: int | None = None,
    write_labels: bool = True,
    running_releases: dict[str, str] | None = None,
) -> SeedResult:
    """Generate ``days`` of traffic ending at ``end`` (default: now) and ingest it.

    ``running_releases``: the release each service already runs (a continuation of stored
    traffic deploys on from it instead of starting over at 1.0.0)."""
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import IngestValidationError, ingest_errors, ingest_metrics
    from ml_prediction.engines.simulator import SimulationConfig, simulate

    if days <= 0:
        raise CommandError("--days must be positive")
    config = settings.ML_PREDICTION_CONFIG
    size = batch_size or int(config["INGEST_MAX_BATCH"])
    end = bucket_end(end)
    extra: dict[str, Any] = {}
    if errors_per_minute is not None:
        extra["errors_per_minute"] = errors_per_minute
    if metric_interval_minutes is not None:
        extra["metric_interval_minutes"] = metric_interval_minutes
    if running_releases:
        extra["running_releases"] = tuple(sorted(running_releases.items()))
    sim_config = SimulationConfig(
        days=days,
        services=services,
        seed=seed,
        bucket_minutes=int(config["BUCKET_MINUTES"]),
        start=end - timedelta(days=days),
        **extra,
    )
    started = time.perf_counter()
    simulation = simulate(sim_config)
    errors = 0
    metrics = 0
    with analysis_requests_suspended():
        for service in services:
            total = simulation.error_count(service)
            with tqdm(
                total=total,
                desc=f"errors  {service:<8}",
                unit=" err",
                disable=not show_progress,
            ) as bar:
                for batch in _batches(simulation.iter_errors(service), size):
                    try:
                        result = ingest_errors(service=service, items=batch, source="seed_demo")
                    except IngestValidationError as exc:
                        raise CommandError(
                            f"generator produced an invalid {service} error: {exc}"
                        ) from exc
                    errors += result.accepted
                    bar.update(len(batch))
            with tqdm(desc=f"metrics {service:<8}", unit=" pts", disable=not show_progress) as bar:
                for batch in _batches(simulation.iter_metrics(service), size):
                    result = ingest_metrics(service=service, items=batch)
                    metrics += result.accepted
                    bar.update(len(batch))
    labels = simulation.labels()
    return SeedResult(
        errors=errors,
        metrics=metrics,
        incidents=len(simulation.incidents),
        seconds=time.perf_counter() - started,
        labels_path=_write_labels(labels, labels_path) if write_labels else None,
        start=simulation.start,
        end=simulation.end,
        labels=labels,
    )


def _seed_worker(kwargs: dict[str, Any]) -> SeedResult:
    """One service in a forked worker (Django is already set up; connections are per process)."""
    from django.db import connections

    try:
        return demo_seed(show_progress=False, write_labels=False, **kwargs)
    finally:
        connections.close_all()


def demo_seed_parallel(
    *,
    days: float,
    services: tuple[str, ...],
    workers: int,
    seed: int = 42,
    labels_path: Path | None = None,
    end: datetime | None = None,
    show_progress: bool = True,
    errors_per_minute: float | None = None,
    metric_interval_minutes: int | None = None,
) -> SeedResult:
    """``demo_seed`` with one service per worker process (the machine's cores, not one).

    Each service's traffic depends only on (seed, service), so the result is the same as a
    serial run; the labels of all services are merged into one file.
    """
    import multiprocessing

    from django.db import connections

    end = bucket_end(end)
    common = {
        "days": days,
        "seed": seed,
        "end": end,
        "errors_per_minute": errors_per_minute,
        "metric_interval_minutes": metric_interval_minutes,
    }
    if workers <= 1 or len(services) <= 1:
        return demo_seed(
            services=services, labels_path=labels_path, show_progress=show_progress, **common
        )
    started = time.perf_counter()
    connections.close_all()  # never share a database connection with a forked child
    results: list[SeedResult] = []
    context = multiprocessing.get_context("fork")
    with (
        context.Pool(processes=min(workers, len(services)), maxtasksperchild=1) as pool,
        tqdm(total=len(services), desc="seed    ", unit=" svc", disable=not show_progress) as bar,
    ):
        jobs = [{"services": (service,), **common} for service in services]
        for result in pool.imap_unordered(_seed_worker, jobs):
            results.append(result)
            bar.set_postfix_str(f"{sum(r.errors for r in results)} errors")
            bar.update(1)
    first = results[0].labels
    incidents = sorted(
        (i for r in results for i in r.labels.get("incidents", [])),
        key=lambda i: (i["start"], i["service"]),
    )
    near_misses = [n for r in results for n in r.labels.get("near_misses", [])]
    labels = {
        **first,
        "services": list(services),
        "incidents": incidents,
        "near_misses": near_misses,
    }
    return SeedResult(
        errors=sum(r.errors for r in results),
        metrics=sum(r.metrics for r in results),
        incidents=len(incidents),
        seconds=time.perf_counter() - started,
        labels_path=_write_labels(labels, labels_path),
        start=results[0].start,
        end=results[0].end,
        labels=labels,
    )


class Command(BaseCommand):
    help = (
        "Generate labelled demo traffic (errors and metrics, daily/weekly cycles, deploys, "
        "incidents with and without precursors) and ingest it through the real ingestion code."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=30.0, help="days of history (30)")
        parser.add_argument(
            "--services", default="all", help="comma-separated services, or all (default)"
        )
        parser.add_argument("--seed", type=int, default=42, help="generator seed (42)")
        parser.add_argument("--batch-size", type=int, default=None, help="items per ingest call")
        parser.add_argument(
            "--labels",
            type=Path,
            default=None,
            help=f"where to write the incident labels (var/{DEFAULT_LABELS})",
        )
        parser.add_argument(
            "--errors-per-minute", type=float, default=None, help="baseline rate per service"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=min(2, os.cpu_count() or 1),
            help="services ingested in parallel (default: up to 2 cores)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        services = parse_services(options["services"])
        if options["workers"] > 1 and options["batch_size"] is None:
            result = demo_seed_parallel(
                days=options["days"],
                services=services,
                workers=options["workers"],
                seed=options["seed"],
                labels_path=options["labels"],
                show_progress=not options["no_progress"],
                errors_per_minute=options["errors_per_minute"],
            )
        else:
            result = demo_seed(
                days=options["days"],
                services=services,
                seed=options["seed"],
                batch_size=options["batch_size"],
                labels_path=options["labels"],
                show_progress=not options["no_progress"],
                errors_per_minute=options["errors_per_minute"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.errors} errors and {result.metrics} metric samples "
                f"({result.start:%Y-%m-%d %H:%M} → {result.end:%Y-%m-%d %H:%M} UTC, "
                f"{result.incidents} labelled incidents) in {result.seconds:.0f}s; "
                f"labels: {result.labels_path}"
            )
        )
