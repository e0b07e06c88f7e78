"""Root cause: the guide's decision path (error type → service → system state → similar past
issues) with a confidence, and cosine-similarity matching of incident signatures.

A signature is a flat dict of numbers: how each category, severity, latency and system metric in
the recent window compares with the service's own baseline, plus shares of message templates.
Pure numpy/pandas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ml_prediction.engines.catalog import CATEGORIES
from ml_prediction.engines.features import infer_bucket_minutes, normalize_bucket_frame
from ml_prediction.engines.types import InsufficientData, RootCauseResult, SimilarIncident

RECENT_MINUTES = 60
# The traffic's normal level for an hour is the median of the same hour over this many weeks
# before: a week that held a surge (or an outage) at that hour is outvoted by the others.
TRAFFIC_REFERENCE_WEEKS = 4
WINDOW_MINUTES = 4 * RECENT_MINUTES  # the recent hour and the three before it, its baseline
# A past anomaly episode is explained as an analysis this far into it would have seen it (or at
# its end, if shorter). At its first bucket a pool that saturates is often still below its
# threshold and its errors a few among the hour's usual ones, so the onset reads as another cause.
EXPLAIN_AFTER_MINUTES = 15
BACKEND_SERVICES = ("django", "laravel", "java")

# Step 1 of the decision path reads the error type names (and messages, for a caller that keys
# `error_types` by them) in two tiers; see `_weigh_error_names` for how each is weighed.
#
# Names that literally name the mechanism: the failing code reports the cause itself ("pool
# exhausted", HikariPool…, "too many connections", OutOfMemoryError, ChunkLoadError). Searched
# after removing urllib3's "HTTP(S)ConnectionPool(host=…)", which every HTTP client error of
# Python services carries and which names the upstream host, not a database pool.
_REFUSED = re.compile(r"connection refused|econnrefused|refused to connect|actively refused")
_NAMED_MECHANISMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"hikari|connection ?pool|queuepool|\bpool\b|"
            r"pool ?(exhaust|timeout|timed ?out|empty|full|limit|overflow)|"
            r"too ?many ?(connections|clients)|remaining connection slots|"
            r"connection is not available|"
            r"(acquire|obtain)\w* (a )?(jdbc |db |database )?connection|"
            r"sqltransientconnection|databaseconnectiontimeout"
        ),
        "db_pool_exhaustion",
    ),
    (
        re.compile(
            r"out ?of ?memory|memoryerror|memory size|allowed memory|memory limit|heap space|"
            r"oom ?kill"
        ),
        "memory_leak",
    ),
    (re.compile(r"chunkloaderror|loading (css )?chunk"), "bad_release"),
    # the peer answered that nothing listens there: the dependency is down, not slow (and not
    # a database pool that ran out: "could not connect to server: Connection refused")
    (_REFUSED, "network_partition"),
)
_HTTP_CLIENT_POOL = re.compile(r"https?connectionpool(\([^)]*\))?")
# Names of a family of errors: they say which kind of error grew (as the category does, which
# ingestion derives from the same name), not what made it grow.
_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("operationalerror", "db_pool_exhaustion"),
    ("queryexception", "db_pool_exhaustion"),
    ("pdoexception", "db_pool_exhaustion"),
    ("dataaccessresource", "db_pool_exhaustion"),
    ("timeout", "upstream_timeout"),
    ("timed out", "upstream_timeout"),
    ("econnaborted", "upstream_timeout"),
    ("socketexception", "network_partition"),
    ("connectexception", "network_partition"),
    ("networkerror", "network_partition"),
)
# Vote weights, on one scale of how strongly an observation singles out one cause.
_NAMED_WEIGHT = 2.0  # × the share of all the hour's errors whose names name the mechanism
_NAMED_MIN_SHARE = 0.1  # below it, names of a mechanism are the background every service has
_FAMILY_WEIGHT = 0.8  # × the share among the hour's three leading types
_CATEGORY_WEIGHT = 1.0  # the category that grew most, × the share the names leave unexplained
_GAUGE_WEIGHT = 1.5  # a saturated pool / memory / CPU gauge
# p95 more than doubled, with no saturated gauge or traffic step to explain it
_LATENCY_WEIGHT = 0.7
# Traffic surged but no gauge saturated: the extra load can still exhaust what the service
# calls (the generator's surges at 79.5% CPU threw pool and read timeouts), so it is evidence,
# weaker than a saturated gauge and stronger than a slow p95, which every cause shows.
_SURGE_WEIGHT = 1.0
# A back end's incident began shortly before a front end's API errors rose, and no release of
# the front end did: outside evidence as strong as a saturated gauge (without it, the demo's
# react read django's pool outage as its own bad release and recommended rolling react back).
_FLEET_WEIGHT = 1.5
# what a failing API looks like from a front end: 5xx answers, timeouts, refused connections
_UPSTREAM_CATEGORIES = ("api", "timeout", "connection")
# × the similarity of a past incident of known cause: a tie-breaker, below a saturated gauge or a
# named mechanism (at 1.5 the generator's incidents matched with an earlier one of another cause
# took its cause: 137 → 113 right with the library on seed 44; `evaluate prediction` reports it)
_PAST_WEIGHT = 0.5
_PAST_MIN_SIMILARITY = 0.8  # ... at least this similar
# A release first seen shortly before the errors rose: as strong as a saturated gauge, × the share
# of the hour's errors that carry it ("what changed?" is the first question of an incident; a
# Flutter release whose HttpExceptions read as connection errors was filed a network partition).
_RELEASE_WEIGHT = 1.5
RELEASE_LEAD_MINUTES = 30  # a release first seen this long before the rise (or at it) preceded it
# How far before the explained hour a release's first error is looked for: one not seen in it
# is new, as a rollback to an old release is a change too.
RELEASE_LOOKBACK = timedelta(days=1)
# api errors grew but the errors' releases show that none went out before the rise: the guess
# "the latest release" keeps this share of its vote.
_NO_RELEASE_FACTOR = 0.5
_CATEGORY_CAUSE = {
    "database": "db_pool_exhaustion",
    "timeout": "upstream_timeout",
    "connection": "network_partition",
    "memory": "memory_leak",
    "api": "bad_release",
    "auth": "auth_failure",
}
# Causes whose first question is "which dependency?": the host most of the hour's errors name
# (`_named_dependency`) is said in the hypothesis and the actions.
DEPENDENCY_CAUSES = ("upstream_timeout", "network_partition")
_DEPENDENCY_MIN_SHARE = 0.2  # of all the hour's errors: below it the host is a bystander
_DEPENDENCY_MAJORITY = 0.5  # of the errors that name a host or a kind of error
_DEPENDENCY_HYPOTHESES = {
    "upstream_timeout": "{dependency} is slow and requests to it time out",
    "network_partition": "the network path to {dependency} is failing",
    "refused": "{dependency} refuses connections (down, or not listening)",
}
_REFUSED_HYPOTHESIS = "a dependency refuses connections (down, or not listening)"
_HYPOTHESES = {
    "db_pool_exhaustion": "database connections are exhausted",
    "upstream_timeout": "a dependency is slow and requests time out",
    "memory_leak": "memory is leaking and workers run out of it",
    "traffic_surge": "a traffic surge overloads the service",
    "cpu_saturation": "CPU is saturated",
    "network_partition": "the network path to a dependency is failing",
    "bad_release": "the latest release introduced a fault",
    "auth_failure": "authentication is failing for many users",
    "upstream_failure": "a back end it calls is failing",
    "service_silent": "the service went silent: down, or its error reporting stopped",
    # not given by this engine, but preventive actions may carry them (actions.CAUSE_ACTIONS)
    "slow_queries": "slow queries hold the database",
    "stale_cache": "a stale cache serves outdated data",
    "unknown": "no single cause stands out",
}


def cause_phrase(cause_key: str) -> str:
    """A cause key in words, as the hypotheses say it ("database connections are exhausted"),
    for whoever reads it rather than filters on it; a key without a sentence keeps its words."""
    return _HYPOTHESES.get(cause_key, cause_key.replace("_", " "))


# a number may carry a unit ("after 30000ms", "512MB"): the unit stays, the value goes
_NUMBER = re.compile(
    r"\b(0x[0-9a-f]+\b|[0-9a-f]{8}-[0-9a-f-]{27,}\b|\d+(\.\d+)?(?=[a-z%]{0,4}\b))", re.IGNORECASE
)
# A quoted host is the dependency the error failed on, not a variable part: urllib3's
# "HTTPSConnectionPool(host='payments', port=443)", libpq's 'on host "db"'. Timeouts towards
# payments and towards inventory are two incidents, and the root cause names the one it sees.
_QUOTED = re.compile(
    r"(?P<host>\bhost[= ](?:'[^']*'|\"[^\"]*\"))|'[^']*'|\"[^\"]*\"", re.IGNORECASE
)


def message_template(message: str) -> str:
    """A message with its variable parts (numbers, ids, quoted values other than a host)
    replaced by placeholders."""
    text = _QUOTED.sub(lambda m: m["host"] or "<str>", message or "")
    text = _NUMBER.sub("<n>", text)
    return re.sub(r"\s+", " ", text).strip()[:200]


# Where an error says which dependency it failed on (each pattern's group 1 is the host):
# urllib3 and libpq's quoted host, a URL's host, a DNS failure's name, and "host:port" after
# the words that introduce it ("refused: inventory-service:8080", "on db:5432",
# "connect to redis at cache:6379", curl's "Failed to connect to api port 443"), Dart's
# "address = api". An IP address is no name (a template makes it <n>).
_DEPENDENCY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bhost[= ]['\"]([^'\"\s]+)['\"]"),
    # not a link to documentation (curl: "(see https://curl.haxx.se/…) for https://payments/…")
    re.compile(
        r"(?<!see )\b[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?([a-z0-9][a-z0-9.-]*[a-z0-9])(?=[:/\s'\")?#]|$)"
    ),
    re.compile(
        r"(?:enotfound|eai_again|resolve host:?|unknownhostexception:?|unknown host:?|\blookup)"
        r"\s+['\"]?([a-z0-9][a-z0-9.-]*[a-z0-9])"
    ),
    re.compile(
        r"(?:\bto|\bon|\bat|\bfrom|refused:?|reset:?|\bconnect(?:ing)?:?)\s+"
        r"([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)(?:/[^\s:]*)?(?::| port )(?:<n>|\d{1,5}\b)"
    ),
    # Dart's SocketException: "Connection refused, errno = 111, address = api.example.org"
    re.compile(r"\baddress = ([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)"),
)
# a stack frame's file or a position, not a host ("at main.js:42", "at line:5")
_SOURCE_FILE = re.compile(r"\.(js|mjs|cjs|ts|tsx|jsx|vue|py|java|kt|php|dart|rb|go|cs)$")
_NOT_HOSTS = frozenset(
    (
        "line",
        "column",
        "col",
        "position",
        "pos",
        "offset",
        "index",
        "row",
        "port",
        "errno",
        "code",
        "status",
    )
)


def dependency_in_message(message: str) -> str:
    """The host an error says it failed to reach, lower-cased ("payments", "inventory-service",
    "db"), or "" when it names none. Works on raw messages and on templates."""
    text = str(message or "").lower()
    for pattern in _DEPENDENCY_PATTERNS:
        for match in pattern.finditer(text):
            host = match.group(1).strip(".")
            if (
                host
                and "<" not in host
                and host not in _NOT_HOSTS
                and not _SOURCE_FILE.search(host)
                and not re.fullmatch(r"[\d.]+", host)  # an IP address written out
            ):
                return host
    return ""


@dataclass(frozen=True)
class FleetIncident:
    """An incident of another service that the analyses flagged: when it began (its episode's
    first flagged bucket) and the cause they gave it ("" when none yet)."""

    service: str
    began_at: datetime
    cause_key: str = ""


# Another service's incident that began this long before the explained errors rose (or with
# them) is named beside them, and a back end's may be the front end's cause: one failure seen
# from several services is one incident to work on.
FLEET_LEAD_MINUTES = 30


@dataclass(frozen=True)
class ReleaseSeen:
    """A release that errors of the explained hour carried.

    ``errors``: how many of the hour's errors carried it (or of a sample of them);
    ``first_seen``: the first error carrying it in a look-back of a day or more before the hour,
    which is when it went out as far as the error stream can tell.
    """

    release: str
    errors: int
    first_seen: datetime


def _rise_start(recent: pd.DataFrame, base: pd.DataFrame) -> pd.Timestamp | None:
    """Where the latest surge of errors in the recent part began: in its last run of buckets
    that stand out from the baseline (more than twice its median plus two and beyond three
    robust SDs; a single quieter bucket inside the run does not end it), the first bucket with a
    quarter of the run's peak.

    The last run, not the first: an hour can hold a blip of its own before the surge being
    explained (found by the clock sweep at Sat 12:00: a flagged bucket 40 minutes before an
    outage dated the rise there, and the release that brought the outage looked 40 minutes late).
    """
    columns = [f"{cat}_count" for cat in CATEGORIES]
    totals = recent[columns].sum(axis=1).to_numpy(dtype=float)
    if len(base):
        before = base[columns].sum(axis=1).to_numpy(dtype=float)
        median = float(np.median(before))
        spread = 1.4826 * float(np.median(np.abs(before - median)))
        bar = max(2 * median + 2, median + 3 * spread)
    elif len(totals):
        bar = 2 * float(totals.min()) + 2
    else:
        return None
    over = np.flatnonzero(totals > bar)
    if not len(over):
        return None
    first = len(over) - 1
    while first > 0 and over[first] - over[first - 1] <= 2:  # one quieter bucket between
        first -= 1
    run = over[first:]
    # its first bucket with a quarter of the run's peak: a quiet service's noise can put the
    # bucket before an outage just over the bar (7 errors against a median of 2, then 128)
    strong = run[totals[run] >= totals[run].max() / 4]
    return pd.Timestamp(recent.index[strong[0]])


def _utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class _ReleaseEvidence:
    vote: float = 0.0  # for bad_release: a release preceded the rise
    factor: float = 1.0  # on bad_release's other votes: releases are known and none preceded it
    path: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    release: str = ""  # the release that preceded the rise


def _weigh_releases(
    releases: list[ReleaseSeen], rise: pd.Timestamp | None, bucket_minutes: int
) -> _ReleaseEvidence:
    """What the releases the hour's errors carried say of a bad release: one first seen from
    RELEASE_LEAD_MINUTES before the rise to the end of the rise's bucket preceded it."""
    named = [r for r in releases if r.release and r.errors > 0]
    first_seen = {r.release: _utc(r.first_seen) for r in named}
    if not named:
        return _ReleaseEvidence(path=("service: the errors carry no release names",))
    if rise is None:
        return _ReleaseEvidence(path=("service: no rise of errors to date a release against",))
    total = sum(r.errors for r in releases if r.errors > 0)
    start = rise - pd.Timedelta(minutes=RELEASE_LEAD_MINUTES)
    end = rise + pd.Timedelta(minutes=bucket_minutes)
    preceding = [r for r in named if start <= first_seen[r.release] < end]
    if not preceding:
        newest = max(named, key=lambda r: first_seen[r.release])
        return _ReleaseEvidence(
            factor=_NO_RELEASE_FACTOR,
            path=(
                f"service: no release went out before the errors rose (newest: "
                f"{newest.release}, first seen {first_seen[newest.release]:%Y-%m-%d %H:%M} UTC)",
            ),
        )
    best = max(preceding, key=lambda r: r.errors)
    share = best.errors / total
    first = first_seen[best.release]
    lead = (rise - first).total_seconds() / 60
    when = f"{lead:.0f} min before the errors rose" if lead >= 1 else "as the errors rose"
    return _ReleaseEvidence(
        vote=_RELEASE_WEIGHT * share,
        path=(
            f"service: release {best.release} first seen at {first:%H:%M} UTC, {when}; "
            f"it carries {share:.0%} of the errors → bad_release",
        ),
        numbers=(f"release {best.release} first seen {first:%H:%M} UTC",),
        release=best.release,
    )


