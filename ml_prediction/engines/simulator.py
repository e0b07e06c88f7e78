"""Labelled traffic generator: realistic multi-service error and metric streams with known incidents.

The demo seeds itself from it and the evaluations measure the engines against its labels, so it
must be reproducible (one seed → the same traffic), fast (numpy, minute resolution, 30 days × 7
services in seconds) and honest: some incidents announce themselves (rising timeouts, growing p95,
pool saturation in the 15–60 minutes before the outage), some do not, and some precursor-looking
episodes resolve without an outage ("near misses"), so a predictor cannot score perfectly by
reacting to any wobble. Pure Python: no Django.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ml_prediction.engines.catalog import CATEGORIES, SERVICES, SEVERITIES

# (error_type, category, relative weight in normal traffic, message template, status code)
_ErrorSpec = tuple[str, str, float, str, int]

SERVICE_ERROR_TYPES: dict[str, list[_ErrorSpec]] = {
    "django": [
        (
            "OperationalError",
            "database",
            2.0,
            "could not connect to server: Connection refused on db:{n}",
            500,
        ),
        (
            "DatabaseConnectionTimeout",
            "timeout",
            1.0,
            "connection to database timed out after {n} ms",
            504,
        ),
        (
            "IntegrityError",
            "database",
            1.0,
            "duplicate key value violates unique constraint donations_{n}_key",
            500,
        ),
        ("PermissionDenied", "auth", 2.0, "user {n} may not access this donation", 403),
        ("ValidationError", "validation", 4.0, "field amount: ensure this value is >= {n}", 400),
        (
            "ReadTimeout",
            "timeout",
            1.0,
            "HTTPSConnectionPool(host='payments', port=443): read timed out ({n}s)",
            504,
        ),
        (
            "ConnectionError",
            "connection",
            1.0,
            "Max retries exceeded with url /v1/charges ({n})",
            503,
        ),
        ("MemoryError", "memory", 0.2, "worker {n} exceeded memory limit", 500),
        ("KeyError", "other", 3.0, "KeyError: 'campaign_{n}'", 500),
        ("HTTPError", "api", 1.0, "502 Bad Gateway from upstream mailer ({n})", 502),
    ],
    "laravel": [
        (
            "QueryException",
            "database",
            2.0,
            "SQLSTATE[HY000] [2002] Connection refused (SQL: select * from donors where id = {n})",
            500,
        ),
        ("PDOException", "database", 1.0, "SQLSTATE[08006] too many connections ({n})", 500),
        ("TokenMismatchException", "auth", 2.0, "CSRF token mismatch for session {n}", 419),
        ("AuthenticationException", "auth", 1.5, "Unauthenticated request {n}", 401),
        ("ValidationException", "validation", 4.0, "The email field is required ({n})", 422),
        (
            "ConnectException",
            "connection",
            1.0,
            "cURL error 7: Failed to connect to api port 443 ({n})",
            503,
        ),
        (
            "RequestTimeoutException",
            "timeout",
            1.0,
            "Operation timed out after {n} milliseconds",
            504,
        ),
        ("FatalError", "memory", 0.2, "Allowed memory size of {n} bytes exhausted", 500),
        ("ErrorException", "other", 3.0, "Undefined index: donor_{n}", 500),
        (
            "ClientException",
            "api",
            1.0,
            "Client error: POST /v2/receipts resulted in 429 ({n})",
            502,
        ),
    ],
    "java": [
        (
            "SQLTransientConnectionException",
            "database",
            2.0,
            "HikariPool-1 - Connection is not available, request timed out after {n}ms",
            500,
        ),
        (
            "DataAccessResourceFailureException",
            "database",
            1.0,
            "Unable to acquire JDBC Connection ({n})",
            500,
        ),
        ("SocketTimeoutException", "timeout", 1.5, "Read timed out after {n} ms", 504),
        ("AccessDeniedException", "auth", 2.0, "Access is denied for principal {n}", 403),
        (
            "MethodArgumentNotValidException",
            "validation",
            3.0,
            "Validation failed for argument [{n}]",
            400,
        ),
        ("ConnectException", "connection", 1.0, "Connection refused: inventory-service:{n}", 503),
        ("OutOfMemoryError", "memory", 0.2, "Java heap space ({n} MB)", 500),
        (
            "NullPointerException",
            "other",
            3.0,
            'Cannot invoke "Order.getId()" because "order" is null ({n})',
            500,
        ),
        (
            "HttpServerErrorException",
            "api",
            1.0,
            "503 Service Unavailable from shipping ({n})",
            502,
        ),
    ],
    "react": [
        ("ChunkLoadError", "other", 1.0, "Loading chunk {n} failed.", 0),
        (
            "TypeError",
            "other",
            4.0,
            "Cannot read properties of undefined (reading 'donations_{n}')",
            0,
        ),
        (
            "NetworkError",
            "connection",
            1.5,
            "NetworkError when attempting to fetch resource ({n})",
            0,
        ),
        ("AxiosTimeoutError", "timeout", 1.0, "timeout of {n}ms exceeded", 504),
        ("UnauthorizedError", "auth", 1.5, "Request failed with status code 401 ({n})", 401),
        ("AxiosError", "api", 2.0, "Request failed with status code 500 ({n})", 500),
        ("ValidationError", "validation", 2.0, "amount must be a positive number ({n})", 422),
    ],
    "angular": [
        (
            "HttpErrorResponse",
            "api",
            2.5,
            "Http failure response for /api/campaigns/{n}: 500 Internal Server Error",
            500,
        ),
        ("TimeoutError", "timeout", 1.0, "Timeout has occurred ({n} ms)", 504),
        (
            "ExpressionChangedAfterItHasBeenCheckedError",
            "other",
            3.0,
            "Expression has changed after it was checked ({n})",
            0,
        ),
        (
            "NetworkError",
            "connection",
            1.5,
            "Http failure response for (unknown url): 0 Unknown Error ({n})",
            0,
        ),
        ("AuthGuardError", "auth", 1.5, "Token expired for user {n}", 401),
        ("FormValidationError", "validation", 2.0, "form invalid: donorEmail ({n})", 422),
    ],
    "vue": [
        ("TypeError", "other", 3.5, "Cannot read properties of null (reading 'campaign_{n}')", 0),
        ("AxiosError", "api", 2.0, "Request failed with status code 502 ({n})", 502),
        ("ECONNABORTED", "timeout", 1.0, "timeout of {n}ms exceeded", 504),
        ("NetworkError", "connection", 1.5, "Network Error ({n})", 0),
        (
            "NavigationDuplicated",
            "other",
            1.0,
            "Avoided redundant navigation to current location /c/{n}",
            0,
        ),
        ("AuthError", "auth", 1.5, "session expired for user {n}", 401),
        ("ValidationError", "validation", 2.0, "donation form invalid ({n})", 422),
    ],
    "flutter": [
        (
            "SocketException",
            "connection",
            2.0,
            "OS Error: Connection refused, errno = 111, port = {n}",
            0,
        ),
        ("TimeoutException", "timeout", 1.0, "Future not completed after {n} ms", 504),
        (
            "HttpException",
            "api",
            2.0,
            "Connection closed before full header was received ({n})",
            502,
        ),
        ("FlutterError", "other", 3.0, "RenderFlex overflowed by {n} pixels on the bottom.", 0),
        ("PlatformException", "other", 1.0, "PlatformException(sign_in_failed, {n})", 0),
        ("AuthException", "auth", 1.5, "refresh token rejected for user {n}", 401),
        ("OutOfMemoryError", "memory", 0.2, "Out of memory: image cache exceeded {n} MB", 0),
        ("FormatException", "validation", 2.0, "Unexpected character at offset {n}", 0),
    ],
}

SERVICE_ENDPOINTS: dict[str, list[str]] = {
    "django": [
        "/api/donations/",
        "/api/campaigns/",
        "/api/users/me/",
        "/api/payments/charge/",
        "/admin/",
    ],
    "laravel": ["/donors", "/donors/{id}", "/receipts", "/login", "/api/v2/campaigns"],
    "java": ["/orders", "/orders/{id}", "/inventory", "/shipping/quote", "/health"],
    "react": ["/", "/donate", "/campaigns/:id", "/account", "/checkout"],
    "angular": ["/dashboard", "/reports", "/campaigns", "/settings", "/volunteers"],
    "vue": ["/", "/events", "/events/:id", "/profile", "/donate"],
    "flutter": ["HomeScreen", "DonateScreen", "CampaignScreen", "ProfileScreen", "LoginScreen"],
}

BACKENDS = ("django", "laravel", "java")

# Cause → (incident category, can it have precursors, which metric the precursor moves)
INCIDENT_CAUSES: dict[str, tuple[str, bool]] = {
    "db_pool_exhaustion": ("database", True),
    "upstream_timeout": ("timeout", True),
    "memory_leak": ("memory", True),
    "traffic_surge": ("timeout", True),
    "network_partition": ("connection", False),
    "bad_release": ("api", False),
}
_BACKEND_CAUSES = (
    "db_pool_exhaustion",
    "upstream_timeout",
    "memory_leak",
    "traffic_surge",
    "network_partition",
    "bad_release",
)
_FRONTEND_CAUSES = ("upstream_timeout", "traffic_surge", "network_partition", "bad_release")
_CAUSE_WEIGHTS_BACKEND = np.array([0.3, 0.2, 0.1, 0.15, 0.1, 0.15])
_CAUSE_WEIGHTS_FRONTEND = np.array([0.4, 0.25, 0.15, 0.2])

METRIC_NAMES: tuple[str, ...] = (
    "response_time_ms",
    "request_count",
    "db_pool_in_use",
    "cpu",
    "memory",
)
BUCKET_COLUMNS: tuple[str, ...] = (
    "total_count",
    *(f"{s}_count" for s in SEVERITIES),
    *(f"{c}_count" for c in CATEGORIES),
    "rt_count",
    "rt_mean",
    "rt_p95",
    "rt_p99",
    "rt_max",
    "user_error_count",
)


# The start the evaluations use (a Monday): with the default start (``days`` before today) the
# weekdays, and so the figures, would change with the day a run is made.
FIXED_START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class SimulationConfig:
    """What to generate. Rates are per service; the defaults give ~300k errors for 30 days × 7."""

    days: float = 30
    services: tuple[str, ...] = SERVICES
    seed: int = 42
    bucket_minutes: int = 5
    start: datetime | None = None  # default: midnight UTC, `days` before today
    errors_per_minute: float = 1.0  # mean baseline error rate of one service
    incidents_per_week: float = 3.0  # per service
    precursor_fraction: float = 0.8  # of incidents whose cause can have precursors
    near_misses_per_week: float = 1.0  # precursor-like episodes that do not end in an outage
    deploys_per_day: float = 1.0
    metric_interval_minutes: int = 5
    user_id_fraction: float = 0.7
    users_per_service: int = 5000
    # (service, release) each service already runs at `start` (default "<service>@1.0.0"); its
    # deploys number on from it. A continuation of stored traffic (the demo's live top-up) is
    # not a downgrade to 1.0.0 that a root cause would then blame as the newest release.
    running_releases: tuple[tuple[str, str], ...] = ()
    # Share of back-end outages each front end sees as its own (its calls to the API answered
    # with 5xx from a few minutes after the onset, labelled "upstream_failure"). 0 by default:
    # every published figure is on independent incidents; the root-cause evaluation reports
    # the fleet rule on a run with cascades beside them.
    cascade_fraction: float = 0.0

    def __post_init__(self) -> None:
        unknown = [s for s in self.services if s not in SERVICE_ERROR_TYPES]
        if unknown:
            raise ValueError(f"unknown services {unknown}; known: {', '.join(SERVICE_ERROR_TYPES)}")
        if self.days <= 0:
            raise ValueError("days must be positive")
        if self.bucket_minutes < 1 or self.metric_interval_minutes < 1:
            raise ValueError("bucket_minutes and metric_interval_minutes must be at least 1")


@dataclass(frozen=True)
class Incident:
    incident_id: str
    service: str
    start: datetime  # outage onset: the moment a predictor must beat
    end: datetime
    category: str
    has_precursors: bool
    cause_key: str
    precursor_start: datetime | None = None
    release: str = ""
    peak_errors_per_minute: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start", "end", "precursor_start"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


@dataclass(frozen=True)
class NearMiss:
    service: str
    start: datetime
    end: datetime
    cause_key: str


@dataclass
class _ServiceTrace:
    """Per-error arrays of one service (one element per error) and per-minute metric arrays."""

    minute: np.ndarray
    second: np.ndarray
    type_index: np.ndarray
    severity_index: np.ndarray
    response_time: np.ndarray
    user: np.ndarray  # -1 = anonymous
    endpoint_index: np.ndarray
    host_index: np.ndarray
    release_index: np.ndarray
    metrics: dict[str, np.ndarray]  # per minute
    releases: list[str]
    deploy_minutes: np.ndarray


@dataclass
class Simulation:
    config: SimulationConfig
    start: datetime
    incidents: list[Incident]
    near_misses: list[NearMiss]
    _traces: dict[str, _ServiceTrace] = field(repr=False)

    @property
    def minutes(self) -> int:
        return round(self.config.days * 1440)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def error_count(self, service: str | None = None) -> int:
        services = [service] if service else list(self._traces)
        return int(sum(len(self._traces[s].minute) for s in services))

    def error_messages(
        self, service: str, start: datetime, end: datetime
    ) -> dict[tuple[str, str], int]:
        """(error type, an example of its message) → how many errors of `service` happened in
        [start, end): what an evaluation needs of the stored errors without building them."""
        trace = self._traces[service]
        specs = SERVICE_ERROR_TYPES[service]
        first = (start - self.start).total_seconds() / 60
        last = (end - self.start).total_seconds() / 60
        chosen = trace.type_index[(trace.minute >= first) & (trace.minute < last)]
        counts = np.bincount(chosen, minlength=len(specs))
        return {
            (spec[0], spec[3].format(n=1000 + i)): int(counts[i])
            for i, spec in enumerate(specs)
            if counts[i]
        }

    def release_errors(
        self, service: str, start: datetime, end: datetime, *, lookback: timedelta
    ) -> dict[str, tuple[int, datetime]]:
        """release → (how many errors of `service` in [start, end) carried it, its first error
        in [start - lookback, end)): what the product reads of the stored errors' releases
        (`services.features.release_errors_for_service`)."""
        trace = self._traces[service]
        moment = trace.minute + trace.second / 60.0  # minutes since the start, in time order
        first = (start - self.start).total_seconds() / 60
        last = (end - self.start).total_seconds() / 60
        earliest = first - lookback.total_seconds() / 60
        inside = (moment >= first) & (moment < last)
        counts = np.bincount(trace.release_index[inside], minlength=len(trace.releases))
        seen: dict[str, tuple[int, datetime]] = {}
        for k in np.flatnonzero(counts):
            carried = (trace.release_index == k) & (moment >= earliest) & (moment < last)
            at = float(moment[np.argmax(carried)])
            seen[trace.releases[k]] = (int(counts[k]), self.start + timedelta(minutes=at))
        return seen

    def iter_errors(self, service: str | None = None) -> Iterator[dict[str, Any]]:
        """Native error items in time order per service, built lazily (seeders stream them)."""
        services = [service] if service else list(self._traces)
        for name in services:
            trace = self._traces[name]
            specs = SERVICE_ERROR_TYPES[name]
            endpoints = SERVICE_ENDPOINTS[name]
            frames_by_type = [_stacktrace(name, spec[0]) for spec in specs]
            rng = np.random.default_rng(self.config.seed + 7919 * (SERVICES.index(name) + 1))
            numbers = rng.integers(1, 9999, size=len(trace.minute))
            uuids = rng.integers(0, 2**63, size=(len(trace.minute), 2), dtype=np.int64)
            base_ts = self.start.timestamp()
            for i in range(len(trace.minute)):
                spec = specs[trace.type_index[i]]
                status = spec[4] or None
                user = int(trace.user[i])
                yield {
                    "error_id": str(
                        uuid.UUID(int=(int(uuids[i, 0]) << 64) | int(uuids[i, 1]), version=4)
                    ),
                    "service": name,
                    "environment": "production",
                    "release": trace.releases[trace.release_index[i]],
                    "host": f"{name}-web-{trace.host_index[i] + 1}",
                    "error_type": spec[0],
                    "message": spec[3].format(n=int(numbers[i])),
                    "severity": SEVERITIES[trace.severity_index[i]],
                    "endpoint": endpoints[trace.endpoint_index[i]],
                    "status_code": status,
                    "response_time_ms": round(float(trace.response_time[i]), 1),
                    "user_id": f"user-{user}" if user >= 0 else "",
                    "stacktrace": frames_by_type[trace.type_index[i]],
                    "tags": {"region": "eu-west-1"},
                    "context": {},
                    "occurred_at": datetime.fromtimestamp(
                        base_ts + 60 * int(trace.minute[i]) + float(trace.second[i]), tz=UTC
                    ).isoformat(),
                }

    @cached_property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.iter_errors())

    def iter_metrics(self, service: str | None = None) -> Iterator[dict[str, Any]]:
        """One sample per metric every ``metric_interval_minutes``, on the wall-clock grid.

        Samples sit at multiples of the interval since the epoch (as an agent's scrape would),
        not at offsets from ``start``: a live top-up of 5 minutes with a 10-minute interval
        then yields every other time instead of never, and consecutive simulations line up.
        A step cut short by the end of the simulation is aggregated over the minutes it has
        (request_count scaled to the whole step, so it stays a per-step rate).
        """
        services = [service] if service else list(self._traces)
        step = self.config.metric_interval_minutes
        first = -int(self.start.timestamp() // 60) % step
        starts = np.arange(first, self.minutes, step)
        if len(starts) == 0:
            return
        lengths = np.minimum(starts + step, self.minutes) - starts
        for name in services:
            trace = self._traces[name]
            for metric, values in trace.metrics.items():
                sums = np.add.reduceat(values[: self.minutes], starts)
                agg = sums * step / lengths if metric == "request_count" else sums / lengths
                for k, minute in enumerate(starts):
                    yield {
                        "service": name,
                        "metric_name": metric,
                        "value": round(float(agg[k]), 3),
                        "timestamp": (self.start + timedelta(minutes=int(minute))).isoformat(),
                        "tags": {},
                    }

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        return list(self.iter_metrics())

    def deploys(self, service: str) -> list[tuple[datetime, str]]:
        trace = self._traces[service]
        return [
            (self.start + timedelta(minutes=int(m)), trace.releases[i + 1])
            for i, m in enumerate(trace.deploy_minutes)
        ]

    def labels(self) -> dict[str, Any]:
        """The incident labels as JSON-ready data (seed_demo writes them beside the traffic)."""
        return {
            "seed": self.config.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "bucket_minutes": self.config.bucket_minutes,
            "incidents": [i.as_dict() for i in self.incidents],
            "near_misses": [
                {
                    "service": n.service,
                    "start": n.start.isoformat(),
                    "end": n.end.isoformat(),
                    "cause_key": n.cause_key,
                }
                for n in self.near_misses
            ],
        }

    def bucket_frames(
        self,
        bucket_minutes: int | None = None,
        *,
        categorize: Callable[[str, str], str] | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Per-service bucket frames in the convention of engines/types.py, straight from arrays.

        ``categorize(error_type, message)`` gives the category each error type is counted
        under; by default the generator's own. The evaluations pass the ingestion's classifier
        (`error_logging.normalize.classify`), so that their frames hold what the product stores
        for the same traffic: the two disagreed on React's and Vue's failing API calls (the
        product stored "other" where the generator said "api"), and only the product's view
        says how the product does.
        """
        bm = bucket_minutes or self.config.bucket_minutes
        return {name: self._bucket_frame(name, bm, categorize) for name in self._traces}

    def _bucket_frame(
        self, name: str, bm: int, categorize: Callable[[str, str], str] | None
    ) -> pd.DataFrame:
        trace = self._traces[name]
        specs = SERVICE_ERROR_TYPES[name]
        n_buckets = int(np.ceil(self.minutes / bm))
        index = pd.date_range(
            pd.Timestamp(self.start), periods=n_buckets, freq=f"{bm}min", tz="UTC"
        )
        bucket = trace.minute // bm
        cols: dict[str, np.ndarray] = {"total_count": np.bincount(bucket, minlength=n_buckets)}
        for s_i, sev in enumerate(SEVERITIES):
            cols[f"{sev}_count"] = np.bincount(
                bucket[trace.severity_index == s_i], minlength=n_buckets
            )
        type_category = np.array(
            [
                CATEGORIES.index(
                    categorize(spec[0], spec[3].replace("{n}", "1")) if categorize else spec[1]
                )
                for spec in specs
            ]
        )
        category = type_category[trace.type_index]
        for c_i, cat in enumerate(CATEGORIES):
            cols[f"{cat}_count"] = np.bincount(bucket[category == c_i], minlength=n_buckets)
        cols["rt_count"] = cols["total_count"].copy()
        rt_sum = np.bincount(bucket, weights=trace.response_time, minlength=n_buckets)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["rt_mean"] = np.where(
                cols["rt_count"] > 0, rt_sum / np.maximum(cols["rt_count"], 1), np.nan
            )
        grouped = pd.Series(trace.response_time).groupby(bucket)
        # a service without errors has no groups, and unstack() then has no columns at all
        q = grouped.quantile([0.95, 0.99]).unstack().reindex(columns=[0.95, 0.99])
        for col_name, values in (
            ("rt_p95", q[0.95]),
            ("rt_p99", q[0.99]),
            ("rt_max", grouped.max()),
        ):
            arr = np.full(n_buckets, np.nan)
            arr[values.index.to_numpy()] = values.to_numpy()
            cols[col_name] = arr
        cols["user_error_count"] = np.bincount(bucket[trace.user >= 0], minlength=n_buckets)
        frame = pd.DataFrame({k: cols[k] for k in BUCKET_COLUMNS}, index=index)
        for k in BUCKET_COLUMNS:
            if k.endswith("_count"):
                frame[k] = frame[k].astype(np.int64)
        usable = n_buckets * bm
        for metric, values in trace.metrics.items():
            padded = np.full(usable, np.nan)
            padded[: min(usable, len(values))] = values[:usable]
            per_bucket = padded.reshape(n_buckets, bm)
            with np.errstate(invalid="ignore"):
                agg = (
                    np.nansum(per_bucket, axis=1)
                    if metric == "request_count"
                    else np.nanmean(per_bucket, axis=1)
                )
            frame[f"metric_{metric}"] = agg
        frame.index.name = "bucket"
        return frame


def _stacktrace(service: str, error_type: str) -> list[dict[str, Any]]:
    module = {
        "django": "donations/views.py",
        "laravel": "app/Http/Controllers/DonorController.php",
        "java": "org/feedinghearts/orders/OrderService.java",
    }.get(service, "src/app.js")
    return [
        {"filename": module, "function": "handle", "lineno": 42 + len(error_type)},
        {"filename": module, "function": f"raise_{error_type.lower()[:20]}", "lineno": 7},
    ]


def _daily_weekly_cycle(minutes: int, start: datetime, frontend: bool) -> np.ndarray:
    t = np.arange(minutes)
    ts = pd.Timestamp(start) + pd.to_timedelta(t, unit="min")
    hour = ts.hour.to_numpy() + ts.minute.to_numpy() / 60.0
    dow = ts.day_of_week.to_numpy()
    peak_hour = 20.0 if frontend else 14.0
    daily = 0.25 + 0.75 * (0.5 + 0.5 * np.cos(2 * np.pi * (hour - peak_hour) / 24.0)) ** 1.5
    weekend = dow >= 5
    weekly = np.where(weekend, 1.15 if frontend else 0.55, 1.0)
    return daily * weekly


# Traffic's noise and day-to-day drift take it this far above the cycle's own peak (the largest
# value of ~2 months of minutes): the load that puts CPU and the pool at their highest.
LOAD_HEADROOM = 1.45


@lru_cache(maxsize=2)
def cycle_levels(frontend: bool) -> tuple[float, float]:
    """Long-run mean and peak of a service's daily and weekly traffic cycle (one whole week).

    Error and request rates are scaled by the mean and the load by the peak: properties of the
    service, not of the simulated window. Scaling by the window's own mean and max drew a short
    window (the demo's five-minute live top-ups) at the daily mean rate and at peak load
    whatever the hour, so after setup every service looked like its own busiest minute.
    """
    week = _daily_weekly_cycle(7 * 1440, FIXED_START, frontend)
    return float(week.mean()), float(week.max())


def simulate(config: SimulationConfig) -> Simulation:
    """Generate the traffic of `config.services` for `config.days`; same config → same output."""
    start = config.start
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=float(config.days))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    minutes = round(config.days * 1440)
    incidents: list[Incident] = []
    near_misses: list[NearMiss] = []
    traces: dict[str, _ServiceTrace] = {}
    # back ends first, so a front end can see their outages (`cascade_fraction`)
    for name in sorted(config.services, key=lambda n: n not in BACKENDS):
        rng = np.random.default_rng([config.seed, SERVICES.index(name)])
        upstream = [i for i in incidents if i.service in BACKENDS]
        trace, svc_incidents, svc_near = _simulate_service(
            name, config, start, minutes, rng, upstream=upstream
        )
        traces[name] = trace
        incidents.extend(svc_incidents)
        near_misses.extend(svc_near)
    incidents.sort(key=lambda i: (i.start, i.service))
    traces = {name: traces[name] for name in config.services}
    return Simulation(
        config=config, start=start, incidents=incidents, near_misses=near_misses, _traces=traces
    )


