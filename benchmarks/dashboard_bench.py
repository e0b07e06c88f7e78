"""How long the dashboard takes to render, against whatever database the environment names.

Run it after ``make demo`` (embedded SQLite under var/, or FH_VAR_DIR) or with DATABASE_URL etc.
set. Times the full page, the live-refresh partial and, as the baseline in the same run, the API's
dashboard summary (the smallest read the page makes), each through Django's test client in process.

    .venv/bin/python benchmarks/dashboard_bench.py [--requests 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")


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

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
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
        sys.exit("no superuser: run `make demo --no-serve` (or manage.py demo --no-serve) first")
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
