"""Ingestion benchmark: bulk native errors and Sentry envelopes through gunicorn on PostgreSQL.

Run: .venv/bin/python benchmarks/ingest_bench.py [--rows 100000] [--envelopes 4000] [--write]

It (re)creates its own databases (fh_bench, fh_bench_ml), migrates them, starts the shipped
gunicorn.conf.py (2 sync workers) on a free port and measures:
1. native ``POST /api/errors/`` in batches of 500 (~1.6 KB rows, 1 KB stack trace), errors/s and
   request latency p50/p99, against a raw psycopg2 COPY of the same rows in the same run;
2. Sentry envelopes, one event per request from 8 concurrent clients, events/s and p50/p99,
   with the shipped sync workers and, for comparison, with 2 gthread workers × 4 threads;
3. rollup p95/p99 from the histogram versus exact percentiles of the raw rows, per minute.
Prints a markdown table; ``--write`` also stores it in docs/benchmarks/ingest.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg2
from pgdb import provision_databases

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
BATCH = 500

TYPES = [
    ("DatabaseTimeoutError", "query on table orders took {n} ms"),
    ("OperationalError", "could not connect to server: Connection refused (10.0.{n}.4)"),
    ("PermissionDenied", "user {n} may not access /admin/"),
    ("ValidationError", "field 'email' is invalid for order {n}"),
    ("KeyError", "'sku_{n}'"),
    ("HTTPError", "502 Bad Gateway from payments after {n} ms"),
    ("MemoryError", "worker {n} exceeded its memory limit"),
]


def make_item(rng: random.Random, moment: datetime) -> dict:
    error_type, template = rng.choice(TYPES)
    frames = [
        {
            "filename": f"shop/module_{i}.py",
            "module": f"shop.module_{i}",
            "function": f"handler_{i}",
            "lineno": rng.randint(1, 900),
            "in_app": i > 2,
            "context_line": "    result = service.call(request, payload=payload, timeout=timeout)",
        }
        for i in range(8)
    ]
    return {
        "error_id": str(uuid.uuid4()),
        "error_type": error_type,
        "message": template.format(n=rng.randint(1, 99999)),
        "severity": rng.choice(["warning", "error", "error", "error", "critical"]),
        "environment": "production",
        "release": "shop@4.2.0",
        "host": f"web-{rng.randint(1, 8)}",
        "endpoint": rng.choice(["/api/orders/", "/api/cart/", "/api/pay/", "/api/users/"]),
        "status_code": rng.choice([500, 502, 503, 504, 400, 403]),
        "response_time_ms": round(rng.lognormvariate(5.5, 1.1), 2),
        "user_id": str(rng.randint(1, 5000)),
        "stacktrace": frames,
        "tags": {"region": rng.choice(["eu", "us"]), "pod": f"pod-{rng.randint(1, 30)}"},
        "context": {"request_id": uuid.uuid4().hex},
        "occurred_at": moment.isoformat(),
    }


def batches(n_rows: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=2)
    out, moment = [], start
    for _ in range(n_rows // BATCH):
        out.append([make_item(rng, moment + timedelta(milliseconds=20 * i)) for i in range(BATCH)])
        moment += timedelta(seconds=10)
    return out


def sh(args: list[str], env: dict) -> str:
    return subprocess.run(
        args, cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def start_gunicorn(env: dict, *, threaded: bool = False) -> tuple[subprocess.Popen, str, int]:
    """The shipped gunicorn.conf.py (2 sync workers), or 2 gthread workers × 4 threads."""
    overrides = {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "4"} if threaded else {}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "feeding_hearts.wsgi",
            "-c",
            "gunicorn.conf.py",
        ],
        cwd=ROOT,
        env={
            **env,
            "GUNICORN_BIND": "127.0.0.1:0",
            "GUNICORN_WORKERS": "2",
            **overrides,
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"Listening at: http://([\d.]+):(\d+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, match.group(1), int(match.group(2))
        if process.poll() is not None:
            break
    raise RuntimeError("gunicorn did not start")


_local = threading.local()


def post(host: str, port: int, path: str, body: bytes, headers: dict) -> tuple[int, float]:
    """One request on this thread's kept-alive connection, as SDKs send (reconnects when the
    server closed it, as sync workers do after every response)."""
    started = time.perf_counter()
    for attempt in (1, 2):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = _local.conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
            continue
        if response.getheader("Connection", "").lower() == "close" or response.will_close:
            conn.close()
            _local.conn = None
        return response.status, time.perf_counter() - started
    raise AssertionError("unreachable")


def workers_cpu_seconds(master_pid: int) -> float:
    """user+system CPU seconds of gunicorn's worker processes (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(
    jobs: list[tuple[str, bytes, dict]], host: str, port: int, clients: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures: list[int] = []

    def one(job):
        status, latency = post(host, port, *job)
        if status not in (200, 201):
            failures.append(status)
        latencies.append(latency)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, jobs))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. HTTP {failures[0]}")
    return elapsed, latencies