def _ramp(minutes: int, start: int, end: int, power: float = 2.0) -> np.ndarray:
    """0 before `start`, rising to 1 at `end` (exclusive), 0 after."""
    out = np.zeros(minutes)
    lo, hi = max(start, 0), min(end, minutes)
    if hi > lo:
        out[lo:hi] = ((np.arange(lo, hi) - start + 1) / max(end - start, 1)) ** power
    return out


def _minor_version(release: str) -> int:
    """The minor version of "<service>@<major>.<minor>.<patch>"; 0 for any other form."""
    match = re.search(r"@\d+\.(\d+)", release)
    return int(match.group(1)) if match else 0


def _simulate_service(
    name: str,
    config: SimulationConfig,
    start: datetime,
    minutes: int,
    rng: np.random.Generator,
    upstream: Sequence[Incident] = (),
) -> tuple[_ServiceTrace, list[Incident], list[NearMiss]]:
    frontend = name not in BACKENDS
    specs = SERVICE_ERROR_TYPES[name]
    n_types = len(specs)
    type_category = np.array([spec[1] for spec in specs])
    base_weights = np.array([spec[2] for spec in specs], dtype=float)
    base_weights /= base_weights.sum()

    cycle = _daily_weekly_cycle(minutes, start, frontend)
    traffic = cycle * np.exp(rng.normal(0.0, 0.08, minutes))
    # Smooth slow drift so days are not identical.
    knots = np.arange(0, minutes + 1441, 1440)
    drift = np.interp(np.arange(minutes), knots, np.exp(rng.normal(0.0, 0.1, len(knots))))
    traffic *= drift
    mean_traffic, peak_traffic = cycle_levels(frontend)
    base_rate = config.errors_per_minute * traffic / mean_traffic

    # Deploys: at random times (deploys_per_day on average), each a new release string.
    n_deploys = rng.poisson(config.deploys_per_day * minutes / 1440)
    deploy_minutes = np.sort(rng.integers(0, minutes, size=n_deploys))
    releases = [dict(config.running_releases).get(name) or f"{name}@1.0.0"] + [
        f"{name}@1.{k + 1}.{int(rng.integers(0, 9))}" for k in range(n_deploys)
    ]

    # Components per minute: extra error rate of the incident category, rt multiplier, metric pushes.
    extra_rate = np.zeros((minutes, len(CATEGORIES)))
    critical_share = np.full(minutes, 0.003)
    rt_mult = np.ones(minutes)
    pool_push = np.zeros(minutes)
    cpu_push = np.zeros(minutes)
    mem_push = np.zeros(minutes)
    req_mult = np.ones(minutes)

    causes = _BACKEND_CAUSES if not frontend else _FRONTEND_CAUSES
    weights = _CAUSE_WEIGHTS_BACKEND if not frontend else _CAUSE_WEIGHTS_FRONTEND
    n_incidents = rng.poisson(config.incidents_per_week * minutes / (7 * 1440))
    # Keep incidents apart (>= 6 h) and away from the very start so history precedes them.
    candidates = rng.integers(180, max(minutes - 90, 181), size=n_incidents * 3)
    onsets: list[int] = []
    for c in candidates:
        if len(onsets) >= n_incidents:
            break
        if all(abs(int(c) - o) >= 360 for o in onsets):
            onsets.append(int(c))
    incidents: list[Incident] = []
    for onset in sorted(onsets):
        cause = str(rng.choice(causes, p=weights / weights.sum()))
        category, can_precede = INCIDENT_CAUSES[cause]
        if cause == "bad_release" and len(deploy_minutes):
            # A release goes out a couple of minutes before the outage.
            new_deploy = max(onset - int(rng.integers(1, 4)), 0)
            deploy_minutes = np.sort(np.append(deploy_minutes, new_deploy))
            releases.append(f"{name}@2.{len(releases)}.0")
        has_precursors = bool(can_precede and rng.random() < config.precursor_fraction)
        duration = int(rng.integers(15, 61))
        peak = float(rng.uniform(12.0, 35.0)) * config.errors_per_minute
        end = min(onset + duration, minutes)
        outage = slice(onset, end)
        extra_rate[outage, CATEGORIES.index(category)] += peak
        if category in ("database", "connection"):
            extra_rate[outage, CATEGORIES.index("timeout")] += peak * 0.3
        critical_share[outage] = 0.3
        rt_mult[outage] *= 4.0
        if cause == "db_pool_exhaustion":
            pool_push[outage] = 100.0
        elif cause == "memory_leak":
            mem_push[outage] = 40.0
        elif cause == "traffic_surge":
            cpu_push[outage] = 55.0
            req_mult[outage] *= 2.2
        precursor_start = None
        if has_precursors:
            lead = int(rng.integers(15, 61))
            precursor_start = onset - lead
            ramp = _ramp(minutes, precursor_start, onset, power=1.5)
            _apply_precursor(
                cause,
                ramp,
                extra_rate,
                rt_mult,
                pool_push,
                cpu_push,
                mem_push,
                req_mult,
                config.errors_per_minute,
                category,
            )
        incidents.append(
            Incident(
                incident_id=f"{name}-{onset}",
                service=name,
                start=start + timedelta(minutes=onset),
                end=start + timedelta(minutes=end),
                category=category,
                has_precursors=has_precursors,
                cause_key=cause,
                precursor_start=start + timedelta(minutes=precursor_start)
                if precursor_start is not None
                else None,
                peak_errors_per_minute=round(peak, 2),
            )
        )

    if frontend and config.cascade_fraction > 0:
        incidents += _cascades(
            name, config, start, minutes, upstream, onsets, extra_rate, critical_share, rt_mult
        )

    # Release strings in deploy order (bad releases were inserted above); each incident records
    # the release running at its onset, so "errors started right after release X" is checkable.
    minor = _minor_version(releases[0])
    releases = [releases[0]] + [f"{name}@1.{minor + k + 1}.0" for k in range(len(deploy_minutes))]
    incidents = [
        replace(
            inc,
            release=releases[
                int(
                    np.searchsorted(
                        deploy_minutes, (inc.start - start).total_seconds() // 60, side="right"
                    )
                )
            ],
        )
        for inc in incidents
    ]

    # Near misses: a precursor-shaped rise that fades without an outage.
    near: list[NearMiss] = []
    n_near = rng.poisson(config.near_misses_per_week * minutes / (7 * 1440))
    for _ in range(n_near):
        begin = int(rng.integers(120, max(minutes - 120, 121)))
        if any(abs(begin - o) < 240 for o in onsets):
            continue
        length = int(rng.integers(15, 61))
        cause = str(rng.choice([c for c in causes if INCIDENT_CAUSES[c][1]]))
        ramp = _ramp(minutes, begin, begin + length, power=1.5) * float(rng.uniform(0.3, 0.7))
        _apply_precursor(
            cause,
            ramp,
            extra_rate,
            rt_mult,
            pool_push,
            cpu_push,
            mem_push,
            req_mult,
            config.errors_per_minute,
            INCIDENT_CAUSES[cause][0],
        )
        near.append(
            NearMiss(
                name,
                start + timedelta(minutes=begin),
                start + timedelta(minutes=begin + length),
                cause,
            )
        )

    # Errors: baseline mix plus the extra per-category components, drawn per minute.
    base_counts = rng.poisson(base_rate)
    extra_counts = rng.poisson(extra_rate)  # (minutes, categories)
    minute_parts = [np.repeat(np.arange(minutes), base_counts)]
    type_parts = [rng.choice(n_types, size=int(base_counts.sum()), p=base_weights)]
    for c_i, cat in enumerate(CATEGORIES):
        counts = extra_counts[:, c_i]
        total = int(counts.sum())
        if total == 0:
            continue
        of_cat = np.flatnonzero(type_category == cat)
        if len(of_cat) == 0:  # the service has no such type: it shows up as its api/other errors
            of_cat = np.flatnonzero(np.isin(type_category, ["api", "other"]))
        w = base_weights[of_cat] / base_weights[of_cat].sum()
        minute_parts.append(np.repeat(np.arange(minutes), counts))
        type_parts.append(of_cat[rng.choice(len(of_cat), size=total, p=w)])
    minute = np.concatenate(minute_parts)
    type_index = np.concatenate(type_parts)
    order = np.argsort(minute, kind="stable")
    minute, type_index = minute[order], type_index[order]
    n = len(minute)

    # Severity: mostly error, some warning/info, critical per minute share (high during outages).
    u = rng.random(n)
    crit = critical_share[minute]
    severity_index = np.where(
        u < crit, 4, np.where(u < crit + 0.22, 2, np.where(u < crit + 0.27, 1, 3))
    ).astype(np.int8)
    base_rt = 180.0 if not frontend else 900.0
    response_time = base_rt * rt_mult[minute] * np.exp(rng.normal(0.0, 0.45, n))
    timeouts = np.isin(type_category[type_index], ["timeout"])
    response_time[timeouts] = np.maximum(
        response_time[timeouts], rng.uniform(3000, 30000, int(timeouts.sum()))
    )
    users = rng.zipf(1.3, n) % config.users_per_service
    user = np.where(rng.random(n) < config.user_id_fraction, users, -1)
    release_index = np.searchsorted(deploy_minutes, minute, side="right")

    # System metrics per minute.
    request = 400.0 * (4 if not frontend else 10) * traffic / mean_traffic * req_mult
    load = traffic / (peak_traffic * LOAD_HEADROOM)
    metrics = {
        "response_time_ms": base_rt
        * 0.6
        * rt_mult
        * (1 + 0.3 * load)
        * np.exp(rng.normal(0, 0.05, minutes)),
        "request_count": np.round(request * np.exp(rng.normal(0, 0.05, minutes))),
        "db_pool_in_use": np.clip(20 + 35 * load + rng.normal(0, 3, minutes) + pool_push, 0, 100)
        if not frontend
        else np.zeros(minutes),
        "cpu": np.clip(20 + 35 * load + rng.normal(0, 3, minutes) + cpu_push, 0, 100),
        "memory": np.clip(45 + 10 * load + rng.normal(0, 1.5, minutes) + mem_push, 0, 100),
    }
    if not frontend:
        # Pool pushes are absolute targets while an outage saturates it.
        saturated = pool_push >= 100.0
        metrics["db_pool_in_use"][saturated] = 100.0
    second = rng.uniform(0, 60, n)
    second = second[np.lexsort((second, minute))]  # time order within each minute too
    trace = _ServiceTrace(
        minute=minute.astype(np.int64),
        second=second,
        type_index=type_index.astype(np.int16),
        severity_index=severity_index,
        response_time=response_time,
        user=user.astype(np.int64),
        endpoint_index=rng.integers(0, len(SERVICE_ENDPOINTS[name]), n),
        host_index=rng.integers(0, 4, n),
        release_index=release_index,
        metrics=metrics,
        releases=releases,
        deploy_minutes=deploy_minutes,
    )
    return trace, incidents, near


