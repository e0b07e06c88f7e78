"""Load test (`make loadtest`): many concurrent clients against the production server, then a count.

Run: .venv/bin/python benchmarks/loadtest.py [--clients 50] [--seconds 60] [--write]

It (re)creates its own databases (fh_loadtest, fh_loadtest_ml, plus ``_<suffix>`` when
FH_TEST_DB_SUFFIX or --db-suffix is set), migrates them, starts the shipped gunicorn.conf.py
(2 workers; GUNICORN_* variables apply) on a free port of 127.0.0.1 and lets N clients
(threads in a few processes) post, for S seconds, a mix of the three doors, each error with a
unique id: native batches (``POST /api/errors/``), Sentry envelopes with one event
(``POST /api/<project_id>/envelope/``) and OTLP/HTTP JSON log batches (``POST /v1/logs``).
Each door has its own key and service, so each can be checked on its own afterwards:

    errors acknowledged by the server == ErrorLog rows stored == sum of the rollups' total_count

and no 5xx, no other unexpected status, no request left unanswered. A 429 is counted apart and
not acknowledged. Prints progress while running and a markdown table with requests, errors,
p50/p99 latency and status counts per door; ``--write`` stores it in docs/benchmarks/loadtest.md,
``--json PATH`` the figures for a test. Exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import queue
import random
import re
import runpy
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg2
from pgdb import provision_databases

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ingest_bench import (  # noqa: E402  (needs ROOT on sys.path first)
    make_item,
    percentile,
    sh,
    start_gunicorn,
    workers_cpu_seconds,
)

HOST = "127.0.0.1"  # load generators only ever target the local server
DOORS = ("native", "sentry", "otlp")
SERVICE = {"native": "django", "sentry": "java", "otlp": "react"}
PROJECT_ID = {"native": 9101, "sentry": 9102, "otlp": 9103}
LABEL = {
    "native": "native `POST /api/errors/`",
    "sentry": "Sentry `POST /api/<id>/envelope/`",
    "otlp": "OTLP `POST /v1/logs`",
}
# Requests per door in the mix: single-event envelopes are what SDKs send most often.
WEIGHTS = {"native": 1, "sentry": 3, "otlp": 1}
TEMPLATES_PER_DOOR = 6
# Progress counters per door in a shared array: requests, errors acked, 5xx, 429, other failures.
N_COUNTERS = 5


# --- request bodies ----------------------------------------------------------------------------
class Template:
    """A body serialised once, with markers that each request fills in.

    Rendering is a join of bytes plus a few uuid4s, so the clients stay light on two shared
    cores: @ID@ is a fresh UUID (an error_id), @EID@ a fresh 32-hex Sentry event id, @TRACE@ /
    @SPAN@ fresh OTLP trace / span ids, @TS@ / @NS@ the send time (ISO 8601 / Unix ns).
    """

    _MARKER = re.compile(rb"@(ID|EID|TRACE|SPAN|TS|NS)@")

    def __init__(self, raw: bytes, errors: int) -> None:
        self.parts = self._MARKER.split(raw)
        self.errors = errors  # errors the server should store from one body

    def render(self) -> tuple[bytes, list[str]]:
        now = time.time()
        iso = datetime.fromtimestamp(now, UTC).isoformat().encode()
        nanos = str(int(now * 1e9)).encode()
        out: list[bytes] = []
        ids: list[str] = []
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                out.append(part)
            elif part == b"ID":
                ids.append(str(uuid.uuid4()))
                out.append(ids[-1].encode())
            elif part == b"EID":
                ids.append(uuid.uuid4().hex)
                out.append(ids[-1].encode())
            elif part == b"TRACE":
                out.append(uuid.uuid4().hex.encode())
            elif part == b"SPAN":
                out.append(uuid.uuid4().hex[:16].encode())
            elif part == b"TS":
                out.append(iso)
            else:
                out.append(nanos)
        return b"".join(out), ids


def native_template(rng: random.Random, batch: int) -> Template:
    items = []
    for _ in range(batch):
        item = make_item(rng, datetime.now(UTC))
        item.update(error_id="@ID@", occurred_at="@TS@", tags={**item["tags"], "door": "native"})
        items.append(item)
    return Template(orjson.dumps(items), errors=batch)


def sentry_template(rng: random.Random) -> Template:
    item = make_item(rng, datetime.now(UTC))
    event = {
        "event_id": "@EID@",
        "level": item["severity"],
        "platform": "java",
        "timestamp": "@TS@",
        "server_name": item["host"],
        "environment": "production",
        "release": "shop@4.2.0",
        "exception": {
            "values": [
                {
                    "type": item["error_type"],
                    "value": item["message"],
                    "stacktrace": {"frames": item["stacktrace"]},
                }
            ]
        },
        "tags": {**item["tags"], "door": "sentry"},
        "request": {"url": f"https://shop.example{item['endpoint']}", "method": "POST"},
        "user": {"id": item["user_id"]},
    }
    return Template(orjson.dumps(event), errors=1)


def _attr(key: str, value: object) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def otlp_template(rng: random.Random, batch: int) -> Template:
    """An ExportLogsServiceRequest of ``batch`` records; one in five is INFO, which the server
    drops, so only the others count as errors."""
    records, errors = [], 0
    for index in range(batch):
        item = make_item(rng, datetime.now(UTC))
        is_error = index % 5 != 4
        errors += is_error
        stack = "\n".join(
            f'  File "{f["filename"]}", line {f["lineno"]}, in {f["function"]}'
            for f in item["stacktrace"]
        )
        attributes = [_attr("http.route", item["endpoint"]), _attr("door", "otlp")]
        if is_error:
            attributes += [
                _attr("exception.type", item["error_type"]),
                _attr("exception.message", item["message"]),
                _attr("exception.stacktrace", f"Traceback (most recent call last):\n{stack}"),
                _attr("http.response.status_code", item["status_code"]),
            ]
        records.append(
            {
                "timeUnixNano": "@NS@",
                "severityNumber": 17 if is_error else 9,
                "severityText": "ERROR" if is_error else "INFO",
                "body": {"stringValue": item["message"]},
                "attributes": attributes,
                "traceId": "@TRACE@",
                "spanId": "@SPAN@",
            }
        )
    resource = [
        _attr("service.name", SERVICE["otlp"]),
        _attr("service.version", "shop-web@4.2.0"),
        _attr("host.name", f"web-{rng.randint(1, 8)}"),
        _attr("deployment.environment.name", "production"),
    ]
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [{"scope": {"name": "loadtest"}, "logRecords": records}],
            }
        ]
    }
    return Template(orjson.dumps(body), errors=errors)


# --- clients -----------------------------------------------------------------------------------
@dataclass
class DoorStats:
    """What one client process saw on one door."""

    requests: int = 0
    acked: int = 0
    duplicates: int = 0
    bad_acks: int = 0  # a 2xx whose body does not acknowledge what was sent
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {**self.__dict__, "statuses": dict(self.statuses)}

    @classmethod
    def from_dict(cls, data: dict) -> DoorStats:
        return cls(**{**data, "statuses": Counter(data["statuses"])})

    def merge(self, other: DoorStats) -> None:
        self.requests += other.requests
        self.acked += other.acked
        self.duplicates += other.duplicates
        self.bad_acks += other.bad_acks
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)


@dataclass
class ClientPlan:
    """Everything a client process needs; picklable for the spawn start method."""

    index: int
    threads: int
    keys: dict[str, str]
    native_batch: int
    otlp_batch: int
    seed: int


def _acked(door: str, status: int, body: bytes, ids: list[str], errors: int) -> tuple:
    """(errors acknowledged, duplicates, ack is well-formed) for one answered request."""
    if door == "native":
        if status != 201:
            return 0, 0, True
        answer = orjson.loads(body)
        accepted, duplicates = answer.get("accepted", 0), answer.get("duplicates", 0)
        return accepted, duplicates, accepted + duplicates == errors
    if status != 200:
        return 0, 0, True
    if door == "sentry":
        ok = orjson.loads(body) == {"id": ids[0]}
        return (1 if ok else 0), 0, ok
    ok = not orjson.loads(body).get("partialSuccess", {}).get("rejectedLogRecords")
    return (errors if ok else 0), 0, ok


class Poster:
    """One client's connection (keep-alive; http.client re-opens it when the server closes
    it): renders a body, posts it, records the answer in the door's DoorStats."""

    def __init__(self, keys: dict[str, str], port: int) -> None:
        import http.client

        self._errors = (OSError, http.client.HTTPException)
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.headers = {
            "native": {"Content-Type": "application/json", "X-Ingest-Key": keys["native"]},
            "sentry": {
                "Content-Type": "application/x-sentry-envelope",
                "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={keys['sentry']}, "
                "sentry_client=loadtest/1.0",
            },
            "otlp": {"Content-Type": "application/json", "Authorization": f"Bearer {keys['otlp']}"},
        }
        self.paths = {
            "native": "/api/errors/",
            "sentry": f"/api/{PROJECT_ID['sentry']}/envelope/",
            "otlp": "/v1/logs",
        }

    def post(self, door: str, template: Template, seen: DoorStats) -> tuple[int | str, int]:
        """(HTTP status or a connection error's name, errors acknowledged)."""
        body, ids = template.render()
        if door == "sentry":
            header = b'{"event_id":"%s"}\n{"type":"event","length":%d}\n' % (
                ids[0].encode(),
                len(body),
            )
            body = header + body
        started = time.perf_counter()
        try:
            self.conn.request("POST", self.paths[door], body=body, headers=self.headers[door])
            response = self.conn.getresponse()
            answer = response.read()
            status: int | str = response.status
        except self._errors as exc:
            self.conn.close()
            status, answer = f"connection error ({type(exc).__name__})", b""
        seen.latencies.append(time.perf_counter() - started)
        seen.requests += 1
        seen.statuses[status] += 1
        acked = 0
        if isinstance(status, int):
            acked, duplicates, well_formed = _acked(door, status, answer, ids, template.errors)
            seen.acked += acked
            seen.duplicates += duplicates
            seen.bad_acks += not well_formed
        return status, acked

    def close(self) -> None:
        self.conn.close()