def copy_baseline(rows_batches: list[list[dict]]) -> float:
    """Raw psycopg2 COPY of the same rows (text built in the loop), batches of 500, one
    transaction each, into a table with the same columns and indexes."""
    from error_logging.services import ERROR_COLUMNS, _copy_rows

    conn = psycopg2.connect(f"{PG}/fh_bench")
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute("CREATE TABLE bench_copy (LIKE error_logs INCLUDING ALL)")
    conn.commit()
    now = datetime.now(UTC)
    started = time.perf_counter()
    for batch in rows_batches:
        rows = [
            (
                i["error_id"],
                "django",
                i["environment"],
                i["release"],
                i["host"],
                "",
                i["error_type"],
                i["message"],
                i["severity"],
                "other",
                i["endpoint"],
                i["status_code"],
                i["response_time_ms"],
                i["user_id"],
                uuid.uuid4().hex,
                i["stacktrace"],
                i["tags"],
                i["context"],
                datetime.fromisoformat(i["occurred_at"]),
                now,
            )
            for i in batch
        ]
        with conn.cursor() as cur:
            cur.copy_expert(
                f"COPY bench_copy ({', '.join(ERROR_COLUMNS)}) FROM STDIN", _copy_rows(rows)
            )
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(len(b) for b in rows_batches) / elapsed


def rollup_accuracy() -> tuple[float, float, int]:
    from error_logging.rollups import rollup_percentile

    conn = psycopg2.connect(f"{PG}/fh_bench")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT date_trunc('minute', occurred_at) AS b,"
            " percentile_disc(0.95) WITHIN GROUP (ORDER BY response_time_ms),"
            " percentile_disc(0.99) WITHIN GROUP (ORDER BY response_time_ms)"
            " FROM error_logs WHERE response_time_ms IS NOT NULL GROUP BY b"
        )
        exact = {b: (p95, p99) for b, p95, p99 in cur.fetchall()}
        cur.execute("SELECT bucket, rt_histogram FROM error_rollups")
        worst95 = worst99 = 0.0
        for bucket, histogram in cur.fetchall():
            if bucket not in exact:  # envelope-only minutes carry no response times
                continue
            p95, p99 = exact[bucket]
            worst95 = max(worst95, abs(rollup_percentile(histogram, 0.95) / p95 - 1))
            worst99 = max(worst99, abs(rollup_percentile(histogram, 0.99) / p99 - 1))
    conn.close()
    return worst95, worst99, len(exact)


def count_sql(sql: str) -> int:
    conn = psycopg2.connect(f"{PG}/fh_bench")
    with conn.cursor() as cur:
        cur.execute(sql)
        n = cur.fetchone()[0]
    conn.close()
    return int(n)


def count(table: str) -> int:
    conn = psycopg2.connect(f"{PG}/fh_bench")
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        n = cur.fetchone()[0]
    conn.close()
    return n


