"""Read-API benchmark: 1,000,000 rows in error_predictions and anomaly_detections.

Runs the production server (gunicorn.conf.py: 2 sync workers) on a dedicated pair of
PostgreSQL databases (``fh_bench_api`` / ``fh_bench_api_ml``, bulk-loaded with COPY once and
reused while the row counts match), and drives it with ``wrk`` (16 connections) from a separate
process; without ``wrk`` a small threaded Python load generator runs in a child process.

    .venv/bin/python benchmarks/api_bench.py               # full run (load once: ~2-3 min)
    .venv/bin/python benchmarks/api_bench.py --rows 100000 --seconds 5   # quick look

Prints a markdown table: requests/s, p50/p95/p99 latency, non-2xx responses, and each
endpoint's p95 relative to the baseline row (a 1-row list of ``ml_models``: auth, throttling,
routing and rendering with almost no database work). List pages and the dashboard summary are
cached per URL until the next write of ML rows (the shipped default, ``ML_PREDICTION_CACHE_TTL``
60 s), so a polling client mostly gets cache hits; the same lists are measured again against a
second server with ``ML_PREDICTION_CACHE_TTL=0``, where every request queries PostgreSQL. CPU per request is measured on the gunicorn workers and on the PostgreSQL
backends serving them (from /proc): unlike latency it hardly depends on other load on the
machine; "req/s if 2 cores were ours" = 2000 / (web + PostgreSQL CPU ms), ignoring the load
generator and Redis. Environment: ``BENCH_PG_URL`` (default postgres://postgres:postgres@127.0.0.1:5432),
``BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/13).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from pgdb import provision_databases

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DB_DEFAULT = "fh_bench_api"
DB_ML = "fh_bench_api_ml"
SERVICES = ("django", "laravel", "java", "react", "angular", "vue", "flutter")
ERROR_TYPES = (
    ("DatabaseConnectionTimeout", "database"),
    ("GatewayTimeout", "timeout"),
    ("ConnectionResetError", "connection"),
    ("OutOfMemoryError", "memory"),
)
HORIZONS = (30, 120, 1440)
METRICS = (
    "error_count",
    "response_time_p95",
    "db_pool_in_use",
    "cpu_percent",
    "memory_percent",
    "rt_mean",
)
LEVELS = ("low", "medium", "high", "critical")
BUCKET = timedelta(minutes=5)
USER, PASSWORD = "bench-ops", "bench-pass-123"

# The columns the loader writes, in the order its rows give them; tests/unit/test_api_bench_columns.py
# checks they name every NOT NULL column, so a migration cannot break the load unnoticed again.
MODEL_CONSTANTS = {
    "framework": "",
    "version": 1,
    "status": "active",
    "config": "{}",
    "accuracy": 0.85,
    "precision": 0.82,
    "recall": 0.88,
    "f1_score": 0.85,
    "metrics": "{}",
    "feature_names": "[]",
    "feature_importances": "{}",
    "features_count": 24,
    "training_samples_count": 5000,
    "artifact_path": "",
    "artifact_sha256": "",
    "created_by": "bench",
}
PREDICTION_COLUMNS = (
    "prediction_id",
    "model_id",
    "service",
    "predicted_error_type",
    "predicted_category",
    "predicted_severity",
    "probability",
    "confidence_level",
    "time_horizon_minutes",
    "prediction_bucket",
    "predicted_timestamp",
    "contributing_factors",
    "root_cause_hypothesis",
    "recommended_actions",
    "affected_users_count",
    "alert_triggered",
    "alert_sent_at",
    "actual_error_occurred",
    "actual_error_id",
    "actual_occurred_at",
    "actual_outcome_source",
    "created_at",
)
ANOMALY_COLUMNS = (
    "anomaly_id",
    "service",
    "metric_name",
    "window_start",
    "window_end",
    "detected_at",
    "observed_value",
    "expected_value",
    "anomaly_score",
    "is_anomaly",
    "severity_level",
    "anomaly_type",
    "detection_state",
    "detector_scores",
    "contributing_features",
    "root_cause_hypothesis",
    "root_cause_confidence",
    "recommended_action",
    "alert_triggered",
    "alert_sent_at",
    "acknowledged",
    "acknowledged_by",
    "acknowledged_at",
    "created_at",
)

ENDPOINTS = [
    ("baseline: models, 1 row", "/api/ml/models/?page_size=1"),
    ("predictions (hours=24)", "/api/ml/predictions/"),
    ("predictions ?service=django", "/api/ml/predictions/?service=django"),
    ("predictions ?high_probability_only=true", "/api/ml/predictions/?high_probability_only=true"),
    ("predictions ?hours=168&page=10", "/api/ml/predictions/?hours=168&page=10"),
    ("predictions/high_risk/", "/api/ml/predictions/high_risk/"),
    ("anomalies", "/api/ml/anomalies/"),
    (
        "anomalies ?service=laravel&is_anomaly=true",
        "/api/ml/anomalies/?service=laravel&is_anomaly=true",
    ),
    ("anomalies ?severity_level=critical", "/api/ml/anomalies/?severity_level=critical"),
    ("anomalies/unacknowledged/", "/api/ml/anomalies/unacknowledged/"),
    ("anomalies/critical/", "/api/ml/anomalies/critical/"),
    ("dashboard/summary/ (cached)", "/api/ml/dashboard/summary/"),
]
UNCACHED = [
    ("no cache: baseline: models, 1 row", "/api/ml/models/?page_size=1"),
    ("no cache: predictions (hours=24)", "/api/ml/predictions/"),
    ("no cache: predictions ?service=django", "/api/ml/predictions/?service=django"),
    ("no cache: anomalies", "/api/ml/anomalies/"),
    ("no cache: anomalies/unacknowledged/", "/api/ml/anomalies/unacknowledged/"),
    ("predictions/high_risk/ (no cache)", "/api/ml/predictions/high_risk/"),
    ("dashboard/summary/ (no cache)", "/api/ml/dashboard/summary/"),
]

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH %d %f %f %f %f %d\\n", summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), errors))
end
"""