def client_thread(
    plan: ClientPlan,
    port: int,
    thread_index: int,
    templates: dict[str, list[Template]],
    end_at: float,
    counters,
    stats: dict[str, DoorStats],
) -> None:
    """One client posting until ``end_at`` (time.monotonic, shared by all processes on Linux),
    one request at a time, the door picked at random by WEIGHTS."""
    rng = random.Random(plan.seed * 1000 + thread_index)
    doors = [d for d in DOORS for _ in range(WEIGHTS[d])]
    poster = Poster(plan.keys, port)
    while time.monotonic() < end_at:
        door = rng.choice(doors)
        status, acked = poster.post(door, rng.choice(templates[door]), stats[door])
        base = DOORS.index(door) * N_COUNTERS
        with counters.get_lock():
            counters[base] += 1
            counters[base + 1] += acked
            if isinstance(status, int) and status >= 500:
                counters[base + 2] += 1
            elif status == 429:
                counters[base + 3] += 1
            elif not isinstance(status, int) or status >= 300:
                counters[base + 4] += 1
    poster.close()


def warm_up(keys: dict[str, str], port: int, seed: int) -> dict[str, DoorStats]:
    """Two concurrent requests per door before the clock starts, so each worker has served
    every door once: a worker's first request imports the URLconf and views (~1-2 s on a busy
    machine), which is start-up, not throughput. Their errors count in the totals."""
    rng = random.Random(seed)
    templates = {
        "native": native_template(rng, 10),
        "sentry": sentry_template(rng),
        "otlp": otlp_template(rng, 10),
    }
    per_client = [{door: DoorStats() for door in DOORS} for _ in range(2)]

    def client(stats: dict[str, DoorStats]) -> None:
        poster = Poster(keys, port)
        for door in DOORS:
            poster.post(door, templates[door], stats[door])
        poster.close()

    threads = [threading.Thread(target=client, args=(stats,)) for stats in per_client]
    return run_threads(threads, per_client)


