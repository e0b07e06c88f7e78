"""Orchestrator benchmark: analysis latency and training time with 1,000,000 stored errors.

Run: .venv/bin/python benchmarks/orchestrator_bench.py [--errors 1000000] [--days 30] [--repeat 20]
     [--skip-load] [--skip-train]
Uses its own PostgreSQL databases (feeding_hearts_bench_orch, feeding_hearts_ml_bench_orch; created
and migrated when missing) and Redis DBs 12/13, so it never touches anyone's data.

Data: the simulator's traffic for 7 services over 30 days, scaled to ~1,000,000 errors. Errors
older than two hours are written *as rollups only* (COPY of the per-minute ErrorRollup rows the
ingestion path would have produced from them: same counters, histograms and error types), which
is what every read of the orchestrator uses; the last two hours go through the real ingestion
service (raw ErrorLog rows + rollups), so the hotspot insight reads real rows. Metric samples
go through ``ingest_metrics``.

Budgets: quick analysis of one service p95 < 1 s, full < 10 s (models trained, no training in
the measured run), training all model types for all 7 services < 10 min. Also reports the
training worker's peak RSS and checks that a web process never imports TensorFlow or Prophet.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from pgdb import provision_databases

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG = "postgres://postgres:postgres@127.0.0.1:5432/"
DEFAULT_DB, ML_DB = "feeding_hearts_bench_orch", "feeding_hearts_ml_bench_orch"
BENCH_ENV = {
    "DATABASE_URL": PG + DEFAULT_DB,
    "ML_DATABASE_URL": PG + ML_DB,
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12",
    "REDIS_URL": "redis://127.0.0.1:6379/13",
    "ML_ARTIFACT_DIR": str(ROOT / "var" / "bench-orch-artifacts"),
    "FH_LOG_DIR": str(ROOT / "var" / "bench-logs"),
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
# Set, not defaulted: `make bench` names the development databases in DATABASE_URL etc., and this
# benchmark TRUNCATEs the error tables of whatever database it is given.
os.environ.update(BENCH_ENV)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate", database="ml_prediction", verbosity=0)


# ------------------------------------------------------------------------------------- loading


def load(errors: int, days: int) -> dict:
    """Simulate and store the traffic; returns counts and timings."""
    from django.db import connections
    from django.utils import timezone

    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.models import ErrorRollup
    from error_logging.normalize import derive_category
    from error_logging.rollups import ROLLUP_COLUMNS, rollup_deltas
    from error_logging.services import ingest_errors, ingest_metrics
    from feeding_hearts.catalog import CATEGORIES, SERVICES, SEVERITIES
    from ml_prediction.engines.simulator import SimulationConfig, simulate

    started = time.perf_counter()
    end = timezone.now().replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 5)
    rate = errors / (len(SERVICES) * days * 1440) / 1.08  # incidents add ~8%
    sim = simulate(
        SimulationConfig(
            days=days,
            services=SERVICES,
            seed=2024,
            start=end - timedelta(days=days),
            errors_per_minute=rate,
        )
    )
    raw_from = end - timedelta(hours=2)
    categories: dict[tuple[str, str], str] = {}
    digits = re.compile(r"\d+")
    fields = ROLLUP_COLUMNS
    total = 0
    recent: dict[str, list[dict]] = {s: [] for s in SERVICES}
    with connections["default"].cursor() as cursor:
        cursor.execute("TRUNCATE error_rollups, error_logs, metric_samples")
    for service in SERVICES:
        rows = []
        for item in sim.iter_errors(service):
            total += 1
            occurred = datetime.fromisoformat(item["occurred_at"])
            if occurred >= raw_from:
                recent[service].append(item)
                continue
            key = (item["error_type"], digits.sub("", item["message"]))
            category = categories.get(key)
            if category is None:
                category = categories[key] = derive_category(item["error_type"], item["message"])
            rows.append(
                (
                    service,
                    occurred,
                    item["severity"],
                    category,
                    item["error_type"],
                    item["response_time_ms"],
                    item["user_id"],
                )
            )
        deltas = rollup_deltas(rows)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        now = timezone.now().isoformat()
        for (svc, bucket), d in deltas.items():
            width = max(d.rt_histogram) + 1 if d.rt_histogram else 0
            histogram = [d.rt_histogram.get(i, 0) for i in range(width)]
            writer.writerow(
                [svc, bucket.isoformat(), d.total]
                + [d.severities.get(s, 0) for s in SEVERITIES]
                + [d.categories.get(c, 0) for c in CATEGORIES]
                + [
                    d.rt_count,
                    d.rt_sum,
                    d.rt_max,
                    json.dumps(histogram),
                    d.user_errors,
                    json.dumps(d.error_types),
                    now,
                ]
            )
        buffer.seek(0)
        with connections["default"].cursor() as cursor:
            cursor.copy_expert(
                f"COPY error_rollups ({', '.join(fields)}) FROM STDIN WITH (FORMAT csv)", buffer
            )
    with analysis_requests_suspended():
        for service in SERVICES:
            items = recent[service]
            for i in range(0, len(items), 1000):
                ingest_errors(service=service, items=items[i : i + 1000])
            metrics = list(sim.iter_metrics(service))
            for i in range(0, len(metrics), 5000):
                ingest_metrics(service=service, items=metrics[i : i + 5000])
    return {
        "errors": total,
        "raw_rows": sum(len(v) for v in recent.values()),
        "rollup_rows": ErrorRollup.objects.count(),
        "seconds": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------------ measuring


def train_all(services: list[str]) -> dict:
    """Train every model type for the given services (run in a child process to measure RSS)."""
    from ml_prediction.services.training import training_run_for_service

    per_service = {}
    statuses: dict[str, int] = {}
    started = time.perf_counter()
    for service in services:
        t0 = time.perf_counter()
        for history in training_run_for_service(service=service):
            statuses[history.status] = statuses.get(history.status, 0) + 1
        per_service[service] = round(time.perf_counter() - t0, 1)
    return {
        "seconds": time.perf_counter() - started,
        "per_service": per_service,
        "statuses": statuses,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_analysis(analysis_type: str, repeat: int, *, cache_ttl: int) -> dict:
    from django.conf import settings

    from feeding_hearts.catalog import SERVICES
    from ml_prediction.services import PredictionOrchestrator

    settings.ML_PREDICTION_CONFIG["FEATURE_CACHE_TTL"] = cache_ttl
    orchestrator = PredictionOrchestrator()
    for service in SERVICES:  # warm the model cache (artifact load + hash) once per service
        orchestrator.run_full_analysis(service, analysis_type)
    times = []
    last = {}
    for i in range(repeat):
        service = SERVICES[i % len(SERVICES)]
        t0 = time.perf_counter()
        last = orchestrator.run_full_analysis(service, analysis_type)
        times.append(time.perf_counter() - t0)
    return {
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "runs": len(times),
        "last": last,
    }


def web_imports_heavy() -> list[str]:
    code = (
        "import sys, json, django\ndjango.setup()\n"
        "import feeding_hearts.urls, ml_prediction.api.views, ml_prediction.webhooks\n"
        "import ml_prediction.health_check, ml_prediction.services.orchestrator\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'prophet'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--phase", choices=("all", "train"), default="all")
    parser.add_argument("--services", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--train-workers",
        type=int,
        default=2,
        help="training processes in parallel (the worker's concurrency; 2 on 2 cores)",
    )
    args = parser.parse_args()

    if args.phase == "train":
        setup_django()
        result = train_all(args.services.split(","))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["peak_rss_mb"] = usage.ru_maxrss / 1024
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        print("TRAIN_RESULT " + json.dumps(result))
        return

    provision_databases(PG, (DEFAULT_DB, ML_DB), mode="ensure")
    setup_django()
    rows: list[tuple[str, str, str]] = []
    if not args.skip_load:
        loaded = load(args.errors, args.days)
        print(f"loaded {loaded}", file=sys.stderr)
        rows.append(
            (
                "data",
                f"{loaded['errors']:,} errors / {args.days} days / 7 services "
                f"({loaded['rollup_rows']:,} rollup rows, {loaded['raw_rows']:,} raw rows)",
                f"load {loaded['seconds']:.0f} s",
            )
        )
    if not args.skip_train:
        from ml_prediction.services.registry import registry_cache_clear

        registry_cache_clear()
        from feeding_hearts.catalog import SERVICES

        groups = [SERVICES[i :: args.train_workers] for i in range(args.train_workers)]
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--phase", "train", "--services", ",".join(g)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for g in groups
            if g
        ]
        results = []
        for child in children:
            out, err = child.communicate()
            line = next((x for x in out.splitlines() if x.startswith("TRAIN_RESULT ")), None)
            if line is None:
                print(out[-3000:], err[-5000:], file=sys.stderr)
                raise SystemExit("training phase failed")
            results.append(json.loads(line.removeprefix("TRAIN_RESULT ")))
        wall = time.perf_counter() - started
        statuses: dict[str, int] = {}
        per_service: dict[str, float] = {}
        for r in results:
            per_service.update(r["per_service"])
            for k, v in r["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        cpu = sum(r["cpu_seconds"] for r in results)
        budget = "✅" if wall < 600 else "❌"
        rows.append(
            (
                f"training, all model types × 7 services, {len(children)} processes (budget < 600 s)",
                f"{wall:.0f} s wall {budget}, {cpu:.0f} s CPU",
                f"runs {statuses}; per service (s) {per_service}",
            )
        )
        rows.append(
            (
                "training worker peak RSS",
                f"{max(r['peak_rss_mb'] for r in results):.0f} MB",
                "largest of the training processes",
            )
        )
    for analysis_type, budget in (("quick", 1.0), ("full", 10.0)):
        for ttl, label in ((0, "feature cache off"), (300, "feature cache on")):
            m = measure_analysis(analysis_type, args.repeat, cache_ttl=ttl)
            mark = "✅" if m["p95"] < budget else "❌"
            timings = m["last"]["timings_ms"]
            rows.append(
                (
                    f"`{analysis_type}` analysis of one service, {label} (budget p95 < {budget:g} s)",
                    f"p95 {m['p95'] * 1000:.0f} ms {mark}",
                    f"p50 {m['p50'] * 1000:.0f} ms, max {m['max'] * 1000:.0f} ms over {m['runs']} runs; "
                    f"last run stages (ms) {timings}",
                )
            )
    heavy = web_imports_heavy()
    rows.append(
        (
            "web process imports TensorFlow/Prophet",
            "no ✅" if not heavy else f"yes ❌ {heavy}",
            "urls, views, webhook, health, orchestrator",
        )
    )
    print("| measurement | result | detail |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