def _cascades(
    name: str,
    config: SimulationConfig,
    start: datetime,
    minutes: int,
    upstream: Sequence[Incident],
    onsets: list[int],
    extra_rate: np.ndarray,
    critical_share: np.ndarray,
    rt_mult: np.ndarray,
) -> list[Incident]:
    """The back ends' outages this front end sees (`SimulationConfig.cascade_fraction` of them):
    its API calls answered with 5xx from 2–8 minutes after the onset to the outage's end.
    Drawn from a stream of their own, so the traffic without cascades stays what it was."""
    rng = np.random.default_rng([config.seed, SERVICES.index(name), 7])
    found = []
    for outage in upstream:
        onset = int((outage.start - start).total_seconds() // 60) + int(rng.integers(2, 9))
        end = int((outage.end - start).total_seconds() // 60)
        if rng.random() >= config.cascade_fraction or onset >= min(end, minutes):
            continue
        if any(abs(onset - o) < 360 for o in onsets):
            continue  # its own incident is there: one label per outage
        peak = float(rng.uniform(8.0, 25.0)) * config.errors_per_minute
        window = slice(onset, min(end, minutes))
        extra_rate[window, CATEGORIES.index("api")] += peak
        critical_share[window] = 0.3
        rt_mult[window] *= 2.0
        onsets.append(onset)
        found.append(
            Incident(
                incident_id=f"{name}-{onset}",
                service=name,
                start=start + timedelta(minutes=onset),
                end=start + timedelta(minutes=min(end, minutes)),
                category="api",
                has_precursors=False,
                cause_key="upstream_failure",
                peak_errors_per_minute=round(peak, 2),
            )
        )
    return found


def _apply_precursor(
    cause: str,
    ramp: np.ndarray,
    extra_rate: np.ndarray,
    rt_mult: np.ndarray,
    pool_push: np.ndarray,
    cpu_push: np.ndarray,
    mem_push: np.ndarray,
    req_mult: np.ndarray,
    errors_per_minute: float,
    category: str,
) -> None:
    """Rising symptoms before an outage: timeouts up, p95 up, and the cause's own metric."""
    extra_rate[:, CATEGORIES.index("timeout")] += 1.2 * errors_per_minute * ramp
    extra_rate[:, CATEGORIES.index(category)] += 0.6 * errors_per_minute * ramp
    rt_mult *= 1.0 + 1.8 * ramp
    if cause == "db_pool_exhaustion":
        pool_push += 40.0 * ramp
    elif cause == "memory_leak":
        mem_push += 35.0 * ramp
    elif cause == "traffic_surge":
        cpu_push += 40.0 * ramp
        req_mult *= 1.0 + 1.0 * ramp
    elif cause == "upstream_timeout":
        pool_push += 20.0 * ramp
