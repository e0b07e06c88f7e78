"""Release read benchmark: what the (service, release, occurred_at) index saves the root cause's
release check, and what it costs ingestion, on PostgreSQL.

    .venv/bin/python benchmarks/release_bench.py [--per-day 520000] [--rounds 6] [--write]

Uses its own databases (fh_bench_release / fh_bench_release_ml, recreated and migrated each run).
Loads one service's day of errors through the real ingestion service (``ingest_errors``, with
its rollups): release ``django@1.0.0`` for 23 hours, then ``django@1.1.0``, deployed 40 minutes
before the end. Then, with and without the index in the same run:
1. ``release_errors_for_service`` over the last hour (what every analysis in the hour after a
   deploy runs), in alternating rounds: the new release has no error before the window, so
   without the index the search for its first error reads the whole day of the service's
   errors;
2. ingestion of fresh batches of 500 errors through ``ingest_errors``, in alternating rounds
   (with, without, with, …), so the machine's noise falls on both sides alike: the index is
   one more B-tree entry per stored error.
Prints a markdown table; ``--write`` also stores it in docs/benchmarks/release.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from pgdb import provision_databases

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")
DB_DEFAULT, DB_ML = "fh_bench_release", "fh_bench_release_ml"
SERVICE = "django"
INDEX = "error_logs_svc_release_idx"
BATCH = 500


def item(at, release: str, n: int) -> dict:
    """One error as an SDK sends it (a realistic mix of types, endpoints and users)."""
    kinds = (
        ("OperationalError", "QueuePool limit of size 20 overflow 10 reached"),
        ("TimeoutError", "upstream /api/payments timed out after 3000 ms"),
        ("ValueError", f"invalid literal for int() with base 10: 'x{n % 97}'"),
        ("KeyError", f"'order_{n % 13}'"),
    )
    error_type, message = kinds[n % len(kinds)]
    return {
        "error_type": error_type,
        "message": message,
        "severity": "error",
        "release": release,
        "environment": "production",
        "endpoint": f"/api/orders/{n % 50}",
        "status_code": 500,
        "response_time_ms": 120.0 + n % 400,
        "user_id": f"user-{n % 5000}",
        "occurred_at": at.isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=520_000, help="errors in the day loaded")
    parser.add_argument("--rounds", type=int, default=6, help="ingestion rounds per side")
    parser.add_argument("--batches", type=int, default=20, help="batches of 500 per round")
    parser.add_argument("--repeat", type=int, default=5, help="release reads per side and round")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    os.environ.update(
        DJANGO_SETTINGS_MODULE="feeding_hearts.settings",
        DATABASE_URL=f"{PG_URL}/{DB_DEFAULT}",
        ML_DATABASE_URL=f"{PG_URL}/{DB_ML}",
        FH_LOG_DIR=str(ROOT / "var" / "bench-logs"),
        LOG_LEVEL="WARNING",
    )
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    provision_databases(PG_URL, (DB_DEFAULT, DB_ML))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors
    from ml_prediction.services.features import release_errors_for_service

    call_command("migrate", verbosity=0)
    call_command("migrate", database="ml_prediction", verbosity=0)

    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(days=1)
    deploy = end - timedelta(minutes=40)
    step = timedelta(days=1) / args.per_day
    print(f"loading {args.per_day:,} errors of one day through ingest_errors …", flush=True)
    loaded = time.perf_counter()
    with analysis_requests_suspended():
        batch = []
        for n in range(args.per_day):
            at = start + step * n
            batch.append(item(at, "django@1.1.0" if at >= deploy else "django@1.0.0", n))
            if len(batch) == 2000:
                ingest_errors(service=SERVICE, items=batch)
                batch = []
                if n % 100_000 < 2000:
                    print(f"  {n + 1:,} stored", flush=True)
        if batch:
            ingest_errors(service=SERVICE, items=batch)
    load_seconds = time.perf_counter() - loaded
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE error_logs")
        cursor.execute("CHECKPOINT")  # the load's writes flushed before anything is timed

    def set_index(present: bool) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
            if present:
                cursor.execute(
                    f"CREATE INDEX {INDEX} ON error_logs (service, release, occurred_at)"
                )
            cursor.execute("ANALYZE error_logs")

    def read_ms() -> tuple[list[float], list]:
        seen = release_errors_for_service(  # warm-up: the first read after ANALYZE plans
            service=SERVICE, start=end - timedelta(hours=1), end=end
        )
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            seen = release_errors_for_service(
                service=SERVICE, start=end - timedelta(hours=1), end=end
            )
            times.append((time.perf_counter() - t0) * 1000)
        return times, seen

    reads: dict[bool, list[float]] = {True: [], False: []}
    answers: dict[bool, list] = {}
    for _ in range(3):  # alternating, as the ingestion rounds below
        for present in (True, False):
            set_index(present)
            times, answers[present] = read_ms()
            reads[present] += times
    releases = sorted(r.release for r in answers[True])
    assert answers[True] == answers[False], "the index changed the answer"

    future = end + timedelta(minutes=5)
    serial = itertools.count(1)  # varies the fresh items (ids are new anyway)

    def ingest_round() -> float:
        """Microseconds per stored error over ``--batches`` fresh batches."""
        elapsed = 0.0
        with analysis_requests_suspended():
            for _ in range(args.batches):
                items = [item(future, "django@1.1.0", next(serial)) for _ in range(BATCH)]
                t0 = time.perf_counter()
                ingest_errors(service=SERVICE, items=items)
                elapsed += time.perf_counter() - t0
        return elapsed / (args.batches * BATCH) * 1e6

    costs: dict[bool, list[float]] = {True: [], False: []}
    print(f"ingestion: {args.rounds} rounds per side, alternating …", flush=True)
    for _ in range(args.rounds):
        for present in (True, False):
            set_index(present)
            costs[present].append(ingest_round())
    set_index(True)

    with_read, without_read = statistics.median(reads[True]), statistics.median(reads[False])
    with_us, without_us = statistics.median(costs[True]), statistics.median(costs[False])
    ratios = [a / b for a, b in zip(costs[True], costs[False], strict=True)]
    lines = [
        f"Command: `.venv/bin/python benchmarks/release_bench.py --per-day {args.per_day} "
        f"--rounds {args.rounds}` — {args.per_day:,} errors of one service's day "
        f"(loaded in {load_seconds:.0f} s through `ingest_errors`), the new release deployed "
        f"40 min before the end; releases in the last hour: {', '.join(releases)}.",
        "",
        "| measure | with the index | without | ratio |",
        "|---|---|---|---|",
        f"| release read of the last hour (median of 3 × {args.repeat}) | {with_read:.1f} ms | "
        f"{without_read:.1f} ms | {with_read / without_read:.3f} |",
        f"| ingestion, µs per stored error (median of {args.rounds} rounds × "
        f"{args.batches} batches of {BATCH}) | {with_us:.1f} | {without_us:.1f} | "
        f"{with_us / without_us:.3f} |",
        "",
        f"Release reads, ms: with the index {min(reads[True]):.1f}–{max(reads[True]):.1f}, "
        f"without {min(reads[False]):.1f}–{max(reads[False]):.1f}.",
        "",
        f"Ingestion rounds, µs per error, with / without: "
        f"{', '.join(f'{a:.1f}/{b:.1f}' for a, b in zip(costs[True], costs[False], strict=True))}"
        f" (ratio per pair {min(ratios):.2f}–{max(ratios):.2f}).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = ROOT / "docs" / "benchmarks" / "release.md"
        path.write_text(
            "# Release read (root cause) vs ingestion cost\n\n"
            + (__doc__ or "").split("\n\n", 1)[1].split("Prints a markdown")[0].strip()
            + "\n\n"
            + text
            + f"\n\n_Measured {timezone.now():%Y-%m-%d %H:%M} UTC._\n"
        )
        print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
