"""Alerting benchmark: what deciding and delivering alerts costs per analysis, on PostgreSQL.

    .venv/bin/python benchmarks/alerts_bench.py [--runs 30] [--write]

Uses its own databases (fh_bench_alerts / fh_bench_alerts_ml, recreated and migrated each run),
a local SMTP server (aiosmtpd on 127.0.0.1, free port) and a local HTTP receiver for Slack; Celery
runs in-process (no broker), so each timing includes the delivery. Scenarios, per analysis:
1. 24 predictions (8 error types × 3 horizons) firing: one digest by email and Slack;
2. the same again inside the cooldown: everything suppressed, nothing sent;
3. 3 predictions of one type firing: one alert by email and Slack;
4. a burst of 1,000 predictions of one type: one alert.
Baseline, measured in the same run: one raw Django ``EmailMultiAlternatives.send()`` of the same
rendered digest plus one raw ``requests.post`` of its Slack message. Prints a markdown table;
``--write`` also stores it in docs/benchmarks/alerts.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pgdb import provision_databases

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")
DB_DEFAULT, DB_ML = "fh_bench_alerts", "fh_bench_alerts_ml"


def start_smtp() -> tuple[int, list]:
    from aiosmtpd.smtp import SMTP

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(len(envelope.content))
            return "250 OK"

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return server.sockets[0].getsockname()[1], received


def start_receiver() -> tuple[str, list]:
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/slack", received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    smtp_port, emails = start_smtp()
    slack_url, slack_posts = start_receiver()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="feeding_hearts.settings",
        DATABASE_URL=f"{PG_URL}/{DB_DEFAULT}",
        ML_DATABASE_URL=f"{PG_URL}/{DB_ML}",
        FH_LOG_DIR=str(ROOT / "var" / "bench-logs"),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        ML_SLACK_WEBHOOK_URL=slack_url,
        ML_ALERT_EMAIL="ops@bench.local",
        LOG_LEVEL="WARNING",
    )
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # Celery in-process: timings include delivery
    sys.path.insert(0, str(ROOT))
    provision_databases(PG_URL, (DB_DEFAULT, DB_ML))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate", database="ml_prediction", verbosity=0)

    import requests
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives
    from django.utils import timezone

    from ml_prediction.models import AlertNotification, ErrorPrediction
    from ml_prediction.notifications import render_alert_email, slack_message
    from ml_prediction.services.alerts import alerts_evaluate

    factors = [
        {"feature": "db_pool_in_use", "value": 97.0, "contribution": 0.61, "description": ""},
        {"feature": "timeout_count_lag1", "value": 14.0, "contribution": 0.33, "description": ""},
        {"feature": "rt_p95", "value": 2400.0, "contribution": 0.12, "description": ""},
    ]
    bucket_counter = iter(range(10_000_000))

    def predictions(types: int, per_type: int) -> list:
        now = timezone.now().replace(second=0, microsecond=0)
        rows = []
        for t in range(types):
            for h in range(per_type):
                bucket = now - timedelta(minutes=5 * next(bucket_counter))
                rows.append(
                    ErrorPrediction(
                        service="django",
                        predicted_error_type=f"BenchError{t}",
                        predicted_category="database",
                        predicted_severity="high",
                        probability=0.8 + h / 10_000,
                        confidence_level="high",
                        time_horizon_minutes=30 * (h % 3 + 1),
                        prediction_bucket=bucket,
                        predicted_timestamp=bucket + timedelta(minutes=30),
                        contributing_factors=factors,
                        root_cause_hypothesis="Connection pool exhaustion",
                        recommended_actions=[{"title": "Increase the pool", "action_type": "x"}],
                    )
                )
        ErrorPrediction.objects.bulk_create(rows)
        return [p.prediction_id for p in rows]

    def timed(ids: list) -> float:
        started = time.perf_counter()
        alerts_evaluate(service="django", prediction_ids=ids, anomaly_ids=[], learning=False)
        return (time.perf_counter() - started) * 1000

    results: dict[str, list[float]] = {}
    sent_before = (len(emails), len(slack_posts))

    def scenario(name: str, types: int, per_type: int, *, fresh: bool, runs: int) -> None:
        times = []
        for _ in range(runs):
            if fresh:
                AlertNotification.objects.all().delete()
            times.append(timed(predictions(types, per_type)))
        results[name] = times

    scenario(
        "24 predictions, 8 types: one digest (email + Slack)", 8, 3, fresh=True, runs=args.runs
    )
    digests = (len(emails) - sent_before[0], len(slack_posts) - sent_before[1])
    sent = len(emails)
    scenario("24 predictions in cooldown: all suppressed", 8, 3, fresh=False, runs=args.runs)
    assert len(emails) == sent, "cooldown leaked an email"
    scenario("3 predictions, 1 type: one alert (email + Slack)", 1, 3, fresh=True, runs=args.runs)
    sent = len(emails)
    scenario("burst of 1,000 predictions, 1 type: one alert", 1, 1000, fresh=True, runs=5)
    assert len(emails) - sent == 5

    # Baseline: the same digest sent straight through Django's SMTP backend and requests.
    digest_row = AlertNotification.objects.filter(kind="digest").first() or None
    if digest_row is None:
        AlertNotification.objects.all().delete()
        alerts_evaluate(
            service="django", prediction_ids=predictions(8, 3), anomaly_ids=[], learning=False
        )
        digest_row = AlertNotification.objects.filter(kind="digest").first()
    subject, text, html = render_alert_email(digest_row.payload)
    message = slack_message(digest_row.payload)
    baseline = []
    for _ in range(args.runs):
        started = time.perf_counter()
        email = EmailMultiAlternatives(
            subject, text, settings.DEFAULT_FROM_EMAIL, ["ops@bench.local"]
        )
        email.attach_alternative(html, "text/html")
        email.send()
        requests.post(slack_url, json=message, timeout=10)
        baseline.append((time.perf_counter() - started) * 1000)
    base = statistics.median(baseline)
    insert_floor = []
    for _ in range(args.runs):
        started = time.perf_counter()
        AlertNotification.objects.create(kind="prediction", service="django", dedup_key="floor")
        insert_floor.append((time.perf_counter() - started) * 1000)
    load = os.getloadavg()[0]

    def p95(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    lines = [
        "| scenario (per analysis) | runs | median ms | p95 ms | median / baseline |",
        "|---|---|---|---|---|",
        f"| baseline: raw SMTP send of the digest + raw Slack POST | {len(baseline)} | "
        f"{base:.1f} | {p95(baseline):.1f} | 1.00 |",
        f"| reference: one AlertNotification INSERT + commit | {len(insert_floor)} | "
        f"{statistics.median(insert_floor):.1f} | {p95(insert_floor):.1f} | "
        f"{statistics.median(insert_floor) / base:.2f} |",
    ]
    for name, times in results.items():
        median = statistics.median(times)
        lines.append(
            f"| {name} | {len(times)} | {median:.1f} | {p95(times):.1f} | {median / base:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"\nload average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    print(
        f"\nfirst scenario delivered {digests[0]} emails and {digests[1]} Slack posts "
        f"for {args.runs} analyses (one digest each)."
    )
    if args.write:
        out = ROOT / "docs" / "benchmarks" / "alerts.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            "# Alerting benchmark\n\n"
            "Command: `.venv/bin/python benchmarks/alerts_bench.py --write` (PostgreSQL 15, "
            "local aiosmtpd and HTTP receiver, Celery in-process so delivery is included).\n\n"
            f"{table}\n\n"
            f"Load average (1 min) at the end of the run: {load:.1f} on {os.cpu_count()} cores "
            "(the machine is shared; PostgreSQL commits dominate the alert paths).\n\n"
            f"The first scenario delivered {digests[0]} emails and {digests[1]} Slack posts for "
            f"{args.runs} analyses: one digest each, never one message per prediction.\n"
        )


if __name__ == "__main__":
    main()