# --- database ----------------------------------------------------------------------------------
def _connect(db: str):
    return psycopg2.connect(f"{PG_URL}/{db}")


def server_env(*, cache_ttl: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("CELERY_BROKER_URL", "ML_DB_NAME"):
        env.pop(key, None)
    env.update(
        DATABASE_URL=f"{PG_URL}/{DB_DEFAULT}",
        ML_DATABASE_URL=f"{PG_URL}/{DB_ML}",
        REDIS_URL=REDIS_URL,
        DEBUG="false",
        API_THROTTLE_USER="100000000/min",  # evaluated on every request, never limiting here
        FH_LOG_DIR=str(ROOT / "var" / "bench-logs"),
        FH_TEST_DB_SUFFIX="",
    )
    if cache_ttl is not None:
        env["ML_PREDICTION_CACHE_TTL"] = str(cache_ttl)
    return env


def _manage(*args: str) -> None:
    subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=server_env(), check=True, stdout=subprocess.DEVNULL
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _copy(cur, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    count = 0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)"
    for row in rows:
        buffer.write("\t".join(row))
        buffer.write("\n")
        count += 1
        if count % 50_000 == 0:
            buffer.seek(0)
            cur.copy_expert(sql, buffer)
            buffer = io.StringIO()
    buffer.seek(0)
    cur.copy_expert(sql, buffer)


def _prediction_rows(n: int, now: datetime, model_ids: dict[str, str], rng: random.Random):
    per_bucket = len(SERVICES) * len(ERROR_TYPES) * len(HORIZONS)
    start = now - BUCKET * (n // per_bucket + 1)
    factors = json.dumps(
        [
            {"feature": "error_rate_15m", "value": 4.2, "contribution": 0.31},
            {"feature": "db_pool_in_use", "value": 88.0, "contribution": 0.22},
            {"feature": "rt_p95", "value": 1850.0, "contribution": 0.12},
        ]
    )
    actions = json.dumps(
        [
            {"action_type": "increase_pool", "title": "Increase the DB connection pool"},
            {"action_type": "restart", "title": "Restart the slowest workers"},
        ]
    )
    made = 0
    bucket = start
    while made < n:
        for service in SERVICES:
            for error_type, category in ERROR_TYPES:
                for horizon in HORIZONS:
                    if made >= n:
                        return
                    made += 1
                    probability = min(0.999, rng.betavariate(2, 5))
                    occurred = "\\N" if bucket > now - timedelta(days=1) else rng.choice("tf")
                    yield (
                        str(uuid.uuid4()),
                        model_ids[service],
                        service,
                        error_type,
                        category,
                        rng.choice(LEVELS),
                        f"{probability:.4f}",
                        "high" if probability >= 0.75 else "medium",
                        str(horizon),
                        _iso(bucket),
                        _iso(bucket + timedelta(minutes=horizon)),
                        factors,
                        "Database connection pool exhaustion",
                        actions,
                        str(rng.randint(0, 900)),
                        "t" if probability >= 0.75 else "f",
                        _iso(bucket) if probability >= 0.75 else "\\N",
                        occurred,
                        "\\N",
                        "\\N",
                        "" if occurred == "\\N" else "data",  # resolved once the horizon ended
                        _iso(bucket + timedelta(seconds=rng.randint(0, 60))),
                    )
        bucket += BUCKET


def _anomaly_rows(n: int, now: datetime, rng: random.Random):
    per_bucket = len(SERVICES) * len(METRICS)
    start = now - BUCKET * (n // per_bucket + 1)
    features = json.dumps({"total_count": 3.1, "rt_p95": 2.4, "timeout_count": 1.7})
    detectors = json.dumps({"robust_z": 0.81, "isolation_forest": 0.74, "seasonal": 0.66})
    made = 0
    bucket = start
    while made < n:
        for service in SERVICES:
            for metric in METRICS:
                if made >= n:
                    return
                made += 1
                score = rng.random() ** 3
                is_anomaly = score >= 0.7
                severity = (
                    ("critical" if score >= 0.95 else "high" if score >= 0.85 else "medium")
                    if is_anomaly
                    else "low"
                )
                acknowledged = (
                    is_anomaly and bucket < now - timedelta(days=2) and rng.random() < 0.9
                )
                yield (
                    str(uuid.uuid4()),
                    service,
                    metric,
                    _iso(bucket),
                    _iso(bucket + BUCKET),
                    _iso(bucket + BUCKET + timedelta(seconds=20)),
                    f"{rng.uniform(0, 500):.2f}",
                    f"{rng.uniform(0, 300):.2f}",
                    f"{score:.4f}",
                    "t" if is_anomaly else "f",
                    severity,
                    "spike" if is_anomaly else "",
                    "active",
                    detectors,
                    features,
                    "Database connection pool exhaustion" if is_anomaly else "",
                    "0.7" if is_anomaly else "\\N",
                    "Increase connection pool size" if is_anomaly else "",
                    "f",
                    "\\N",
                    "t" if acknowledged else "f",
                    "ops" if acknowledged else "",
                    _iso(bucket + timedelta(hours=1)) if acknowledged else "\\N",
                    _iso(bucket + BUCKET),
                )
        bucket += BUCKET


def _model_row(
    model_id: str, service: str, model_type: str, algorithm: str, now: datetime
) -> dict[str, object]:
    """One active ml_models row, column → value."""
    return {
        "model_id": model_id,
        "model_name": f"{service}-{model_type}-v1",
        "model_type": model_type,
        "service": service,
        "model_algorithm": algorithm,
        "last_trained_at": now,
        "created_at": now,
        "updated_at": now,
        **MODEL_CONSTANTS,
    }


def load(rows: int) -> float:
    """Create, migrate and (if the counts differ) COPY-load the bench databases; seconds spent."""
    began = time.perf_counter()
    provision_databases(PG_URL, (DB_DEFAULT, DB_ML), mode="ensure")
    _manage("migrate", "--noinput")
    _manage("migrate", "--database=ml_prediction", "--noinput")
    conn = _connect(DB_ML)
    with conn.cursor() as cur:
        cur.execute("SET search_path TO ai_models, public")
        cur.execute("SELECT COUNT(*) FROM error_predictions")
        have_p = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM anomaly_detections")
        have_a = cur.fetchone()[0]
    conn.rollback()
    if have_p == rows and have_a == rows:
        print(f"[bench] reusing {rows:,} rows per table in {DB_ML}", file=sys.stderr)
        conn.close()
        return 0.0
    with conn, conn.cursor() as cur:
        cur.execute("SET search_path TO ai_models, public")
        print(f"[bench] loading {rows:,} rows per table with COPY…", file=sys.stderr)
        cur.execute(
            "TRUNCATE error_predictions, anomaly_detections, ml_models, "
            "model_performance_tracking, preventive_actions, prediction_feedback CASCADE"
        )
        now = datetime.now(UTC).replace(microsecond=0)
        rng = random.Random(42)
        model_ids = {}
        for service in SERVICES:
            for model_type, algorithm in (
                ("anomaly_detection", "isolation_forest"),
                ("error_classifier", "xgboost"),
                ("time_series_forecast", "prophet"),
                ("root_cause", "decision_tree"),
            ):
                model_id = str(uuid.uuid4())
                if model_type == "error_classifier":
                    model_ids[service] = model_id
                row = _model_row(model_id, service, model_type, algorithm, now)
                cur.execute(
                    f"INSERT INTO ml_models ({', '.join(row)}) "
                    f"VALUES ({', '.join(['%s'] * len(row))})",
                    list(row.values()),
                )
        _copy(
            cur,
            "error_predictions",
            PREDICTION_COLUMNS,
            _prediction_rows(rows, now, model_ids, rng),
        )
        _copy(
            cur,
            "anomaly_detections",
            ANOMALY_COLUMNS,
            _anomaly_rows(rows, now, rng),
        )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET search_path TO ai_models, public")
        cur.execute("VACUUM ANALYZE error_predictions")
        cur.execute("VACUUM ANALYZE anomaly_detections")
        cur.execute("VACUUM ANALYZE ml_models")
    conn.close()
    return time.perf_counter() - began


# --- server --------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*, cache_ttl: int | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = server_env(cache_ttl=cache_ttl)
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    gunicorn = str(Path(PY).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn, "feeding_hearts.wsgi", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/api/schema/", timeout=2)
            return proc, base
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up") from None
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def token(base: str) -> str:
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/auth/token/", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access"]


# --- load generation -------------------------------------------------------------------------------
def run_wrk(url: str, jwt: str, *, clients: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{clients}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-H",
                f"Authorization: Bearer {jwt}",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    requests, duration_us, p50, p95, p99, errors = line.split()[1:]
    return {
        "rps": int(requests) / (float(duration_us) / 1e6),
        "p50": float(p50) / 1000,
        "p95": float(p95) / 1000,
        "p99": float(p99) / 1000,
        "errors": int(errors),
    }


def python_load(url: str, jwt: str, clients: int, seconds: int) -> dict[str, float]:
    """Fallback load generator (runs in its own process via --python-load)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {jwt}"})
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                    ok = response.status < 300
            except Exception:
                ok = False
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {
        "rps": len(latencies) / duration,
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "errors": errors[0],
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pids(master: int) -> dict[str, list[int]]:
    """The gunicorn workers, and the PostgreSQL backends serving the bench databases."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    conn = _connect("postgres")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname IN (%s, %s) AND pid <> pg_backend_pid()",
            [DB_DEFAULT, DB_ML],
        )
        backends = [row[0] for row in cur.fetchall()]
    conn.close()
    return {"web": [int(c) for c in children], "pg": backends}


def _cpu_snapshot(master: int) -> dict[str, dict[int, float]]:
    return {
        role: {pid: _cpu_seconds(pid) for pid in pids}
        for role, pids in _server_pids(master).items()
    }


def _cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """CPU ms per request spent by the web workers and by PostgreSQL during one run.

    CPU time, unlike latency, hardly depends on what else runs on the machine, so it shows what
    the server itself costs per request.
    """
    spent = {}
    for role in ("web", "pg"):
        # A process that exited during the run (an aged-out database connection) is skipped,
        # which can only under-count; one that started during it counts in full.
        total = sum(
            max(0.0, cpu - before[role].get(pid, 0.0))
            for pid, cpu in after[role].items()
            if cpu > 0.0
        )
        spent[role] = total / max(requests, 1) * 1000
    return spent


def measure(url: str, jwt: str, *, clients: int, seconds: int, master: int) -> dict[str, float]:
    if shutil.which("wrk"):
        run_wrk(url, jwt, clients=clients, seconds=1)  # warm-up: imports, connections, caches
        before = _cpu_snapshot(master)
        got = run_wrk(url, jwt, clients=clients, seconds=seconds)
    else:
        args = [PY, __file__, "--python-load", url, jwt, str(clients)]
        subprocess.run([*args, "1"], check=True, capture_output=True)
        before = _cpu_snapshot(master)
        out = subprocess.run([*args, str(seconds)], check=True, capture_output=True, text=True)
        got = json.loads(out.stdout)
    requests = round(got["rps"] * seconds)
    cpu = _cpu_per_request(before, _cpu_snapshot(master), requests)
    got.update(web_cpu=cpu["web"], pg_cpu=cpu["pg"])
    return got


# --- main ----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--only", default="", help="measure only endpoints whose name contains this text"
    )
    parser.add_argument("--python-load", nargs=4, metavar=("URL", "JWT", "CLIENTS", "SECONDS"))
    args = parser.parse_args()
    if args.python_load:
        url, jwt, clients, seconds = args.python_load
        print(json.dumps(python_load(url, jwt, int(clients), int(seconds))))
        return

    load_seconds = load(args.rows)
    try:
        _manage("create_api_user", USER, "--role", "ops", "--password", PASSWORD, "--update")
    except subprocess.CalledProcessError:
        _manage("create_api_user", USER, "--role", "ops", "--password", PASSWORD)
    tool = "wrk" if shutil.which("wrk") else "python threads"
    load_before = os.getloadavg()[0]
    results = []
    for cache_ttl, endpoints in ((None, ENDPOINTS), (0, UNCACHED)):
        proc, base = start_server(cache_ttl=cache_ttl)
        try:
            jwt = token(base)
            for name, path in endpoints:
                if args.only not in name:
                    continue
                got = measure(
                    base + path, jwt, clients=args.clients, seconds=args.seconds, master=proc.pid
                )
                results.append((name, path, got))
                print(f"[bench] {name}: {got}", file=sys.stderr)
        finally:
            stop_server(proc)

    load_after = os.getloadavg()[0]
    baseline = results[0][2]["p95"]  # with --only, the first endpoint measured
    print(
        f"\nMachine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before and "
        f"{load_after:.1f} after the run (other processes share the CPUs)."
    )
    print(
        f"\n{args.rows:,} rows in error_predictions and in anomaly_detections; gunicorn "
        f"2 {os.environ.get('GUNICORN_WORKER_CLASS', 'sync')} workers × "
        f"{os.environ.get('GUNICORN_THREADS', '1')} thread(s); "
        f"{args.clients} concurrent clients ({tool}, separate process), "
        f"{args.seconds} s per endpoint; load took {load_seconds:.0f} s (0 = reused).\n"
    )
    print(
        "| endpoint | req/s | p50 ms | p95 ms | p99 ms | non-2xx | p95 / baseline "
        "| web CPU ms/req | PostgreSQL CPU ms/req | req/s if 2 cores were ours |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _path, got in results:
        per_request = got["web_cpu"] + got["pg_cpu"]
        ceiling = 2000 / per_request if per_request else float("nan")
        print(
            f"| {name} | {got['rps']:.0f} | {got['p50']:.1f} | {got['p95']:.1f} | "
            f"{got['p99']:.1f} | {got['errors']} | {got['p95'] / baseline:.2f} "
            f"| {got['web_cpu']:.1f} | {got['pg_cpu']:.2f} | {ceiling:.0f} |"
        )


if __name__ == "__main__":
    main()