NOTES = """
## Reading the figures

- Throughput is bounded by CPU, which on this shared machine other jobs take too: run it when
  the machine is quiet (the load average is printed above) and compare the ratio to the COPY
  baseline and the CPU cost per row, which move much less with load than the rates.
- The HTTP path can be as fast as the baseline because the baseline is one connection copying
  serially, while 4 clients keep both gunicorn workers and PostgreSQL busy at once.
- Web-worker CPU per native row (parse with orjson, validate without DRF, category and
  fingerprint, COPY text, rollup deltas, Django's request handling) is what decides the ceiling:
  at ~60 µs per row plus PostgreSQL's ~60 µs per COPY-ed row, two idle cores allow ~15-17k rows/s.
- Single-event envelopes cost ~1.5-2 ms of worker CPU each; the rest of their latency is waiting
  on the commit's WAL flush, the COPY and (batched per 250 ms per process) Redis. The clients
  keep their connections alive as the SDKs do; sync workers close them after each response, so
  every envelope also pays a new connection, which still cost less than gthread's per-request
  overhead here (the comparison row).
- Rollup percentiles: the histogram's geometric buckets (ratio 1.05) bound the error of the
  interpolated p95/p99 by 5% whenever the rank falls in the same bucket as the exact value.

What was changed to get here (each measured with this script): COPY instead of bulk_create;
one `INSERT … ON CONFLICT DO UPDATE` for the rollups instead of ORM create/lock/update; no
savepoints; duplicate-id lookup only after a unique violation; fewer Redis round trips
(pipeline, per-process window counters, local debounce memo); escaping only strings that need it.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--envelopes", type=int, default=4000)
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent clients for bulk batches"
    )
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks/ingest.md")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/fh_bench",
        "ML_DATABASE_URL": f"{PG}/fh_bench_ml",
        "REDIS_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "CACHE_KEY_PREFIX": "fh-bench",
        "ML_INGEST_RATE_LIMIT_PER_MINUTE": "100000000",
        "FH_TEST_DB_SUFFIX": "",
        "DEBUG": "false",
    }
    os.environ.update(
        {k: env[k] for k in ("DATABASE_URL", "ML_DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX")}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")
    import django

    django.setup()

    print("preparing databases and data…", file=sys.stderr)
    provision_databases(PG, ("fh_bench", "fh_bench_ml"))
    sh([sys.executable, "manage.py", "migrate", "--noinput"], env)
    sh([sys.executable, "manage.py", "migrate", "--database=ml_prediction", "--noinput"], env)
    key_out = sh(
        [sys.executable, "manage.py", "create_ingest_key", "django", "--project-id", "1"], env
    )
    key = re.search(r"public key:\s+(\w+)", key_out).group(1)
    warm, data = batches(BATCH * 10, seed=1), batches(args.rows, seed=2)
    bodies = [orjson.dumps(b) for b in data]
    row_bytes = sum(len(b) for b in bodies) / args.rows

    # no analysis tasks from a benchmark: take the debounce window of every service up front
    from django.core.cache import cache

    from error_logging.analysis_trigger import debounce_key
    from feeding_hearts.catalog import SERVICES

    for service in SERVICES:
        cache.set(debounce_key(service), 1, timeout=3600)

    process, host, port = start_gunicorn(env)
    try:
        headers = {"Content-Type": "application/json", "X-Ingest-Key": key}
        run_load(
            [("/api/errors/", orjson.dumps(b), headers) for b in warm], host, port, args.clients
        )
        cpu_before = workers_cpu_seconds(process.pid)
        elapsed, latencies = run_load(
            [("/api/errors/", b, headers) for b in bodies], host, port, args.clients
        )
        native_rate = args.rows / elapsed
        native_cpu_us = (workers_cpu_seconds(process.pid) - cpu_before) / args.rows * 1e6
        native_lat = latencies

        rng = random.Random(3)
        envelopes = []
        for _ in range(args.envelopes):
            event_id = uuid.uuid4().hex
            item = make_item(rng, datetime.now(UTC))
            event = {
                "event_id": event_id,
                "level": "error",
                "platform": "python",
                "timestamp": time.time(),
                "server_name": item["host"],
                "exception": {
                    "values": [
                        {
                            "type": item["error_type"],
                            "value": item["message"],
                            "stacktrace": {"frames": item["stacktrace"]},
                        }
                    ]
                },
                "tags": item["tags"],
                "request": {"url": f"https://shop.example{item['endpoint']}"},
            }
            payload = orjson.dumps(event)
            envelopes.append(
                b"\n".join(
                    [
                        orjson.dumps({"event_id": event_id}),
                        orjson.dumps({"type": "event", "length": len(payload)}),
                        payload,
                    ]
                )
            )
        sentry_headers = {
            "Content-Type": "application/x-sentry-envelope",
            "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}, sentry_client=bench/1.0",
        }
        half = len(envelopes) // 2
        cpu_before = workers_cpu_seconds(process.pid)
        env_elapsed, env_lat = run_load(
            [("/api/1/envelope/", body, sentry_headers) for body in envelopes[:half]], host, port, 8
        )
        envelope_rate = half / env_elapsed
        envelope_cpu_ms = (workers_cpu_seconds(process.pid) - cpu_before) / half * 1e3
    finally:
        process.terminate()
        process.wait(timeout=30)

    # for comparison, 2 gthread workers × 4 threads (keep-alive, overlapped waits on
    # PostgreSQL's commit and Redis, but a Python event loop and thread hand-offs per request)
    process, host, port = start_gunicorn(env, threaded=True)
    try:
        run_load([("/api/1/envelope/", b, sentry_headers) for b in envelopes[:50]], host, port, 8)
        cpu_before = workers_cpu_seconds(process.pid)
        t_elapsed, t_lat = run_load(
            [("/api/1/envelope/", body, sentry_headers) for body in envelopes[half:]], host, port, 8
        )
        threaded_rate = (len(envelopes) - half) / t_elapsed
        sync_cpu_ms = (
            (workers_cpu_seconds(process.pid) - cpu_before) / (len(envelopes) - half) * 1e3
        )
    finally:
        process.terminate()
        process.wait(timeout=30)

    cache.delete_many([debounce_key(service) for service in SERVICES])
    stored = count("error_logs")
    rolled_up = count_sql("SELECT COALESCE(SUM(total_count), 0) FROM error_rollups")
    expected = args.rows + BATCH * 10 + args.envelopes  # warm-up envelopes are repeats
    copy_rate = copy_baseline(data)
    worst95, worst99, minutes = rollup_accuracy()

    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    table = "\n".join(
        [
            "| measurement | result | target |",
            "|---|---|---|",
            f"| native `POST /api/errors/`, batches of {BATCH}, {args.clients} clients, gunicorn 2 workers | **{native_rate:,.0f} errors/s** | ≥ 10,000/s |",
            f"| web-worker CPU per native row (whole request, Django included) | {native_cpu_us:.0f} µs | — |",
            f"| raw psycopg2 COPY of the same rows (same table shape, batches of {BATCH}) | {copy_rate:,.0f} rows/s | — |",
            f"| ratio HTTP ingestion / raw COPY | **{native_rate / copy_rate:.2f}** | ≥ 0.3 |",
            f"| native request latency p50 / p99 (one batch of {BATCH}) | {ms(statistics.median(native_lat))} / {ms(percentile(native_lat, 0.99))} | — |",
            f"| Sentry envelope, 1 event per request, 8 clients | **{envelope_rate:,.0f} events/s** | ≥ 500/s |",
            f"| envelope request latency p50 / p99 | {ms(statistics.median(env_lat))} / {ms(percentile(env_lat, 0.99))} | — |",
            f"| web-worker CPU per envelope request | {envelope_cpu_ms:.2f} ms | — |",
            f"| same with 2 gthread workers × 4 threads (`GUNICORN_WORKER_CLASS=gthread GUNICORN_THREADS=4`), for comparison | {threaded_rate:,.0f} events/s | — |",
            f"| its latency p50 / p99; web-worker CPU per request | {ms(statistics.median(t_lat))} / {ms(percentile(t_lat, 0.99))}; {sync_cpu_ms:.2f} ms | — |",
            f"| rollup p95 / p99 worst relative error over {minutes} minutes vs exact | {worst95:.1%} / {worst99:.1%} | ≤ 5% |",
            f"| rows stored / sent | {stored:,} / {expected:,} | equal |",
            f"| errors counted by the rollups (concurrent upserts) / rows stored | {rolled_up:,} / {stored:,} | equal |",
            f"| mean native row size in the request body | {row_bytes:,.0f} bytes | — |",
        ]
    )
    print(table)
    if args.write:
        doc = ROOT / "docs" / "benchmarks" / "ingest.md"
        doc.parent.mkdir(parents=True, exist_ok=True)
        command = ".venv/bin/python benchmarks/ingest_bench.py " + " ".join(sys.argv[1:])
        doc.write_text(
            "# Ingestion benchmark\n\n"
            f"Command: `{command.strip()}` (PostgreSQL 15 and Redis on 127.0.0.1; "
            f"{os.cpu_count()} cores shared by the load generator, gunicorn and PostgreSQL).\n"
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
            f"{os.getloadavg()[0]:.1f} (other engineers' jobs on the same 2 cores).\n\n{table}\n"
            + NOTES
        )


if __name__ == "__main__":
    main()
