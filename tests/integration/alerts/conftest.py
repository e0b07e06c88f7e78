"""Real receivers for alert tests: an SMTP server (aiosmtpd) and HTTP receivers, on free ports."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

BOTH_DBS = ["default", "ml_prediction"]


@dataclass
class SmtpCollector:
    port: int = 0
    envelopes: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


@pytest.fixture
def smtp_server(settings):
    """An aiosmtpd server on 127.0.0.1 (port 0), with Django's SMTP settings pointed at it."""
    from aiosmtpd.smtp import SMTP

    collector = SmtpCollector()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    def serve() -> None:
        # The loop is created, used and closed in its own thread: the main thread may already
        # run an event loop (Playwright's sync API does), which forbids run_until_complete there.
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(
            loop.create_server(lambda: SMTP(collector), "127.0.0.1", 0)
        )
        started.set()
        loop.run_forever()
        holder["server"].close()
        loop.run_until_complete(holder["server"].wait_closed())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(timeout=10), "SMTP test server did not start"
    collector.port = holder["server"].sockets[0].getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = collector.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.DEFAULT_FROM_EMAIL = "ml-alerts@feedinghearts.test"
    yield collector
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


@dataclass
class HttpReceiver:
    """Answers POSTs with the next status of ``statuses`` (the last one repeats)."""

    statuses: list[int]
    requests: list[dict] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    @property
    def bodies(self) -> list:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def http_receiver():
    """Start HTTP receivers on 127.0.0.1 (port 0): ``http_receiver(200)`` or ``(500, 500, 200)``."""
    servers = []

    def start(*statuses: int) -> HttpReceiver:
        receiver = HttpReceiver(statuses=list(statuses or (200,)))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                status = receiver.answer()
                payload = b"ok" if status < 400 else b"receiver error"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def eager_celery():
    """Run delivery tasks in-process, retries included (countdowns are not waited for)."""
    from feeding_hearts.celery import app

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def ml_config(settings):
    """Set ML_PREDICTION_CONFIG keys for one test: ``ml_config(SLACK_WEBHOOK_URL=...)``."""

    def apply(**values):
        settings.ML_PREDICTION_CONFIG = {**settings.ML_PREDICTION_CONFIG, **values}
        return settings.ML_PREDICTION_CONFIG

    apply(
        ALERT_EMAIL="ops@feedinghearts.test",
        SLACK_WEBHOOK_URL="",
        SLACK_CHANNEL_OVERRIDES={},
        ALERT_PROBABILITY_THRESHOLD=0.70,
        ALERT_COOLDOWN_MINUTES=120,
        ALERT_SEVERITY_CRITICAL=True,
        ANOMALY_ALERT_MIN_BUCKETS=2,
        ANOMALY_ALERT_WINDOW_MINUTES=60,
        ANOMALY_ALERT_SUPPRESS_MINUTES=120,
        ALERT_DIGEST_THRESHOLD=5,
        DASHBOARD_BASE_URL="http://ml.feedinghearts.test",
        AUTOMATION_ENABLED=False,
        ACTION_WEBHOOKS={},
    )
    return apply


@pytest.fixture
def deliver_on_commit(django_capture_on_commit_callbacks):
    """Run the ML database's on-commit callbacks (the delivery hand-off) inside the test."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(using="ml_prediction", execute=True):
            return fn(*args, **kwargs)

    return run


FACTORS = [
    {
        "feature": "db_pool_in_use",
        "value": 97.0,
        "contribution": 0.61,
        "description": "DB pool near its limit",
    },
    {"feature": "timeout_count_lag1", "value": 14.0, "contribution": 0.33, "description": ""},
    {"feature": "rt_p95", "value": 2400.0, "contribution": 0.12, "description": ""},
    {"feature": "hour_of_day", "value": 11.0, "contribution": 0.01, "description": ""},
]


@pytest.fixture
def make_prediction():
    from ml_prediction.models import ErrorPrediction, PreventiveAction

    counter = iter(range(10_000))

    def make(
        *,
        service="django",
        error_type="DatabaseConnectionTimeout",
        probability=0.82,
        horizon=45,
        factors=None,
        actions=True,
        **fields,
    ) -> ErrorPrediction:
        bucket = timezone.now().replace(second=0, microsecond=0) - timedelta(
            minutes=5 * next(counter)
        )
        prediction = ErrorPrediction.objects.create(
            service=service,
            predicted_error_type=error_type,
            predicted_category=fields.pop("predicted_category", "database"),
            predicted_severity=fields.pop("predicted_severity", "high"),
            probability=probability,
            confidence_level="high",
            time_horizon_minutes=horizon,
            prediction_bucket=bucket,
            predicted_timestamp=bucket + timedelta(minutes=horizon),
            contributing_factors=FACTORS if factors is None else factors,
            root_cause_hypothesis=fields.pop(
                "root_cause_hypothesis", "Connection pool exhaustion: 97 of 100 connections in use"
            ),
            recommended_actions=fields.pop("recommended_actions", []),
            affected_users_count=523,
            **fields,
        )
        if actions:
            PreventiveAction.objects.create(
                prediction=prediction,
                service=service,
                action_type="increase_pool",
                title="Increase the database connection pool",
                priority="high",
                can_be_automated=True,
            )
        return prediction

    return make


@pytest.fixture
def make_anomaly():
    from ml_prediction.models import AnomalyDetection

    def make(
        *,
        minutes_ago: int,
        service="laravel",
        severity="critical",
        metric="error_count",
        is_anomaly=True,
        state="active",
    ) -> AnomalyDetection:
        start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
        return AnomalyDetection.objects.create(
            anomaly_id=uuid.uuid4(),
            service=service,
            metric_name=metric,
            window_start=start,
            window_end=start + timedelta(minutes=5),
            observed_value=240.0,
            expected_value=31.0,
            anomaly_score=0.93,
            is_anomaly=is_anomaly,
            severity_level=severity,
            anomaly_type="spike",
            detection_state=state,
            root_cause_hypothesis="Upstream payment API timeouts",
            recommended_action="Enable the circuit breaker on the payment client",
        )

    return make