def run_threads(
    threads: list[threading.Thread], per_thread: list[dict[str, DoorStats]]
) -> dict[str, DoorStats]:
    """Start the client threads, wait for them, and sum what each counted per door."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = {door: DoorStats() for door in DOORS}
    for stats in per_thread:
        for door in DOORS:
            merged[door].merge(stats[door])
    return merged


def client_process(plan: ClientPlan, ready, go, port, end_at, counters, results) -> None:
    """Builds its bodies, waits for the start signal (the server's port is known by then), runs
    its client threads, reports."""
    rng = random.Random(plan.seed)
    templates = {
        "native": [native_template(rng, plan.native_batch) for _ in range(TEMPLATES_PER_DOOR)],
        "sentry": [sentry_template(rng) for _ in range(TEMPLATES_PER_DOOR)],
        "otlp": [otlp_template(rng, plan.otlp_batch) for _ in range(TEMPLATES_PER_DOOR)],
    }
    ready.release()
    go.wait()
    cpu_at_start = time.process_time()
    per_thread = [{door: DoorStats() for door in DOORS} for _ in range(plan.threads)]
    threads = [
        threading.Thread(
            target=client_thread,
            args=(plan, port.value, i, templates, end_at.value, counters, per_thread[i]),
            daemon=True,
        )
        for i in range(plan.threads)
    ]
    merged = run_threads(threads, per_thread)
    # plain dicts: a class pickled in a spawned child is named after __mp_main__, which the
    # parent does not know
    cpu = time.process_time() - cpu_at_start
    results.put((plan.index, {d: s.as_dict() for d, s in merged.items()}, cpu))


# --- databases and server -------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    pg_url: str  # postgres://user:pw@host:port, no database
    redis_url: str
    broker_url: str
    default_db: str
    ml_db: str


def database_names(prefix: str, suffix: str) -> tuple[str, str]:
    tail = f"_{suffix}" if suffix else ""
    return f"{prefix}{tail}", f"{prefix}_ml{tail}"


def server_env(setup: Setup, cache_prefix: str, rate_limit: int) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"{setup.pg_url}/{setup.default_db}",
        "ML_DATABASE_URL": f"{setup.pg_url}/{setup.ml_db}",
        "REDIS_URL": setup.redis_url,
        "CELERY_BROKER_URL": setup.broker_url,
        "CELERY_RESULT_BACKEND": setup.redis_url,
        "CACHE_KEY_PREFIX": cache_prefix,
        # the run measures throughput, not the per-key limit; a 429 is still counted apart
        "ML_INGEST_RATE_LIMIT_PER_MINUTE": str(rate_limit),
        "FH_TEST_DB_SUFFIX": "",
        "DEBUG": "false",
    }


def prepare_databases(env: dict) -> dict[str, str]:
    """Migrate both databases and create one ingest key per door (its own service and project
    id), in a single Django start-up: start-ups are most of the short run's set-up time."""
    code = (
        "import json\n"
        "from django.core.management import call_command\n"
        "from error_logging.models import IngestKey\n"
        "call_command('migrate', verbosity=0, interactive=False)\n"
        "call_command('migrate', database='ml_prediction', verbosity=0, interactive=False)\n"
        f"plan = {json.dumps({d: [SERVICE[d], PROJECT_ID[d]] for d in DOORS})}\n"
        "print(json.dumps({door: IngestKey.objects.create(service=s, project_id=p,"
        " name='loadtest').public_key for door, (s, p) in plan.items()}))\n"
    )
    out = sh([sys.executable, "manage.py", "shell", "-c", code], env)
    return json.loads(out.strip().splitlines()[-1])


def server_shape() -> str:
    """The worker class and threads the shipped gunicorn.conf.py gives under this environment
    (start_gunicorn fixes the worker count at 2)."""
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return f"2 {config['worker_class']} workers × {config['threads']} threads"


def server_cache(setup: Setup, prefix: str):
    from django.core.cache.backends.redis import RedisCache

    return RedisCache(setup.redis_url, {"KEY_PREFIX": prefix})


def hold_analysis_requests(setup: Setup, prefix: str, seconds: int) -> None:
    """Take every service's debounce window in the server's cache namespace: a load test must
    not enqueue analyses onto a broker that another run's worker may be consuming."""
    from error_logging.analysis_trigger import debounce_key
    from ml_prediction.engines.catalog import SERVICES

    cache = server_cache(setup, prefix)
    for service in SERVICES:
        cache.set(debounce_key(service), 1, timeout=seconds)


def forget_cache_namespace(setup: Setup, prefix: str) -> None:
    client = server_cache(setup, prefix)._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


def stored_counts(setup: Setup) -> dict[str, dict[str, int]]:
    conn = psycopg2.connect(f"{setup.pg_url}/{setup.default_db}")
    counts: dict[str, dict[str, int]] = {door: {} for door in DOORS}
    door_of = {service: door for door, service in SERVICE.items()}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT service, count(*), count(DISTINCT error_id),"
            " count(DISTINCT context->'otel'->>'trace_id') FROM error_logs GROUP BY service"
        )
        for service, rows, distinct_ids, traces in cur.fetchall():
            counts[door_of[service]].update(rows=rows, distinct_ids=distinct_ids, traces=traces)
        cur.execute("SELECT service, COALESCE(SUM(total_count), 0) FROM error_rollups GROUP BY 1")
        for service, total in cur.fetchall():
            counts[door_of[service]]["rollups"] = int(total)
    conn.close()
    return counts


