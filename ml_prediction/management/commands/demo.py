"""``make demo``: from an empty machine to a running dashboard with 7 services of history.

Steps (each skipped when a previous run finished it, so a second ``make demo`` starts in
seconds): migrate both databases, create the demo ops user and an ingest key per service,
generate 30 days of labelled traffic through the real ingestion code, train every model of
every service, run a full analysis of every service, then serve and print where to look.
``--reset`` forgets everything the demo made and starts over.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from tqdm import tqdm

from feeding_hearts.catalog import SERVICES
from ml_prediction.management.commands.seed_demo import (
    bucket_end,
    demo_seed,
    demo_seed_parallel,
    parse_services,
)
from ml_prediction.models import MLModel

DEMO_USER = "demo"
STATE_FILE = "demo/state.json"
# While serving, the demo tops up the traffic missed since the last stored minute (at most this
# much; older demos need ``make demo-reset``) and re-analyses every service, every 5 minutes.
MAX_TOP_UP = timedelta(days=2)
MIN_TOP_UP = timedelta(minutes=5)
LIVE_INTERVAL_SECONDS = 300.0
# The dashboard charts the last 3 days; the analyses before "now" cover the 2 days before that.
BACKFILL_DAYS = 2
# Baseline errors per minute per service: ~20k errors per service over 30 days (incidents add
# bursts on top), enough for every model and small enough to ingest in about a minute.
DEMO_ERRORS_PER_MINUTE = 0.4


def _state_path() -> Path:
    return Path(settings.VAR_DIR) / STATE_FILE


def load_state() -> dict[str, Any]:
    path = _state_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def save_state(state: dict[str, Any]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, default=str))
    path.chmod(0o600)


def _embedded() -> bool:
    return all("sqlite" in connections[alias].settings_dict["ENGINE"] for alias in connections)


def demo_reset(*, say: Callable[[str], None]) -> None:
    """Forget the demo: the embedded databases (or all rows on PostgreSQL), artifacts, state."""
    var = Path(settings.VAR_DIR)
    if _embedded():
        connections.close_all()
        for alias in connections:
            name = Path(connections[alias].settings_dict["NAME"])
            for path in (name, Path(f"{name}-wal"), Path(f"{name}-shm"), Path(f"{name}-journal")):
                if path.exists():
                    path.unlink()
                    say(f"removed {path}")
    else:
        for alias in connections:
            call_command("flush", database=alias, interactive=False, verbosity=0)
            say(f"emptied database {alias}")
    artifacts = Path(settings.ML_PREDICTION_CONFIG["ARTIFACT_DIR"])
    for path in (artifacts, var / "demo"):
        if path.exists():
            shutil.rmtree(path)
            say(f"removed {path}")


def demo_migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    call_command("migrate", database="ml_prediction", interactive=False, verbosity=0)


def demo_user_ensure(*, state: dict[str, Any]) -> tuple[Any, str]:
    """The demo ops user (a superuser in the ops group), password kept in the state file."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ml_prediction.permissions_setup import OPS_GROUP, ensure_roles

    ensure_roles()
    password = state.get("password") or secrets.token_urlsafe(12)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USER).first()
    if user is None:
        user = user_model.objects.create_superuser(DEMO_USER, "demo@feedinghearts.local", password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    state["password"] = password
    return user, password


def demo_ingest_keys() -> dict[str, str]:
    """One active ingest key per service (created once; project ids 1..7 when free)."""
    from django.db.models import Max

    from error_logging.models import IngestKey

    keys = {}
    for index, service in enumerate(SERVICES, start=1):
        key = (
            IngestKey.objects.filter(service=service, is_active=True).order_by("created_at").first()
        )
        if key is None:
            project_id = index
            if IngestKey.objects.filter(project_id=project_id).exists():
                project_id = (IngestKey.objects.aggregate(m=Max("project_id"))["m"] or 0) + 1
            key = IngestKey.objects.create(service=service, name="demo", project_id=project_id)
        keys[service] = key.public_key
    return keys


# The demo's training profile: every model type and every forecasting candidate (Prophet, LSTM,
# seasonal and weekly naive, exponential smoothing) is still fitted and backtested, on the last
# 16 days (the weekly naive needs two weeks before each of the two backtest days; on 14 it was
# listed as failed in every demo forecast), with fewer folds and a smaller LSTM.
# ``--full-training`` turns it off.
DEMO_ENGINE_OVERRIDES: dict[str, dict[str, Any]] = {
    "ForecastConfig": {
        "backtest_folds": 2,
        "lstm_epochs": 5,
        "lstm_units": 16,
        "lstm_patience": 1,
        "lstm_max_windows": 200,
        "max_history_steps": 16 * 24,
    },
}


def _pool_map(function: Callable[[str], Any], services: tuple[str, ...], workers: int) -> Any:
    """Run ``function(service)`` in forked worker processes, yielding results as they finish."""
    import multiprocessing

    if workers <= 1 or len(services) <= 1:
        for service in services:
            yield function(service)
        return
    connections.close_all()  # never share a database connection with a forked child
    context = multiprocessing.get_context("fork")
    # workers live for the whole step: TensorFlow and Prophet are imported once per worker
    with context.Pool(processes=min(workers, len(services))) as pool:
        yield from pool.imap_unordered(function, services)


def _train_one_service(
    service: str, model_types: list[str] | None = None
) -> tuple[str, dict[str, int]]:
    from ml_prediction.services.locks import service_lock
    from ml_prediction.services.training import training_run_for_service

    timeout = int(settings.ML_PREDICTION_CONFIG["MAX_TRAINING_TIME"]) + 120
    try:
        with service_lock(service=service, kind="training", timeout=timeout):
            histories = training_run_for_service(
                service=service, model_types=model_types, progress=lambda message: None
            )
    finally:
        connections.close_all()
    counts: dict[str, int] = {}
    for history in histories:
        counts[history.status] = counts.get(history.status, 0) + 1
    return service, counts


def _analyse_one_service(service: str, backfill_days: int = 0) -> tuple[str, dict[str, Any]]:
    """One service's analysis; a failure is reported, not raised, so the others still run.

    With ``backfill_days``, first a ``deep`` analysis as of each of the last days (oldest
    first), so the charts mark what the detectors find in the history they show, then one as of
    now (last, so the newest forecast starts now).
    """
    import logging
    import traceback

    from django.utils import timezone

    from ml_prediction.services import PredictionOrchestrator

    orchestrator = PredictionOrchestrator()
    now = timezone.now()
    try:
        for days_ago in range(backfill_days, 0, -1):
            orchestrator.run_full_analysis(
                service, analysis_type="deep", as_of=now - timedelta(days=days_ago)
            )
        if backfill_days:
            # the root-cause model learns from analysed incidents, which exist only now
            _train_one_service(service, model_types=[MLModel.ModelType.ROOT_CAUSE])
        analysis_type = "deep" if backfill_days else "full"
        return service, orchestrator.run_full_analysis(
            service, analysis_type=analysis_type, as_of=now
        )
    except Exception as exc:
        logging.getLogger("ml_prediction.demo").exception("demo analysis of %s failed", service)
        return service, {
            "demo_error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
        }
    finally:
        connections.close_all()


def demo_train(
    *, services: tuple[str, ...], show_progress: bool, workers: int = 1
) -> dict[str, dict[str, int]]:
    """Train every model type of every service; returns {service: {status: count}}."""
    outcome: dict[str, dict[str, int]] = {}
    with tqdm(total=len(services), desc="train   ", unit=" svc", disable=not show_progress) as bar:
        for service, counts in _pool_map(_train_one_service, services, workers):
            outcome[service] = counts
            bar.set_postfix_str(f"{service} done")
            bar.update(1)
    return outcome


def demo_analyse(
    *, services: tuple[str, ...], show_progress: bool, workers: int = 1, backfill_days: int = 0
) -> dict[str, Any]:
    """A full analysis of every service as the beat schedule runs it (after a backfill)."""
    results: dict[str, Any] = {}
    with tqdm(total=len(services), desc="analyse ", unit=" svc", disable=not show_progress) as bar:
        analyse = functools.partial(_analyse_one_service, backfill_days=backfill_days)
        for service, result in _pool_map(analyse, services, workers):
            results[service] = result
            bar.set_postfix_str(f"{service} done")
            bar.update(1)
    return results


# What a connection pool running dry says in each stack (the root-cause engine reads these).
LIVE_INCIDENT_ERRORS = {
    "django": (
        "OperationalError",
        "QueuePool limit of size 20 overflow 10 reached, connection timed out",
    ),
    "laravel": ("PDOException", "SQLSTATE[08004] [1040] Too many connections"),
    "java": (
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
    ),
}
LIVE_INCIDENT_MINUTES = 30  # the pool fills for this long ...
LIVE_OUTAGE_MINUTES = 15  # ... and is exhausted for the last of them
# ... and a front end's calls to the API fail for the last of them: one failure seen from two
# services, which the front end's root cause names ("django's incident began … before")
LIVE_CASCADE_MINUTES = 10
LIVE_DOWNSTREAM_ERRORS = {
    "react": ("AxiosError", "Request failed with status code 500"),
    "angular": (
        "HttpErrorResponse",
        "Http failure response for /api/orders: 500 Internal Server Error",
    ),
    "vue": ("AxiosError", "Request failed with status code 500"),
    "flutter": ("HttpException", "Connection closed before full header was received"),
}


def live_downstream(services: tuple[str, ...]) -> str | None:
    """The front end whose API calls fail during the live incident of ``services[0]``: the
    first front end demoed, when the incident is a back end's (front ends call back ends)."""
    if not services or services[0] not in LIVE_INCIDENT_ERRORS:
        return None
    return next((s for s in services[1:] if s in LIVE_DOWNSTREAM_ERRORS), None)


def demo_live_incident(*, service: str, end: datetime, downstream: str | None = None) -> int:
    """Ingest a database-pool incident of ``service`` going on at ``end``; the errors stored.

    The generated history ends in an ordinary hour, so a fresh demo had nothing current to
    show: no incident to acknowledge, no pending action, no page (and once the usual state
    stopped counting as high risk, empty tables). Half an hour of the pool filling and
    requests slowing, then a quarter of an hour of pool-exhaustion errors, through the real
    ingestion code like any agent's. With ``downstream``, that front end's calls to the API
    fail for the last LIVE_CASCADE_MINUTES (its errors are not in the count).
    """
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors, ingest_metrics

    error_type, message = LIVE_INCIDENT_ERRORS.get(service, LIVE_INCIDENT_ERRORS["django"])
    start = end - timedelta(minutes=LIVE_INCIDENT_MINUTES)
    metrics = []
    for minute in range(0, LIVE_INCIDENT_MINUTES, 5):
        at = (start + timedelta(minutes=minute)).isoformat()
        share = minute / LIVE_INCIDENT_MINUTES
        metrics += [
            {"metric_name": "db_pool_in_use", "value": round(60 + 40 * share, 1), "timestamp": at},
            {
                "metric_name": "response_time_ms",
                "value": round(250 + 4000 * share**2),
                "timestamp": at,
            },
        ]
    outage = end - timedelta(minutes=LIVE_OUTAGE_MINUTES)
    errors = [
        {
            "error_type": error_type,
            "message": message,
            "severity": "critical",
            "endpoint": "/api/orders",
            "response_time_ms": 30000.0,
            "occurred_at": (outage + timedelta(seconds=2.5 * i)).isoformat(),
        }
        for i in range(LIVE_OUTAGE_MINUTES * 24)  # 24 a minute
        if outage + timedelta(seconds=2.5 * i) < end
    ]
    cascade = end - timedelta(minutes=LIVE_CASCADE_MINUTES)
    failing = []
    if downstream is not None:
        kind, text = LIVE_DOWNSTREAM_ERRORS[downstream]
        failing = [
            {
                "error_type": kind,
                "message": text,
                "severity": "high",
                "endpoint": "/api/orders",
                "occurred_at": (cascade + timedelta(seconds=5 * i)).isoformat(),
            }
            for i in range(LIVE_CASCADE_MINUTES * 12)  # 12 a minute
        ]
    with analysis_requests_suspended():
        ingest_metrics(service=service, items=metrics)
        ingest_errors(service=service, items=errors)
        if failing:
            ingest_errors(service=downstream, items=failing)
    return len(errors)


def _newest_error_at() -> datetime | None:
    from error_logging.models import ErrorRollup

    return ErrorRollup.objects.order_by("-bucket").values_list("bucket", flat=True).first()


def _running_releases(services: tuple[str, ...]) -> dict[str, str]:
    """The release of each service's newest stored error that carries one: what it runs now."""
    from error_logging.models import ErrorLog

    running = {}
    for service in services:
        release = (
            ErrorLog.objects.filter(service=service)
            .exclude(release="")
            .order_by("-occurred_at")
            .values_list("release", flat=True)
            .first()
        )
        if release:
            running[service] = release
    return running


def demo_top_up(*, state: dict[str, Any], now: datetime | None = None) -> int:
    """Ingest the traffic between the end of the stored demo traffic and now; the error count.

    At most MAX_TOP_UP is generated (an older demo stays as it is). Each top-up is a fresh draw
    of the same generator (same rates, daily and weekly cycles, its own seed), so the history
    stays continuous in shape.
    """
    seeded_until = state.get("seeded_until")
    if not seeded_until:
        return 0
    start = datetime.fromisoformat(seeded_until)
    now = bucket_end(now)  # so the new traffic starts exactly where the stored traffic ends
    gap = now - start
    if gap < MIN_TOP_UP or gap > MAX_TOP_UP:
        return 0
    services = tuple(state.get("services") or SERVICES)
    result = demo_seed(
        days=gap.total_seconds() / 86400,
        services=services,
        seed=int(now.timestamp()) % 1_000_000,
        end=now,
        show_progress=False,
        write_labels=False,
        errors_per_minute=state.get("errors_per_minute"),
        metric_interval_minutes=state.get("metric_interval_minutes"),
        running_releases=_running_releases(services),
    )
    state["seeded_until"] = result.end.isoformat()
    save_state(state)
    return result.errors


def demo_live_loop(
    *, state: dict[str, Any], stop: threading.Event, interval: float = LIVE_INTERVAL_SECONDS
) -> None:
    """While the demo serves: keep traffic flowing up to now and re-analyse every service.

    Runs at once (a second ``make demo`` serves the old results in seconds and refreshes them
    in the background) and then every ``interval`` seconds, so new anomalies, predictions and
    forecasts reach the dashboard's live view without anyone running a command.
    """
    import logging

    logger = logging.getLogger("ml_prediction.demo")
    while not stop.is_set():
        try:
            if demo_top_up(state=state):
                for service in state.get("services") or SERVICES:
                    if stop.is_set():
                        break
                    _analyse_one_service(service)
        except Exception:
            logger.exception("demo live refresh failed; trying again in %ss", interval)
        finally:
            connections.close_all()
        stop.wait(interval)


def demo_links_configure(*, port: int) -> str:
    """Point the links in alert messages at the dashboard this demo serves, on its port.

    Unless ML_DASHBOARD_BASE_URL says otherwise: the default (port 8000) sent a demo served on
    ``--port 8765`` to a page that does not answer. Returns the base URL in use.
    """
    config = settings.ML_PREDICTION_CONFIG
    if not os.environ.get("ML_DASHBOARD_BASE_URL", "").strip():
        config["DASHBOARD_BASE_URL"] = f"http://127.0.0.1:{port}"
    return str(config["DASHBOARD_BASE_URL"])


class Command(BaseCommand):
    help = (
        "The quick start: migrate, create the demo user and ingest keys, seed 30 days of "
        "traffic for 7 services, train, analyse and serve. Reuses what a previous run made."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="forget the demo and start over")
        parser.add_argument("--no-serve", action="store_true", help="set up, then exit")
        parser.add_argument("--days", type=float, default=30.0, help="days of history (30)")
        parser.add_argument("--services", default="all", help="comma-separated, or all")
        parser.add_argument("--seed", type=int, default=42, help="traffic generator seed")
        parser.add_argument(
            "--errors-per-minute",
            type=float,
            default=DEMO_ERRORS_PER_MINUTE,
            help=f"baseline error rate per service ({DEMO_ERRORS_PER_MINUTE})",
        )
        parser.add_argument(
            "--metric-interval-minutes",
            type=int,
            default=10,
            help="system metrics every N minutes (10)",
        )
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (8000)")
        parser.add_argument(
            "--no-live",
            action="store_true",
            help="while serving, do not keep traffic flowing and results fresh",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=min(2, os.cpu_count() or 1),
            help="services processed in parallel (default: up to 2 cores)",
        )
        parser.add_argument(
            "--full-training",
            action="store_true",
            help="train with the production forecasting profile (more folds, bigger LSTM)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def step(self, title: str) -> float:
        self.say(self.style.MIGRATE_HEADING(f"==> {title}"))
        return time.perf_counter()

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        if not 1 <= options["port"] <= 65535:
            # checked before any setup: a port no server can bind would be printed in every link
            raise CommandError(f"--port must be between 1 and 65535, got {options['port']}.")
        services = parse_services(options["services"])
        show = not options["no_progress"]
        if not options["full_training"]:
            config = settings.ML_PREDICTION_CONFIG
            if not config.get("ENGINE_OVERRIDES"):
                config["ENGINE_OVERRIDES"] = DEMO_ENGINE_OVERRIDES
        if not os.environ.get("EMAIL_BACKEND"):
            # no mail server on a fresh machine: alert emails land in files the user can open
            settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
            settings.EMAIL_FILE_PATH = str(Path(settings.VAR_DIR) / "demo" / "outbox")
        demo_links_configure(port=options["port"])
        if options["reset"]:
            self.step("Forgetting the previous demo")
            demo_reset(say=self.say)

        t = self.step(
            "Migrating both databases"
            + (" (embedded SQLite under var/)" if _embedded() else " (PostgreSQL)")
        )
        demo_migrate()
        self.say(f"    done in {time.perf_counter() - t:.1f}s")
        state = load_state()
        user, password = demo_user_ensure(state=state)
        keys = demo_ingest_keys()
        save_state(state)

        timings: dict[str, float] = dict(state.get("timings", {}))
        if not state.get("seeded"):
            from error_logging.models import ErrorLog

            if ErrorLog.objects.exists():
                raise CommandError(
                    "The databases already hold errors the demo did not finish seeding (an "
                    "interrupted run, or data of your own). `make demo-reset` forgets them and "
                    "starts over."
                )
            t = self.step(
                f"Generating {options['days']:g} days of traffic for {len(services)} services"
            )
            result = demo_seed_parallel(
                days=options["days"],
                services=services,
                workers=options["workers"],
                seed=options["seed"],
                show_progress=show,
                errors_per_minute=options["errors_per_minute"],
                metric_interval_minutes=options["metric_interval_minutes"],
            )
            timings["seed"] = round(time.perf_counter() - t, 1)
            state.update(
                seeded=True,
                services=list(services),
                seeded_until=result.end.isoformat(),
                errors_per_minute=options["errors_per_minute"],
                metric_interval_minutes=options["metric_interval_minutes"],
                errors=result.errors,
                metrics=result.metrics,
                labels=str(result.labels_path),
            )
            state.pop("trained", None)
            state.pop("analysed", None)
            save_state(state)
            self.say(
                f"    {result.errors} errors, {result.metrics} metric samples, "
                f"{result.incidents} labelled incidents in {timings['seed']}s "
                f"(labels: {result.labels_path})"
            )

        services = tuple(state.get("services") or services)
        if not state.get("trained"):
            t = self.step(f"Training every model of {len(services)} services")
            outcome = demo_train(services=services, show_progress=show, workers=options["workers"])
            timings["train"] = round(time.perf_counter() - t, 1)
            for service, counts in outcome.items():
                self.say(
                    f"    {service:<8} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                )
            state.update(trained=True)
            state.pop("analysed", None)
            save_state(state)

        if not state.get("analysed"):
            if not state.get("live_incident"):
                end = bucket_end(datetime.now(UTC))
                downstream = live_downstream(services)
                n = demo_live_incident(service=services[0], end=end, downstream=downstream)
                state["live_incident"] = {
                    "service": services[0],
                    "end": end.isoformat(),
                    "downstream": downstream,
                }
                save_state(state)
                self.say(
                    f"    a database-pool incident is going on in {services[0]} ({n} errors in "
                    f"the last {LIVE_OUTAGE_MINUTES} minutes): something current to page about, "
                    "acknowledge and act on"
                    + (
                        f"; {downstream}'s calls to it fail for the last "
                        f"{LIVE_CASCADE_MINUTES} minutes"
                        if downstream
                        else ""
                    )
                )
            t = self.step(f"Running a full analysis of {len(services)} services")
            results = demo_analyse(
                services=services,
                show_progress=show,
                workers=options["workers"],
                backfill_days=BACKFILL_DAYS,
            )
            downstream = state["live_incident"].get("downstream")
            if downstream in results and "demo_error" not in results[downstream]:
                # analysed once more, now that the incident it sees from outside is stored:
                # the services were analysed side by side, in no set order
                results[downstream] = _analyse_one_service(downstream)[1]
            timings["analyse"] = round(time.perf_counter() - t, 1)
            failed = {name: r["demo_error"] for name, r in results.items() if "demo_error" in r}
            for name, error in failed.items():
                self.stderr.write(f"    analysis of {name} failed: {error} (details in the log)")
            if not failed:
                state.update(analysed=True, analysed_at=datetime.now(UTC).isoformat())
            save_state(state)

        setup = time.perf_counter() - started
        state["timings"] = timings
        state["last_setup_seconds"] = round(setup, 1)
        save_state(state)
        self._banner(user=user, password=password, keys=keys, port=options["port"], setup=setup)
        if options["no_serve"]:
            return
        connections.close_all()
        if not options["no_live"]:
            threading.Thread(
                target=demo_live_loop,
                kwargs={"state": state, "stop": threading.Event()},
                name="demo-live",
                daemon=True,
            ).start()
            self.say(
                "  Live: new traffic and a fresh analysis every "
                f"{LIVE_INTERVAL_SECONDS / 60:.0f} minutes while this runs (--no-live to stop it)."
            )
        call_command(
            "runserver",
            f"127.0.0.1:{options['port']}",
            use_reloader=False,
            insecure_serving=True,
            skip_checks=True,
        )

    def _banner(
        self, *, user: Any, password: str, keys: dict[str, str], port: int, setup: float
    ) -> None:
        from rest_framework_simplejwt.tokens import RefreshToken

        base = f"http://127.0.0.1:{port}"
        token = str(RefreshToken.for_user(user).access_token)
        lines = [
            "",
            self.style.SUCCESS(f"Feeding Hearts ML demo is ready (setup took {setup:.0f}s)."),
            "",
            f"  Dashboard   {base}/dashboard/",
            f"  API docs    {base}/api/docs/",
            f"  Admin       {base}/admin/",
            f"  Sign in as  {user.get_username()} / {password}",
            "",
            "  Ask the API (this token is valid for "
            f"{int(settings.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds() // 60)} minutes):",
            f'  curl -H "Authorization: Bearer {token}" {base}/api/ml/dashboard/summary/',
            "",
            "  Send an error (ingest keys per service are in the admin):",
            f"  curl -X POST -H 'X-Ingest-Key: {keys.get('django', '')}' -H 'Content-Type: application/json' \\",
            f'       -d \'{{"error_type": "DatabaseConnectionTimeout", "message": "pool exhausted", '
            f'"severity": "critical"}}\' {base}/api/errors/',
            "",
        ]
        if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
            lines.insert(
                -1,
                f"  Alert emails are written to {settings.EMAIL_FILE_PATH}/ "
                "(set EMAIL_BACKEND for a real mail server).",
            )
        for line in lines:
            self.say(line)
        if not keys:
            raise CommandError("no ingest keys were created")
