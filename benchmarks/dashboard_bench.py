"""How long the dashboard takes to render: the full page, the live-refresh partial and, as the
baseline in the same run, the API's dashboard summary (the smallest read the page makes), each
through Django's test client in process.

The data is the quick start's: the benchmark keeps a demo of its own (embedded SQLite, 30 days ×
7 services) in ``--var-dir`` (default ``var/bench-dashboard``) and sets it up with ``manage.py demo
--no-serve`` when it is missing or older than 6 hours (2–5 minutes; later runs reuse it). The
databases the environment names are ignored: ``make bench`` names the development PostgreSQL
databases, which may hold anything or not exist. ``--use-environment`` measures the database the environment
names instead (it needs a superuser; ``manage.py demo --no-serve`` makes one).

    .venv/bin/python benchmarks/dashboard_bench.py [--requests 20] [--var-dir DIR | --use-environment]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")

from feeding_hearts.config import SERVICE_VARIABLES

ROOT = Path(__file__).resolve().parents[1]

# A demo seeded longer ago than this is made again: without its server the demo does not top up
# its traffic, and the page charts the last 3 days, so an old demo would be measured half empty.
STALE_AFTER = timedelta(hours=6)


def _seeded_until(var_dir: Path) -> datetime | None:
    try:
        state = json.loads((var_dir / "demo" / "state.json").read_text())
        return datetime.fromisoformat(state["seeded_until"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def use_own_demo(var_dir: Path) -> None:
    """Point this process at the benchmark's own demo in ``var_dir``, setting it up if needed.

    ``manage.py demo --no-serve`` reuses what is already there, so a second run costs seconds;
    a demo seeded more than STALE_AFTER ago is reset first.
    """
    for name in SERVICE_VARIABLES:
        os.environ.pop(name, None)
    os.environ["FH_VAR_DIR"] = str(var_dir.resolve())
    command = [sys.executable, "manage.py", "demo", "--no-serve"]
    seeded_until = _seeded_until(var_dir)
    if seeded_until is not None and datetime.now(UTC) - seeded_until > STALE_AFTER:
        print(f"the demo in {var_dir} ends at {seeded_until:%Y-%m-%d %H:%M} UTC: making it again")
        command.append("--reset")
    print(f"demo data in {var_dir} (set up by `{' '.join(command[1:])}` when missing)…", flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def _time(client, path: str, requests: int) -> list[float]:
    client.get(path)  # warm up: template loading, first queries
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def main() -> None:
    import django

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--var-dir",
        type=Path,
        default=ROOT / "var" / "bench-dashboard",
        help="the benchmark's own demo (embedded SQLite; set up when missing)",
    )
    where.add_argument(
        "--use-environment",
        action="store_true",
        help="measure the database DATABASE_URL etc. (or FH_VAR_DIR) name instead",
    )
    args = parser.parse_args()
    if not args.use_environment:
        use_own_demo(args.var_dir)
    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import RefreshToken

    from error_logging.models import ErrorRollup
    from ml_prediction.models import AnomalyDetection, ErrorPrediction

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.ML_PREDICTION_CONFIG["PREDICTION_CACHE_TTL"] = 0  # measure the reads, not the cache
    user = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    if user is None:
        sys.exit(
            "no superuser in the database the environment names: run `manage.py demo --no-serve` "
            "with the same environment first, or leave out --use-environment"
        )
    page = Client()
    page.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")

    rows = [
        ("API summary (baseline)", api, "/api/ml/dashboard/summary/"),
        ("dashboard page", page, "/dashboard/"),
        ("live panels partial", page, "/dashboard/panels/"),
    ]
    print(
        f"Data: {ErrorRollup.objects.count()} rollup rows, "
        f"{AnomalyDetection.objects.count()} anomaly rows, "
        f"{ErrorPrediction.objects.count()} predictions; "
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; "
        f"{args.requests} requests each\n"
    )
    print("| request | median ms | p95 ms | queries (default + ml) | × baseline |")
    print("|---|---|---|---|---|")
    baseline = None
    for name, client, path in rows:
        samples = _time(client, path, args.requests)
        with (
            CaptureQueriesContext(connections["default"]) as default_q,
            CaptureQueriesContext(connections["ml_prediction"]) as ml_q,
        ):
            client.get(path)
        median = statistics.median(samples)
        p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
        baseline = baseline or median
        print(
            f"| {name} (`{path}`) | {median:.1f} | {p95:.1f} | "
            f"{len(default_q.captured_queries)} + {len(ml_q.captured_queries)} | "
            f"{median / baseline:.1f} |"
        )


if __name__ == "__main__":
    main()