def server_versions(setup: Setup) -> str:
    conn = psycopg2.connect(f"{setup.pg_url}/postgres")
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0].split()[0]
    conn.close()
    client = server_cache(setup, "probe")._cache.get_client()
    redis = client.info("server").get("redis_version", "?")
    return f"PostgreSQL {pg}, Redis {redis}"


def cpu_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot (/proc/stat; idle+iowait = idle)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# --- the run ---------------------------------------------------------------------------------------
class ClientPool:
    """The client processes. They start, and build their bodies, while gunicorn boots; threads
    in a few processes, because one Python process cannot drive 50 clients and measure them
    fairly on two busy cores."""

    def __init__(self, keys: dict[str, str], args: argparse.Namespace) -> None:
        context = multiprocessing.get_context("spawn")
        count = args.processes or max(1, min(4, math.ceil(args.clients / 12)))
        count = min(count, args.clients)
        self.args, self.keys = args, keys
        self.counters = context.Array("q", len(DOORS) * N_COUNTERS)
        self.port, self.end_at = context.Value("i", 0), context.Value("d", 0.0)
        self.ready, self.go, self.results = context.Semaphore(0), context.Event(), context.Queue()
        plans = [
            ClientPlan(
                index=i,
                threads=args.clients // count + (1 if i < args.clients % count else 0),
                keys=keys,
                native_batch=args.native_batch,
                otlp_batch=args.otlp_batch,
                seed=args.seed + i,
            )
            for i in range(count)
        ]
        shared = (self.ready, self.go, self.port, self.end_at, self.counters, self.results)
        self.processes = [context.Process(target=client_process, args=(p, *shared)) for p in plans]
        for process in self.processes:
            process.start()

    def stop(self) -> None:
        """Ends client processes still running (a failed start or run); they are ours alone."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)

    def _progress(self, elapsed: float, load: float) -> None:
        with self.counters.get_lock():
            values = list(self.counters)
        requests, acked = sum(values[0::N_COUNTERS]), sum(values[1::N_COUNTERS])
        print(
            f"[loadtest] {elapsed:5.0f} s  {requests:8,} requests  {acked:9,} errors acked"
            f" ({acked / elapsed:,.0f}/s)  5xx {sum(values[2::N_COUNTERS])}"
            f"  429 {sum(values[3::N_COUNTERS])}  other {sum(values[4::N_COUNTERS])}"
            f"  load {load:.1f}",
            file=sys.stderr,
            flush=True,
        )

    def run(self, port: int, server_pid: int) -> dict:
        """Start every client at once, report progress, collect what each process saw."""
        for _ in self.processes:
            if not self.ready.acquire(timeout=120):
                raise RuntimeError("a client process did not get ready")
        warm = warm_up(self.keys, port, self.args.seed)
        cpu_before = workers_cpu_seconds(server_pid)
        ticks_before = cpu_busy_ticks()
        loads = [os.getloadavg()[0]]
        self.port.value = port
        started = time.monotonic()
        self.end_at.value = started + self.args.seconds
        self.go.set()
        interval = 5.0 if self.args.seconds >= 30 else 2.0
        collected: dict[int, tuple] = {}
        next_report = started + interval
        while len(collected) < len(self.processes):
            try:
                index, stats, cpu = self.results.get(timeout=0.5)
                collected[index] = (stats, cpu)
            except queue.Empty:
                pass
            now = time.monotonic()
            if now >= next_report:
                next_report += interval
                loads.append(os.getloadavg()[0])
                self._progress(now - started, loads[-1])
            if now > self.end_at.value + 180:
                raise RuntimeError("client processes did not finish within 180 s of the end")
        elapsed = time.monotonic() - started
        server_cpu = workers_cpu_seconds(server_pid) - cpu_before
        ticks_after = cpu_busy_ticks()
        loads.append(os.getloadavg()[0])
        for process in self.processes:
            process.join(timeout=30)

        stats = {door: DoorStats() for door in DOORS}
        client_cpu = 0.0
        for per_door, cpu in collected.values():
            client_cpu += cpu
            for door in DOORS:
                stats[door].merge(DoorStats.from_dict(per_door[door]))
        busy = (ticks_after[0] - ticks_before[0]) / max(1, ticks_after[1] - ticks_before[1])
        return {
            "stats": stats,
            "warm_up": warm,
            "elapsed": elapsed,
            "processes": len(self.processes),
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "machine_busy": busy,
            "load_mean": sum(loads) / len(loads),
            "load_max": max(loads),
        }


def summarise(run: dict, counts: dict[str, dict[str, int]]) -> dict:
    """Per-door figures and the invariants, as plain JSON-able data."""
    doors = {}
    for door in DOORS:
        timed: DoorStats = run["stats"][door]
        warm: DoorStats = run["warm_up"][door]
        both = DoorStats()
        both.merge(timed)
        both.merge(warm)
        stored = counts[door]
        answered = {k: v for k, v in both.statuses.items() if isinstance(k, int)}
        doors[door] = {
            # the timed run
            "requests": timed.requests,
            "acked": timed.acked,
            "p50_ms": 1000 * percentile(timed.latencies, 0.50) if timed.latencies else None,
            "p99_ms": 1000 * percentile(timed.latencies, 0.99) if timed.latencies else None,
            "statuses": {str(k): v for k, v in sorted(timed.statuses.items(), key=str)},
            # the warm-up, whose errors are stored too
            "warm_up_requests": warm.requests,
            "warm_up_acked": warm.acked,
            # both, compared with what the database holds
            "acked_total": both.acked,
            "rows": stored.get("rows", 0),
            "distinct_ids": stored.get("distinct_ids", 0),
            "distinct_traces": stored.get("traces", 0),
            "rollups": stored.get("rollups", 0),
            "duplicates": both.duplicates,
            "bad_acks": both.bad_acks,
            "status_5xx": sum(v for k, v in answered.items() if k >= 500),
            "status_429": answered.get(429, 0),
            "unexpected_4xx": sum(v for k, v in answered.items() if 400 <= k < 500 and k != 429),
            "unanswered": both.requests - sum(answered.values()),
        }
    total = {
        key: sum(d[key] for d in doors.values())
        for key in (
            "requests",
            "acked",
            "acked_total",
            "rows",
            "rollups",
            "status_5xx",
            "status_429",
        )
    }
    checks = {
        "every door was exercised (requests and acknowledged errors > 0)": all(
            d["requests"] > 0 and d["acked"] > 0 for d in doors.values()
        ),
        "errors acknowledged == ErrorLog rows == rollup totals, per door": all(
            d["acked_total"] == d["rows"] == d["rollups"] for d in doors.values()
        ),
        "zero 5xx": total["status_5xx"] == 0,
        "every request answered (no connection error or timeout)": all(
            d["unanswered"] == 0 for d in doors.values()
        ),
        "no 4xx other than 429; every 2xx acknowledges what was sent": all(
            d["unexpected_4xx"] == 0 and d["bad_acks"] == 0 for d in doors.values()
        ),
        "ids unique: no duplicates reported, one row per error_id / OTLP trace id": all(
            d["duplicates"] == 0 and d["distinct_ids"] == d["rows"] for d in doors.values()
        )
        and doors["otlp"]["distinct_traces"] == doors["otlp"]["rows"],
    }
    return {
        "doors": doors,
        "total": total,
        "checks": checks,
        "ok": all(checks.values()),
        "elapsed_s": run["elapsed"],
        "server": server_shape(),
        "client_processes": run["processes"],
        "server_cpu_s": run["server_cpu"],
        "client_cpu_s": run["client_cpu"],
        "machine_busy": run["machine_busy"],
        "load_mean": run["load_mean"],
        "load_max": run["load_max"],
    }


def markdown(summary: dict, args: argparse.Namespace) -> str:
    elapsed = summary["elapsed_s"]
    core_seconds = elapsed * (os.cpu_count() or 1)
    ms = lambda v: "—" if v is None else f"{v:,.1f} ms"  # noqa: E731
    lines = [
        "| endpoint | requests | req/s | errors acked (+ warm-up) | errors/s | ErrorLog rows"
        " | rollup total | p50 | p99 | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for door in DOORS:
        d = summary["doors"][door]
        statuses = ", ".join(f"{k}: {v:,}" for k, v in d["statuses"].items())
        lines.append(
            f"| {LABEL[door]} | {d['requests']:,} | {d['requests'] / elapsed:,.1f}"
            f" | {d['acked']:,} (+ {d['warm_up_acked']:,}) | {d['acked'] / elapsed:,.0f}"
            f" | {d['rows']:,} | {d['rollups']:,} | {ms(d['p50_ms'])} | {ms(d['p99_ms'])}"
            f" | {statuses} |"
        )
    t = summary["total"]
    lines.append(
        f"| **all** | {t['requests']:,} | {t['requests'] / elapsed:,.1f}"
        f" | **{t['acked']:,}** (+ {t['acked_total'] - t['acked']:,})"
        f" | **{t['acked'] / elapsed:,.0f}** | {t['rows']:,} | {t['rollups']:,} | | |"
        f" 5xx: {t['status_5xx']}, 429: {t['status_429']} |"
    )
    lines += ["", "| invariant | holds |", "|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**NO**'} |" for name, ok in summary["checks"].items()]
    lines += [
        "",
        f"{args.clients} clients in {summary['client_processes']} processes for"
        f" {elapsed:.1f} s (the last requests finish after the {args.seconds} s mark); native"
        f" batches of {args.native_batch} errors, Sentry envelopes of 1 event, OTLP batches of"
        f" {args.otlp_batch} records ({args.otlp_batch - args.otlp_batch // 5} at ERROR, the rest"
        " INFO, which the server drops); request mix native : Sentry : OTLP ="
        f" {WEIGHTS['native']} : {WEIGHTS['sentry']} : {WEIGHTS['otlp']}. Before the clock, a"
        " warm-up of 2 requests per door (small batches) lets each worker import its views; its"
        " errors are stored, so rows = acked + warm-up.",
        f"Server: the shipped gunicorn.conf.py, {summary['server']}.",
        f"CPU over the run: gunicorn workers {summary['server_cpu_s']:.0f} s"
        f" ({summary['server_cpu_s'] / core_seconds:.0%} of the machine), load clients"
        f" {summary['client_cpu_s']:.0f} s ({summary['client_cpu_s'] / core_seconds:.0%}), the"
        f" whole machine {summary['machine_busy']:.0%} busy (PostgreSQL, Redis and other jobs"
        f" are the rest); 1-minute load average mean {summary['load_mean']:.1f}, max"
        f" {summary['load_max']:.1f} on {os.cpu_count()} cores.",
    ]
    return "\n".join(lines)


NOTES = """
## Reading the figures