@dataclass(frozen=True)
class PastIncident:
    incident_id: str
    cause_key: str
    signature: dict[str, float]
    summary: str = ""
    occurred_at: datetime | None = None
    templates: dict[str, float] = field(default_factory=dict)


def episode_explained_at(
    start: pd.Timestamp, last: pd.Timestamp, bucket: pd.Timedelta
) -> pd.Timestamp:
    """The bucket up to which an episode from ``start`` to ``last`` is explained.

    One moment for the deep rescoring, the incident library and the root-cause evaluation: a
    library incident signed at another moment than the one it is later compared with never
    looks like it (its onset hour held the usual errors, not the outage's).
    """
    offset = max(pd.Timedelta(minutes=EXPLAIN_AFTER_MINUTES) - bucket, pd.Timedelta(0))
    return min(pd.Timestamp(last), pd.Timestamp(start) + offset)


def evidence_window(frame: pd.DataFrame) -> pd.DataFrame:
    """The buckets a root cause reads its evidence from: the last WINDOW_MINUTES of ``frame``.

    Whatever span a caller passes, the baseline is the three hours before the recent one: the
    product passed four hours and the evaluation a day, so the evaluation measured an engine
    the product did not run (a day's baseline holds the night before). A longer frame gives
    only the traffic's reference (the same time yesterday) and the latency's normal level
    (`analyze_root_cause`).
    """
    if "bucket_minutes" in frame.attrs:
        bm = int(frame.attrs["bucket_minutes"])
    elif isinstance(frame.index, pd.DatetimeIndex):
        bm = infer_bucket_minutes(frame.index)
    else:
        return frame
    window = frame.tail(max(WINDOW_MINUTES // bm, 1))
    window.attrs = dict(frame.attrs)
    return window


def _split(
    data: pd.DataFrame, since: datetime | pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(recent hour, baseline before it); the recent part starts no earlier than ``since``.

    ``since`` is where the episode being explained may begin: just after the episode before
    it. Without it an outage that began half an hour after a burst of denied logins was
    explained on an hour that held both, and read as a slow dependency (its pool's errors were
    56% of that hour's, 97% of its own). The buckets between the baseline and ``since`` belong
    to the other episode and count in neither part.
    """
    bm = data.attrs.get("bucket_minutes", 5)
    n_recent = max(RECENT_MINUTES // bm, 1)
    if len(data) <= n_recent:
        recent, base = data.iloc[-n_recent:], data.iloc[:0]
    else:
        recent, base = data.iloc[-n_recent:], data.iloc[:-n_recent]
    if since is not None:
        own = recent[recent.index >= pd.Timestamp(since)]
        if len(own):
            recent = own
    return recent, base


def evidence_start(end: datetime, since: datetime | None) -> datetime:
    """Where the error names explaining the recent hour up to ``end`` are counted from: the
    hour, or ``since`` (the end of the episode before the one explained) when that is later,
    as `_split` cuts the buckets."""
    hour = end - timedelta(minutes=RECENT_MINUTES)
    return hour if since is None else max(hour, since)


def _span(recent: pd.DataFrame, data: pd.DataFrame) -> str:
    """The recent part as the hypothesis says it: "the last hour", or "since 03:20 UTC" when it
    was cut to the episode (an absolute time, which `cause_as_of` leaves as it is)."""
    bm = data.attrs.get("bucket_minutes", 5)
    if len(recent) >= max(RECENT_MINUTES // bm, 1) or len(recent) == len(data):
        return "the last hour"
    return f"since {pd.Timestamp(recent.index[0]).tz_convert('UTC'):%H:%M} UTC"


# The hypotheses are written relative to the analysis that computed them ("in the last hour").
_RELATIVE_HOUR = re.compile(r"\b(in|over) the last hour\b")


_STEP_CONCLUSION = re.compile(r"^(?P<head>.*) → (?P<key>[a-z_]+)$", re.DOTALL)
# a cause key inside a step ("… name memory_leak, but only 1% …", "… (bad_release), similarity")
_STEP_KEY = re.compile(r"\b(" + "|".join(k for k in _HYPOTHESES if "_" in k) + r")\b")


def step_in_words(step: str) -> str:
    """A decision-path step as people read it: its conclusion's cause key in words
    ("… db pool at 97% → database connections are exhausted"), a key inside it as plain words
    ("name memory leak"). The stored path keeps the keys, which API clients match on; a page or
    an email says what they mean."""
    match = _STEP_CONCLUSION.match(step)
    head, tail = (match["head"], f" → {cause_phrase(match['key'])}") if match else (step, "")
    return _STEP_KEY.sub(lambda m: m[1].replace("_", " "), head) + tail


def cause_as_of(text: str, *, at: datetime) -> str:
    """A hypothesis with its "the last hour" said as the hour it meant ("the hour before
    Nov 25 22:45 UTC"). Read later, or kept by a later run, "in the last hour" reads as now;
    the stored text stays as the analysis wrote it, only what people read says which hour."""
    stamp = f"{pd.Timestamp(at).tz_convert('UTC'):%b %d %H:%M} UTC"
    return _RELATIVE_HOUR.sub(lambda m: f"{m.group(1)} the hour before {stamp}", text)


def _bounded(log_ratio: float) -> float:
    """A log ratio squashed into -1..1 like the signature's shares and gauge z-scores.

    Unbounded, the two ratios (3 to 5 in every outage: errors ×20, p95 ×100) outweighed the
    shares and message templates that tell one cause from another, so the cosine of two
    incidents of different causes was ≥ 0.8 for about half of the simulator's pairs, and an
    outage signed 15 minutes in did not look like itself 30 minutes in (its latency median still
    rising). `python manage.py evaluate prediction` reports the library's matches.
    """
    return float(np.tanh(log_ratio / 2.0))


def incident_signature(
    frame: pd.DataFrame,
    *,
    error_types: dict[str, int] | None = None,
    since: datetime | pd.Timestamp | None = None,
) -> dict[str, float]:
    """The recent hour (from ``since``, see `_split`) versus the baseline before it, as a dict
    of comparable numbers.

    `error_types` (error type or message → count) adds "tpl:" template shares.
    """
    data = evidence_window(normalize_bucket_frame(frame))
    recent, base = _split(data, since)
    signature: dict[str, float] = {}
    recent_total = float(recent["total_count"].sum())
    base_rate = float(base["total_count"].mean()) if len(base) else 0.0
    signature["error_rate_ratio"] = _bounded(
        float(np.log1p(recent["total_count"].mean()) - np.log1p(base_rate))
    )
    for cat in CATEGORIES:
        signature[f"share_{cat}"] = (
            float(recent[f"{cat}_count"].sum() / recent_total) if recent_total else 0.0
        )
    signature["share_critical"] = (
        float(recent["critical_count"].sum() / recent_total) if recent_total else 0.0
    )
    p95_recent = float(recent["rt_p95"].median()) if recent["rt_p95"].notna().any() else 0.0
    p95_base = (
        float(base["rt_p95"].median()) if len(base) and base["rt_p95"].notna().any() else p95_recent
    )
    # A latency below zero (a client's skewed clock) is no latency: log1p of it is NaN, and a
    # NaN in a stored signature silently stops the incident from ever matching again.
    signature["p95_ratio"] = _bounded(
        float(np.log1p(max(p95_recent, 0.0)) - np.log1p(max(p95_base, 0.0)))
    )
    for col in sorted(c for c in data.columns if c.startswith("metric_")):
        r = recent[col].dropna()
        b = base[col].dropna() if len(base) else pd.Series(dtype=float)
        if r.empty:
            continue
        spread = float(b.std()) if len(b) > 2 else 0.0
        center = float(b.mean()) if len(b) else float(r.mean())
        z = (float(r.max()) - center) / (spread + 1e-6 + 0.05 * abs(center))
        signature[f"{col}_z"] = float(np.clip(z, -10, 10)) / 10.0
    counts = _error_counts(error_types) if error_types else []
    if counts:
        total = float(sum(count for _, count in counts)) or 1.0
        templates: dict[str, float] = {}
        for key, count in counts:
            tpl = "tpl:" + message_template(str(key)).lower()
            templates[tpl] = templates.get(tpl, 0.0) + count / total
        signature.update(templates)
    return signature


# More errors than this in an hour is corrupt data; the cap keeps sums of counts finite.
_MAX_ERROR_COUNT = 1e15


def _error_counts(error_types: Mapping[Any, Any]) -> list[tuple[Any, float]]:
    """(name, count) for the counts that are numbers (``"5"`` is 5), finite and not negative;
    others (None, NaN, "many", -3) are dropped: a NaN share stored in a signature never matches
    again, and a None failed the whole root cause."""
    counts = []
    for key, value in error_types.items():
        try:
            count = float(value)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(count) and count >= 0:
            counts.append((key, min(count, _MAX_ERROR_COUNT)))
    return counts


def cosine_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine over the union of keys (missing = 0), clipped to 0..1."""
    keys = sorted(set(a) | set(b))
    if not keys:
        return 0.0
    va = np.array([a.get(k, 0.0) for k in keys])
    vb = np.array([b.get(k, 0.0) for k in keys])
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:
        return 0.0
    return float(np.clip(va @ vb / (na * nb), 0.0, 1.0))


# A surge: the hour's peak traffic this many times its reference (`_traffic`) …
_SURGE_RATIO = 1.5
# … or this many times the hour's own typical level (a step up within the hour) while above the
# reference by more than a day-to-day difference (a Saturday's traffic is not a Friday's).
_SURGE_STEP_ABOVE_REFERENCE = 1.2


@dataclass(frozen=True)
class _Traffic:
    """The recent hour's request rate against its reference."""

    peak: float  # the hour's highest bucket
    hour_level: float  # the hour's median bucket
    reference: float  # NaN when unknown
    against: str  # what the reference is, as the decision path says it


def _weekly_reference(
    week_ago: float | Sequence[float | None] | None,
) -> tuple[float, str] | None:
    """The same hour's request rate in earlier weeks (newest first) as one reference: the
    median of the weeks known, and how the decision path says it. A rate that is not a finite
    count of requests (a client may send any number as a metric) is not known."""
    values = [week_ago] if isinstance(week_ago, int | float) else list(week_ago or [])
    known = [
        (weeks, float(v))
        for weeks, v in enumerate(values, start=1)
        if v is not None and math.isfinite(v) and v >= 0
    ]
    if not known:
        return None
    if len(known) > 1:
        median = float(np.median([v for _, v in known]))
        return median, f"the same hour of {len(known)} earlier weeks (median)"
    weeks, value = known[0]
    return value, "the same hour last week" if weeks == 1 else f"the same hour {weeks} weeks ago"


def _traffic(
    context: pd.DataFrame,
    recent: pd.DataFrame,
    requests: tuple[float, float] | None,
    week_ago: float | Sequence[float | None] | None,
) -> _Traffic | None:
    """The hour's traffic and its reference: the same hour in earlier weeks when known (the
    product's own model of normal is the hour of the week; `_weekly_reference`), else the same
    time yesterday when the frame spans about a day (its oldest hour; a daily peak is not a
    surge), else the three hours before."""
    if requests is None or "metric_request_count" not in context.columns:
        return None
    # A request rate below zero is no rate (a client may send any number as a metric): the
    # property test found "traffic from -1 to -1 within the hour" voting for a surge.
    series = context["metric_request_count"].where(context["metric_request_count"] >= 0)
    rates = recent["metric_request_count"].where(recent["metric_request_count"] >= 0).dropna()
    if rates.empty:
        return None
    baseline = requests[1] if requests[1] >= 0 else float("nan")
    bm = context.attrs.get("bucket_minutes", 5)
    weekly = _weekly_reference(week_ago)
    if weekly is not None:
        reference, against = weekly
    elif len(series) >= (1440 - 2 * RECENT_MINUTES) // bm:
        reference = float(series.iloc[: max(RECENT_MINUTES // bm, 1)].mean())
        against = "the same time yesterday"
    else:
        reference, against = baseline, "the hours before"
    return _Traffic(float(rates.max()), float(rates.median()), reference, against)


def _surge(traffic: _Traffic | None) -> str | None:
    """How the decision path shows the recent hour's traffic surge, or None when there was none.

    A surge is the hour's peak traffic far above its reference (`_traffic`): "traffic ×3.2
    against the same hour last week", or "traffic from 0 to 120 …" when the reference had
    none (a quiet night, a metric that just started reporting: a ratio to zero is no number,
    and dividing by it failed the whole analysis). Or a step up within the hour that is also
    above the reference's level (`_traffic_step`).

    Why the step: against yesterday alone, a surge on a quieter day hid. On the generator's
    Saturdays, traffic that doubled within ten minutes and took the CPU to 86% was 1.29× the
    Friday before, and the saturated CPU read as the service's own (cpu_saturation). A normal
    daily peak rises over hours (no step within the hour) and stays near yesterday's.
    """
    if traffic is None:
        return None
    peak, reference = traffic.peak, traffic.reference
    if reference == reference and peak > _SURGE_RATIO * reference:
        if reference > 0:
            return f"traffic ×{peak / reference:.1f} against {traffic.against}"
        return f"traffic from {reference:.0f} to {peak:.0f} against {traffic.against}"
    return _traffic_step(traffic)


def _traffic_step(traffic: _Traffic | None) -> str | None:
    """How the decision path shows a step up of traffic within the recent hour that is also
    above its reference ("traffic ×2.3 within the hour"), or None.

    The sudden part of a surge, which a daily or weekly rise has not: it is what counts as a
    surge when no gauge saturated. Against the same time yesterday, eight of the generator's
    incidents of other causes (seed 8) had 1.5–3× the traffic (a Monday evening's normal
    traffic is 3× the Sunday's); none of them stepped up by more than 1.2× within its hour.
    """
    if traffic is None:
        return None
    peak, level, reference = traffic.peak, traffic.hour_level, traffic.reference
    stepped = level == level and peak > _SURGE_RATIO * level
    if not stepped or (reference == reference and peak <= _SURGE_STEP_ABOVE_REFERENCE * reference):
        return None
    if level > 0:
        return f"traffic ×{peak / level:.1f} within the hour"
    return f"traffic from {level:.0f} to {peak:.0f} within the hour"


def _name_hint(name: str) -> tuple[str, bool] | None:
    """(cause, whether the name names the mechanism itself) for one error type or message."""
    lowered = str(name).lower()
    text = _HTTP_CLIENT_POOL.sub(" ", lowered)
    for pattern, cause in _NAMED_MECHANISMS:
        if pattern.search(text):
            return cause, True
    for fragment, cause in _TYPE_HINTS:
        if fragment in lowered:
            return cause, False
    return None


@dataclass(frozen=True)
class _NameEvidence:
    named: dict[str, float]  # cause → vote of the names that name its mechanism
    family: dict[str, float]  # cause → vote of the names of an error family
    path: list[str]
    numbers: list[str]
    named_share: float  # share of all the hour's errors whose names name their mechanism


def _weigh_error_names(error_types: dict[str, int]) -> _NameEvidence:
    """Votes from the error type names of the recent hour (step 1 with the category surge).

    The votes of the whole decision path add up like log-likelihood ratios: each is roughly how
    much more often its observation is seen under one cause than under the others. So a vote's
    weight follows how specific its observation is to one cause, and one observation is counted
    once however many ways it is read.

    - A name that literally names the mechanism ("connection pool exhausted",
      HikariPoolTimeoutException, "too many connections", OutOfMemoryError, ChunkLoadError) is
      the failing code reporting the cause: practically never seen under another cause. It is the
      strongest evidence of the path: 2.0 × the share of *all* the hour's errors it accounts for,
      more than a saturated gauge or a near-identical past incident (1.5), which read the cause
      from outside. Weighing it by its share of every error keeps a chronic background error
      that happens to name a pool from outvoting the errors that actually grew; under 10% of the
      hour's errors it is background and only listed.
    - A name of a family of errors (OperationalError, …Timeout…, ConnectException) says which
      kind of error it is, nothing more: 0.8 × its share among the three leading types.
    - The category surge is not independent of either: ingestion derives the category from the
      same type name and message (first rule first, so "HikariPoolTimeoutException" and
      "DatabaseConnectionTimeout" are *timeout* errors there). Added in full to the names it
      would count one observation twice, and let its coarse reading outvote the exact one. So
      the category (1.0) votes only for the share of errors the mechanism names leave
      unexplained, 1.0 × (1 − named share), and for one cause the category and the family names
      give the larger of their votes, not the sum (`analyze_root_cause`).

    With latency (0.7) also pointing elsewhere, names of one mechanism decide the step once
    they are more than about 57% of the hour's errors: 2.0·s > 1.0·(1 − s) + 0.7.
    """
    named_votes: dict[str, float] = {}
    family: dict[str, float] = {}
    path: list[str] = []
    numbers: list[str] = []
    counts = {str(k): v for k, v in _error_counts(error_types)}
    total = sum(counts.values())
    hints = {name: _name_hint(name) for name in counts}
    named: dict[str, list[tuple[str, float]]] = {}
    for name, count in counts.items():
        hint = hints[name]
        if hint is not None and hint[1] and count > 0:
            named.setdefault(hint[0], []).append((name, count))
    named_share = 0.0
    for cause, items in sorted(named.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        share = sum(c for _, c in items) / total
        items.sort(key=lambda t: -t[1])
        listed = ", ".join(f"{n} ({c:.0f})" for n, c in items[:3])
        more = f" and {len(items) - 3} more" if len(items) > 3 else ""
        if share < _NAMED_MIN_SHARE:
            path.append(
                f"error type: {listed}{more} name {cause}, but only {share:.0%} of the hour's "
                "errors: background"
            )
            continue
        named_share += share
        verb = "name" if len(items) > 1 else "names"
        named_votes[cause] = named_votes.get(cause, 0.0) + _NAMED_WEIGHT * share
        path.append(
            f"error type: {listed}{more} {verb} the mechanism, {share:.0%} of the hour's errors"
            f" → {cause}"
        )
        similar = " and similar" if len(items) > 1 else ""
        numbers.append(f"{share:.0%} of errors are {items[0][0]}{similar}")
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    ranked_total = max(sum(c for _, c in ranked), 1.0)
    for name, count in ranked:
        hint = hints[name]
        if hint is None or hint[1]:
            continue
        cause = hint[0]
        family[cause] = family.get(cause, 0.0) + _FAMILY_WEIGHT * count / ranked_total
        path.append(f"error type: {name} ({count:.0f}) → {cause}")
    return _NameEvidence(named_votes, family, path, numbers, min(named_share, 1.0))


@dataclass(frozen=True)
class _Dependency:
    host: str
    share: float  # of all the hour's errors
    refused: bool  # most of them say the connection was refused
    example: str  # the error name that names it most often


def _named_dependency(error_types: Mapping[Any, Any]) -> _Dependency | None:
    """The dependency the hour's errors say they failed on (`dependency_in_message`), when one
    host is named by most of the errors that point anywhere (name a host, or a kind of error:
    `_name_hint`) and by a fifth of all of them.

    A name that points at another mechanism (a database pool, memory, a release) never names
    the dependency — a background of "connection refused on db:5432" says nothing of which
    upstream is slow — but it counts against one: when as many errors are database timeouts
    as are timeouts towards payments, "payments is slow" is half the story (found in the demo).
    """
    counts = _error_counts(error_types)
    total = sum(c for _, c in counts)
    if not total:
        return None
    pointing = 0.0
    per_host: dict[str, float] = {}
    refused: dict[str, float] = {}
    examples: dict[str, tuple[float, str]] = {}
    for key, count in counts:
        name = str(key)
        hint = _name_hint(name)
        host = dependency_in_message(name)
        if hint is not None or host:
            pointing += count
        if not host or not count or (hint is not None and hint[0] not in DEPENDENCY_CAUSES):
            continue
        per_host[host] = per_host.get(host, 0.0) + count
        if _REFUSED.search(name.lower()):
            refused[host] = refused.get(host, 0.0) + count
        if count > examples.get(host, (0.0, ""))[0]:
            examples[host] = (count, name)
    if not per_host:
        return None
    host, count = max(per_host.items(), key=lambda kv: kv[1])
    if count <= _DEPENDENCY_MAJORITY * pointing or count < _DEPENDENCY_MIN_SHARE * total:
        return None
    return _Dependency(host, count / total, refused.get(host, 0.0) > count / 2, examples[host][1])


def _mostly_refused(error_types: Mapping[Any, Any]) -> bool:
    """Whether most of the hour's errors that point at a failing network path say that the
    connection was refused (the peer is up, nothing listens: the dependency is down)."""
    pointing = refused = 0.0
    for key, count in _error_counts(error_types):
        hint = _name_hint(str(key))
        if hint is not None and hint[0] == "network_partition":
            pointing += count
            refused += count if _REFUSED.search(str(key).lower()) else 0.0
    return refused > pointing / 2


def _fleet_lines(
    fleet: list[FleetIncident], *, service: str, rise: pd.Timestamp | None, bucket_minutes: int
) -> list[tuple[FleetIncident, str]]:
    """Other services' incidents that began from FLEET_LEAD_MINUTES before the rise to the end
    of its bucket, earliest first, each with its line: "django's incident began 4 min before
    (database connections are exhausted)". A front end's 500s during its API's outage are that
    outage, and on-call should see that before rolling back the front end."""
    if rise is None:
        return []
    start = rise - pd.Timedelta(minutes=FLEET_LEAD_MINUTES)
    end = rise + pd.Timedelta(minutes=bucket_minutes)
    earliest: dict[str, FleetIncident] = {}
    for incident in fleet:
        began = _utc(incident.began_at)
        if incident.service == service or not start <= began < end:
            continue
        known = earliest.get(incident.service)
        if known is None or began < _utc(known.began_at):
            earliest[incident.service] = incident
    lines = []
    for incident in sorted(earliest.values(), key=lambda i: _utc(i.began_at))[:3]:
        lead = (rise - _utc(incident.began_at)).total_seconds() / 60
        when = f"{lead:.0f} min before these errors rose" if lead >= 1 else "as these errors rose"
        known_cause = incident.cause_key not in ("", "unknown")
        cause = f" ({cause_phrase(incident.cause_key)})" if known_cause else ""
        lines.append((incident, f"{incident.service}'s incident began {when}{cause}"))
    return lines


# A service that sends no errors at all where it sent plenty is not "fewer errors": it may be
# down, or its error reporting broke (the predictions then read a healthy silence).
# trailing buckets without a single error ... (one is enough where the window before sent 10 a
# bucket: a busy service's first empty bucket is what the detector flags, and a quick run that
# explained it as "unknown" kept that cause until the next full run)
SILENT_MIN_BUCKETS = 1
SILENT_MIN_ERRORS = 10.0  # ... where the buckets before would have sent this many in all
# (lower than the anomaly detector's bar for a silence: the detector decides whether the empty
# run is rare for this service; this only tells a flagged silence from fewer errors, and a busy
# service's page comes at its second empty bucket)
_SILENT_PHRASES = {
    "stopped": "it stopped reporting: down, or it cannot reach the error API",
    "go_on": "its error reporting stopped while its metrics go on (SDK set-up, DSN, ingest key)",
    "none": "it went silent: down, or its error reporting stopped",
}
_SILENT_CONFIDENCE = {"stopped": 0.8, "go_on": 0.7, "none": 0.6}


@dataclass(frozen=True)
class _Silence:
    began: pd.Timestamp
    buckets: int
    usual: float  # errors per bucket in the window before the silence
    metrics: str  # "stopped" (they came before, none since), "go_on", "none" (never sampled)


def _metric_samples(raw: pd.DataFrame) -> pd.Series | None:
    """Per raw row, whether any metric was sampled (the bucket frame forward-fills metrics, so
    a metric that stopped still looks present there); None without metric columns."""
    columns = [c for c in raw.columns if str(c).startswith("metric_")]
    if not columns:
        return None
    try:
        index = pd.DatetimeIndex(pd.to_datetime(raw.index, utc=True))
    except (TypeError, ValueError):
        return None
    sampled = raw[columns].apply(pd.to_numeric, errors="coerce").notna().any(axis=1)
    return pd.Series(sampled.to_numpy(), index=index)


def _silence(data: pd.DataFrame, raw: pd.DataFrame) -> _Silence | None:
    """The trailing run of buckets without errors, when the buckets before it would have sent
    SILENT_MIN_ERRORS over as long a run (a quiet night's empty buckets are not a silence)."""
    totals = data["total_count"].to_numpy(dtype=float)
    run = 0
    while run < len(totals) and totals[len(totals) - 1 - run] <= 0:
        run += 1
    if run < SILENT_MIN_BUCKETS or run >= len(totals):
        return None
    usual = float(totals[:-run].mean())
    if usual * run < SILENT_MIN_ERRORS:
        return None
    began = pd.Timestamp(data.index[-run])
    metrics = "none"
    sampled = _metric_samples(raw)
    if sampled is not None:
        before = sampled[(sampled.index >= data.index[0]) & (sampled.index < began)]
        if before.any():
            metrics = "go_on" if sampled[sampled.index >= began].any() else "stopped"
    return _Silence(began, run, usual, metrics)


def _silent_result(service: str, silence: _Silence, bucket_minutes: int) -> RootCauseResult:
    since = f"{silence.began.tz_convert('UTC'):%H:%M} UTC"
    usual = f"{_count_text(silence.usual)} errors per {bucket_minutes} min before"
    minutes = silence.buckets * bucket_minutes
    metrics = {
        "stopped": f"system state: no metric samples since {since} either (they came before)",
        "go_on": "system state: metrics still arrive",
        "none": "system state: no metrics reported",
    }[silence.metrics]
    nothing = "no errors and no metrics" if silence.metrics == "stopped" else "no errors"
    return RootCauseResult(
        "service_silent",
        f"{service}: {_SILENT_PHRASES[silence.metrics]} ({nothing} since {since}; {usual}).",
        _SILENT_CONFIDENCE[silence.metrics],
        [
            f"error volume: no errors for {minutes} min since {since} ({usual}) → service_silent",
            metrics,
        ],
    )


def _count_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _rate_text(
    recent: float, reference: float | None, bucket_minutes: int, span: str = "the last hour"
) -> str:
    """How many errors per bucket the last hour had against the window before it, as a plain
    ratio ("×26: 260 per 5 min in the last hour vs 10 before"), or "from ~0 before to 260 per
    5 min in the last hour" when the reference had (almost) none, where a ratio would be a
    meaningless huge number. ``span`` names the recent part (`_span`)."""
    per = f"per {bucket_minutes} min"
    when = f"in {span}" if span.startswith("the ") else span
    if reference is None:
        return f"{_count_text(recent)} {per} {when} (no earlier data)"
    if reference < 0.5:
        before = "~0" if reference < 0.05 else _count_text(reference)
        return f"from {before} before to {_count_text(recent)} {per} {when}"
    ratio = recent / reference
    factor = f"{ratio:.1f}" if ratio < 10 else f"{ratio:,.0f}"
    return f"×{factor}: {_count_text(recent)} {per} {when} vs {_count_text(reference)} before"


def analyze_root_cause(
    frame: pd.DataFrame,
    *,
    service: str,
    error_types: dict[str, int] | None = None,
    history: list[PastIncident] | None = None,
    since: datetime | pd.Timestamp | None = None,
    releases: list[ReleaseSeen] | None = None,
    traffic_week_ago: float | Sequence[float | None] | None = None,
    fleet: list[FleetIncident] | None = None,
) -> RootCauseResult:
    """Walk the decision path and return the most likely cause with its evidence.

    The evidence is the frame's last WINDOW_MINUTES (`evidence_window`); the whole frame gives
    the p95 latency's normal level and, when it spans a day, the traffic's same time yesterday
    (the product passes its 24-hour analysis window). ``traffic_week_ago``: the mean request
    rate (the frame's ``metric_request_count`` unit) over the same hour a week before the
    recent one, or one such rate per earlier week (newest first, None for a week without
    samples; the product reads TRAFFIC_REFERENCE_WEEKS): their median is the traffic's
    reference when known. A Monday's ordinary traffic is a surge against the Sunday before it,
    not against last Monday; and last Monday's surge is no normal level for this one.
    ``since``: the episode explained began after another one that ended within the hour; its
    evidence is read from there on (`_split`), and `error_types` should be counted from there.
    ``releases``: the releases the same errors carried (`ReleaseSeen`); ``None`` when unknown.
    ``fleet``: other services' incidents around the same time (`FleetIncident`); one that began
    up to FLEET_LEAD_MINUTES before these errors rose is named in the path and the hypothesis,
    and a back end's is a front end's failing dependency (`upstream_failure` for its 5xx
    answers; the dependency its timeouts and refusals name).
    """
    try:
        context = normalize_bucket_frame(frame)
    except InsufficientData as exc:
        return RootCauseResult(
            "unknown", f"Not enough data for a root cause: {exc}.", 0.0, ["no data"]
        )
    data = evidence_window(context)
    silence = _silence(data, frame)
    if silence is not None:  # no error left to read a cause from: the silence is the finding
        return _silent_result(service, silence, int(data.attrs.get("bucket_minutes", 5)))
    recent, base = _split(data, since)
    span = _span(recent, data)
    votes: dict[str, float] = {}
    path: list[str] = []
    numbers: list[str] = []

    # 1. Error type → type-specific causes: the category that grew most, and type names.
    bm = data.attrs.get("bucket_minutes", 5)
    names = _weigh_error_names(error_types) if error_types else None
    growth: dict[str, float] = {}
    means: dict[str, tuple[float, float | None]] = {}
    for cat in CATEGORIES:
        r = float(recent[f"{cat}_count"].mean())
        b = float(base[f"{cat}_count"].mean()) if len(base) else None
        # the vote's strength: a smoothed growth, so a rise from 0 to 2 is no surge
        growth[cat] = (r - (b or 0.0)) / ((b or 0.0) + 1.0)
        means[cat] = (r, b)
    top_cat = max(growth, key=lambda c: growth[c])
    type_votes: dict[str, float] = {}
    if growth[top_cat] > 0.5 and top_cat in _CATEGORY_CAUSE:
        cause = _CATEGORY_CAUSE[top_cat]
        weight = _CATEGORY_WEIGHT * (1.0 - (names.named_share if names else 0.0))
        type_votes[cause] = weight
        rate = _rate_text(*means[top_cat], bm, span)
        weighed = (
            f" (weight ×{weight:.2f}: {names.named_share:.0%} of errors name their mechanism)"
            if names and names.named_share
            else ""
        )
        path.append(f"error type: {top_cat} errors {rate}{weighed} → {cause}")
        numbers.append(f"{top_cat} errors {rate}")
    if names is not None:
        path.extend(names.path)
        numbers.extend(names.numbers)
        # the category and a family name read one observation: the larger vote, not the sum
        for cause, weight in names.family.items():
            type_votes[cause] = max(type_votes.get(cause, 0.0), weight)
        for cause, weight in names.named.items():
            type_votes[cause] = type_votes.get(cause, 0.0) + weight
    else:
        path.append("error type: no error type breakdown given")
    for cause, weight in type_votes.items():
        votes[cause] = votes.get(cause, 0.0) + weight

    # 2. Service → service-specific issues.
    rise = _rise_start(recent, base)
    if service in BACKEND_SERVICES:
        path.append(f"service: {service} is a back end (database pool, memory, upstream calls)")
        if "bad_release" in votes:
            votes["bad_release"] *= 0.7
    else:
        path.append(f"service: {service} is a front end (releases, CDN, API reachability)")
        for cause in ("db_pool_exhaustion", "memory_leak"):
            votes.pop(cause, None)
    change = _ReleaseEvidence()
    if releases is not None:
        change = _weigh_releases(releases, rise, bm)
        if "bad_release" in votes:
            votes["bad_release"] *= change.factor
        if change.vote:
            votes["bad_release"] = votes.get("bad_release", 0.0) + change.vote
        path.extend(change.path)
        numbers.extend(change.numbers)
    # A front end whose calls to its API failed after a back end's incident began, with no
    # release of its own before the rise, fails because the back end does (the front ends call
    # the back ends; between back ends the calls are not known, so their incidents are only
    # named). Its 5xx answers vote for that (read alone, they are the front end's own bad
    # release); its timeouts and refused calls are already a failing dependency, which this
    # names (`DEPENDENCY_CAUSES`).
    upstream = ""
    calls_failed = top_cat in _UPSTREAM_CATEGORIES and growth[top_cat] > 0.5
    for incident, line in _fleet_lines(fleet or [], service=service, rise=rise, bucket_minutes=bm):
        numbers.append(line)
        if (
            not upstream
            and service not in BACKEND_SERVICES
            and incident.service in BACKEND_SERVICES
            and calls_failed
            and not change.vote
        ):
            upstream = incident.service
            if top_cat == "api":
                votes["upstream_failure"] = votes.get("upstream_failure", 0.0) + _FLEET_WEIGHT
                path.append(f"service: {line} → upstream_failure")
                continue
        path.append(f"service: {line}")

    # 3. System state → environmental factors.
    def metric(name: str) -> tuple[float, float] | None:
        col = f"metric_{name}"
        if col not in data.columns or recent[col].dropna().empty:
            return None
        base_value = (
            float(base[col].mean()) if len(base) and base[col].notna().any() else float("nan")
        )
        return float(recent[col].max()), base_value

    pool = metric("db_pool_in_use")
    if pool and pool[0] >= 85:
        votes["db_pool_exhaustion"] = votes.get("db_pool_exhaustion", 0.0) + _GAUGE_WEIGHT
        path.append(
            f"system state: db pool at {pool[0]:.0f}% (baseline {pool[1]:.0f}%) → db_pool_exhaustion"
        )
        numbers.append(f"db pool {pool[0]:.0f}%")
    memory = metric("memory")
    if memory and memory[0] >= 85:
        votes["memory_leak"] = votes.get("memory_leak", 0.0) + _GAUGE_WEIGHT
        path.append(f"system state: memory at {memory[0]:.0f}% → memory_leak")
        numbers.append(f"memory {memory[0]:.0f}%")
    cpu = metric("cpu")
    traffic = _traffic(context, recent, metric("request_count"), traffic_week_ago)
    cpu_saturated = bool(cpu and cpu[0] >= 80)
    step = _traffic_step(traffic)
    if cpu and cpu_saturated:
        surge = _surge(traffic)
        cause = "cpu_saturation" if surge is None else "traffic_surge"
        with_surge = "" if surge is None else f" with {surge}"
        votes[cause] = votes.get(cause, 0.0) + _GAUGE_WEIGHT
        path.append(f"system state: cpu at {cpu[0]:.0f}%{with_surge} → {cause}")
        numbers.append(f"cpu {cpu[0]:.0f}%{with_surge}")
    elif step is not None:
        votes["traffic_surge"] = votes.get("traffic_surge", 0.0) + _SURGE_WEIGHT
        below = f" (cpu {math.floor(cpu[0])}%, below saturation)" if cpu else ""
        path.append(f"system state: {step}{below} → traffic_surge")
        numbers.append(step)
    p95_recent = float(recent["rt_p95"].median()) if recent["rt_p95"].notna().any() else 0.0
    # the latency's normal level from the whole frame before the recent hour: precursors build
    # over hours, and three hours before an outage already held part of its rise
    # (the generator's pool-timeout outages then read their slow p95 as normal)
    before = context.loc[: base.index[-1], "rt_p95"] if len(base) else base["rt_p95"]
    p95_base = float(before.median()) if before.notna().any() else 0.0
    saturated = bool((pool and pool[0] >= 85) or cpu_saturated or step is not None)
    if p95_base > 0 and p95_recent > 2 * p95_base and not saturated:
        votes["upstream_timeout"] = votes.get("upstream_timeout", 0.0) + _LATENCY_WEIGHT
        # The median of the hour's per-bucket p95 (what the vote compares) is not the p95 of any
        # one bucket, which the anomaly's factors show: say which it is, and give the peak.
        peak = float(recent["rt_p95"].max())
        over = f"over {span}" if span.startswith("the ") else span
        latency = f"median p95 {p95_recent:,.0f} ms {over} (peak {peak:,.0f} ms)"
        path.append(f"system state: {latency} vs {p95_base:,.0f} ms before → upstream_timeout")
        numbers.append(latency)
    if len(path) and not any(p.startswith("system state") for p in path):
        path.append("system state: metrics within their normal range")

    # 4. Historical patterns → similar past issues.
    similar: list[SimilarIncident] = []
    if history:
        signature = incident_signature(data, error_types=error_types, since=since)
        scored = sorted(
            ((cosine_similarity(signature, {**p.signature, **p.templates}), p) for p in history),
            key=lambda t: -t[0],
        )
        similar = [
            SimilarIncident(p.incident_id, round(sim, 4), p.summary or p.cause_key, p.cause_key)
            for sim, p in scored[:3]
            if sim > 0
        ]
        # only a past incident whose cause is known can vote for one (libraries trained before
        # episodes stored their cause key hold incidents with an empty one)
        known = [(sim, p) for sim, p in scored if p.cause_key]
        if known and known[0][0] >= _PAST_MIN_SIMILARITY:
            best_sim, best = known[0]
            votes[best.cause_key] = votes.get(best.cause_key, 0.0) + _PAST_WEIGHT * best_sim
            path.append(
                f"similar past issue: {best.incident_id} ({best.cause_key}), similarity {best_sim:.2f}"
            )
        else:
            path.append(f"similar past issues: none above {_PAST_MIN_SIMILARITY:.2f} similarity")
    else:
        path.append("similar past issues: no past incidents of this service to compare with yet")

    votes = {cause: weight for cause, weight in votes.items() if weight > 0}
    if not votes:
        return RootCauseResult(
            "unknown",
            f"{service}: {_HYPOTHESES['unknown']}.",
            0.1,
            path,
            similar,
        )
    ranked_votes = sorted(votes.items(), key=lambda kv: -kv[1])
    cause, top = ranked_votes[0]
    runner_up = ranked_votes[1][1] if len(ranked_votes) > 1 else 0.0
    # Confidence grows with the evidence behind the winner and its margin over the next cause.
    confidence = float(
        np.clip(0.25 + 0.15 * top + 0.25 * (top - runner_up) / (top + 1e-9), 0.05, 0.95)
    )
    phrase = cause_phrase(cause)
    dependency = (
        _named_dependency(error_types) if error_types and cause in DEPENDENCY_CAUSES else None
    )
    if dependency is not None:
        phrase = _DEPENDENCY_HYPOTHESES["refused" if dependency.refused else cause].format(
            dependency=dependency.host
        )
        refused = ", connection refused" if dependency.refused else ""
        path.append(
            f"dependency: {dependency.share:.0%} of the hour's errors name {dependency.host}"
            f"{refused} (most: {dependency.example[:120]})"
        )
        numbers.insert(0, f"{dependency.share:.0%} of errors name {dependency.host}")
    elif cause in DEPENDENCY_CAUSES and upstream:
        phrase = _DEPENDENCY_HYPOTHESES[cause].format(dependency=upstream)
    elif cause == "network_partition" and error_types and _mostly_refused(error_types):
        phrase = _REFUSED_HYPOTHESIS
    elif cause == "upstream_failure" and upstream:
        phrase = f"{upstream}, which it calls, is failing"
    detail = "; ".join(numbers) if numbers else "error mix"
    hypothesis = f"{service}: {phrase} ({detail})."
    suspect = change.release if cause == "bad_release" else ""
    return RootCauseResult(
        cause,
        hypothesis,
        round(confidence, 3),
        path,
        similar,
        suspect,
        dependency.host
        if dependency is not None
        else upstream
        if cause in (*DEPENDENCY_CAUSES, "upstream_failure")
        else "",
    )