- The server is the shipped `gunicorn.conf.py` with 2 workers (see the line under the table
  for its worker class and threads). Only workers × threads requests are processed at a time;
  the other clients wait, so at 50 clients the latencies are mostly that queue. They say how
  long a client waits at this concurrency, not how long a request takes to process
  (docs/benchmarks/ingest.md has those figures at low concurrency).
- The load generator, gunicorn, PostgreSQL and Redis share the same cores with other jobs, so
  the throughput here is a floor; the invariants are the point: under concurrent rollup upserts
  from both workers every acknowledged error is stored exactly once and counted exactly once.
- A 429 (per-key rate limit) is not an acknowledgement; the run raises
  `ML_INGEST_RATE_LIMIT_PER_MINUTE` so that it measures throughput, and any 429 is reported.
"""


def write_doc(table: str, args: argparse.Namespace, versions: str, summary: dict) -> Path:
    doc = ROOT / "docs" / "benchmarks" / "loadtest.md"
    doc.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join([".venv/bin/python benchmarks/loadtest.py", *args.argv])
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    machine = (
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()} {platform.release()}),"
        f" {mem_kb / 2**20:.0f} GiB RAM,"
        f" Python {platform.python_version()}, {versions}, all on 127.0.0.1"
    )
    verdict = "all invariants hold" if summary["ok"] else "**an invariant failed**"
    doc.write_text(
        "# Load test\n\n"
        f"Command: `{command}` (`make loadtest`).\n"
        f"Machine: {machine}; shared with other engineers' jobs.\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {verdict}.\n\n{table}\n" + NOTES
    )
    return doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--seconds", type=int, default=60, help="how long the clients post")
    parser.add_argument("--processes", type=int, default=0, help="client processes (0: auto)")
    parser.add_argument("--native-batch", type=int, default=100, help="errors per native request")
    parser.add_argument("--otlp-batch", type=int, default=50, help="log records per OTLP request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        help="the server's cache / rate-limit Redis (default: $REDIS_URL)",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        help="the server's Celery broker (default: $CELERY_BROKER_URL); nothing is enqueued",
    )
    parser.add_argument("--db-prefix", default="fh_loadtest", help="names of its own databases")
    parser.add_argument(
        "--db-suffix",
        default=os.environ.get("FH_TEST_DB_SUFFIX", ""),
        help="appended to the database names (default: $FH_TEST_DB_SUFFIX)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=1_000_000_000,
        help="the server's ML_INGEST_RATE_LIMIT_PER_MINUTE (items per key per minute)",
    )
    parser.add_argument("--keep-databases", action="store_true", help="do not drop them after")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks/loadtest.md")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.clients < 1 or args.seconds < 1:
        parser.error("--clients and --seconds must be at least 1")
    if not re.fullmatch(r"[a-z0-9_]+", args.db_prefix + args.db_suffix):
        parser.error("database prefix and suffix may only hold a-z, 0-9 and _")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    default_db, ml_db = database_names(args.db_prefix, args.db_suffix)
    setup = Setup(args.pg_url.rstrip("/"), args.redis_url, args.broker_url, default_db, ml_db)
    prefix = f"fh-loadtest-{uuid.uuid4().hex[:12]}"
    env = server_env(setup, prefix, args.rate_limit)
    began = time.monotonic()

    def say(text: str) -> None:
        print(f"[loadtest] {time.monotonic() - began:5.1f} s: {text}", file=sys.stderr, flush=True)

    say(f"databases {default_db}, {ml_db}: creating and migrating…")
    provision_databases(setup.pg_url, (setup.default_db, setup.ml_db))
    try:
        keys = prepare_databases(env)
        hold_analysis_requests(setup, prefix, args.seconds + 600)
        clients = ClientPool(keys, args)
        try:
            process, host, port = start_gunicorn(env)
            try:
                if host != HOST:
                    raise RuntimeError(f"gunicorn listens on {host}, not {HOST}")
                say(f"gunicorn on {host}:{port}; {args.clients} clients for {args.seconds} s…")
                run = clients.run(port, process.pid)
            finally:
                process.terminate()
                process.wait(timeout=60)
        finally:
            clients.stop()
        say("counting what was stored…")
        counts = stored_counts(setup)
        versions = server_versions(setup)
    finally:
        forget_cache_namespace(setup, prefix)
        if not args.keep_databases:
            provision_databases(setup.pg_url, (setup.default_db, setup.ml_db), mode="drop")

    summary = summarise(run, counts)
    table = markdown(summary, args)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.write:
        say(f"wrote {write_doc(table, args, versions, summary).relative_to(ROOT)}")
    failed = [name for name, ok in summary["checks"].items() if not ok]
    if failed:
        say("FAILED: " + "; ".join(failed))
        return 1
    say("all invariants hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
