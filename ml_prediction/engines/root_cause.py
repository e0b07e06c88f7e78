"""Root cause: the guide's decision path (error type → service → system state → similar past
issues) with a confidence, and cosine-similarity matching of incident signatures.

A signature is a flat dict of numbers: how each category, severity, latency and system metric in
the recent window compares with the service's own baseline, plus shares of message templates.
Pure numpy/pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from ml_prediction.engines.catalog import CATEGORIES
from ml_prediction.engines.features import normalize_bucket_frame
from ml_prediction.engines.types import InsufficientData, RootCauseResult, SimilarIncident

RECENT_MINUTES = 60
BACKEND_SERVICES = ("django", "laravel", "java")

# Error-type name fragments → cause (step 1 of the decision path).
_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("pool", "db_pool_exhaustion"),
    ("sqltransientconnection", "db_pool_exhaustion"),
    ("too many connections", "db_pool_exhaustion"),
    ("operationalerror", "db_pool_exhaustion"),
    ("queryexception", "db_pool_exhaustion"),
    ("pdoexception", "db_pool_exhaustion"),
    ("dataaccessresource", "db_pool_exhaustion"),
    ("databaseconnectiontimeout", "db_pool_exhaustion"),
    ("outofmemory", "memory_leak"),
    ("memoryerror", "memory_leak"),
    ("memory size", "memory_leak"),
    ("chunkloaderror", "bad_release"),
    ("loading chunk", "bad_release"),
    ("timeout", "upstream_timeout"),
    ("timed out", "upstream_timeout"),
    ("econnaborted", "upstream_timeout"),
    ("socketexception", "network_partition"),
    ("connectexception", "network_partition"),
    ("networkerror", "network_partition"),
    ("connection refused", "network_partition"),
)
_CATEGORY_CAUSE = {
    "database": "db_pool_exhaustion",
    "timeout": "upstream_timeout",
    "connection": "network_partition",
    "memory": "memory_leak",
    "api": "bad_release",
    "auth": "auth_failure",
}
_HYPOTHESES = {
    "db_pool_exhaustion": "database connections are exhausted",
    "upstream_timeout": "a dependency is slow and requests time out",
    "memory_leak": "memory is leaking and workers run out of it",
    "traffic_surge": "a traffic surge saturates CPU",
    "network_partition": "the network path to a dependency is failing",
    "bad_release": "the latest release introduced a fault",
    "auth_failure": "authentication is failing for many users",
    "unknown": "no single cause stands out",
}

_NUMBER = re.compile(r"\b(0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27,}|\d+(\.\d+)?)\b", re.IGNORECASE)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def message_template(message: str) -> str:
    """A message with its variable parts (numbers, ids, quoted values) replaced by placeholders."""
    text = _QUOTED.sub("<str>", message or "")
    text = _NUMBER.sub("<n>", text)
    return re.sub(r"\s+", " ", text).strip()[:200]


@dataclass(frozen=True)
class PastIncident:
    incident_id: str
    cause_key: str
    signature: dict[str, float]
    summary: str = ""
    occurred_at: datetime | None = None
    templates: dict[str, float] = field(default_factory=dict)


def _split(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    bm = data.attrs.get("bucket_minutes", 5)
    n_recent = max(RECENT_MINUTES // bm, 1)
    if len(data) <= n_recent:
        return data.iloc[-n_recent:], data.iloc[:0]
    return data.iloc[-n_recent:], data.iloc[:-n_recent]


def incident_signature(
    frame: pd.DataFrame, *, error_types: dict[str, int] | None = None
) -> dict[str, float]:
    """The recent hour versus the baseline before it, as a dict of comparable numbers.

    `error_types` (error type or message → count) adds "tpl:" template shares.
    """
    data = normalize_bucket_frame(frame)
    recent, base = _split(data)
    signature: dict[str, float] = {}
    recent_total = float(recent["total_count"].sum())
    base_rate = float(base["total_count"].mean()) if len(base) else 0.0
    signature["error_rate_ratio"] = float(
        np.log1p(recent["total_count"].mean()) - np.log1p(base_rate)
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
    signature["p95_ratio"] = float(np.log1p(max(p95_recent, 0.0)) - np.log1p(max(p95_base, 0.0)))
    for col in sorted(c for c in data.columns if c.startswith("metric_")):
        r = recent[col].dropna()
        b = base[col].dropna() if len(base) else pd.Series(dtype=float)
        if r.empty:
            continue
        spread = float(b.std()) if len(b) > 2 else 0.0
        center = float(b.mean()) if len(b) else float(r.mean())
        z = (float(r.max()) - center) / (spread + 1e-6 + 0.05 * abs(center))
        signature[f"{col}_z"] = float(np.clip(z, -10, 10)) / 10.0
    if error_types:
        total = float(sum(error_types.values())) or 1.0
        templates: dict[str, float] = {}
        for key, count in error_types.items():
            tpl = "tpl:" + message_template(str(key)).lower()
            templates[tpl] = templates.get(tpl, 0.0) + count / total
        signature.update(templates)
    return signature


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


def _traffic_text(requests: tuple[float, float] | None, surge: bool) -> str:
    """How the decision path shows a surge's traffic: " with traffic ×3.2" against its
    reference, or " with traffic from 0 to 120" when the reference had none (a quiet night, a
    metric that just started reporting): a ratio to zero is no number, and dividing by it
    failed the whole analysis."""
    if not surge or requests is None:
        return ""
    current, reference = requests
    if reference > 0:
        return f" with traffic ×{current / reference:.1f}"
    return f" with traffic from {reference:.0f} to {current:.0f}"


def analyze_root_cause(
    frame: pd.DataFrame,
    *,
    service: str,
    error_types: dict[str, int] | None = None,
    history: list[PastIncident] | None = None,
) -> RootCauseResult:
    """Walk the decision path and return the most likely cause with its evidence."""
    try:
        data = normalize_bucket_frame(frame)
    except InsufficientData as exc:
        return RootCauseResult(
            "unknown", f"Not enough data for a root cause: {exc}.", 0.0, ["no data"]
        )
    recent, base = _split(data)
    votes: dict[str, float] = {}
    path: list[str] = []
    numbers: list[str] = []

    # 1. Error type → type-specific causes: the category that grew most, and type names.
    growth = {}
    for cat in CATEGORIES:
        r = float(recent[f"{cat}_count"].mean())
        b = float(base[f"{cat}_count"].mean()) if len(base) else 0.0
        growth[cat] = (r - b) / (b + 1.0)
    top_cat = max(growth, key=lambda c: growth[c])
    if growth[top_cat] > 0.5 and top_cat in _CATEGORY_CAUSE:
        cause = _CATEGORY_CAUSE[top_cat]
        votes[cause] = votes.get(cause, 0.0) + 1.0
        path.append(f"error type: {top_cat} errors rose ×{growth[top_cat] + 1:.1f} → {cause}")
        numbers.append(f"{top_cat} errors ×{growth[top_cat] + 1:.1f}")
    if error_types:
        ranked = sorted(error_types.items(), key=lambda kv: -kv[1])[:3]
        for name, count in ranked:
            lowered = str(name).lower()
            for fragment, cause in _TYPE_HINTS:
                if fragment in lowered:
                    weight = 0.8 * count / max(sum(c for _, c in ranked), 1)
                    votes[cause] = votes.get(cause, 0.0) + weight
                    path.append(f"error type: {name} ({count}) → {cause}")
                    break
    else:
        path.append("error type: no error type breakdown given")

    # 2. Service → service-specific issues.
    if service in BACKEND_SERVICES:
        path.append(f"service: {service} is a back end (database pool, memory, upstream calls)")
        if "bad_release" in votes:
            votes["bad_release"] *= 0.7
    else:
        path.append(f"service: {service} is a front end (releases, CDN, API reachability)")
        for cause in ("db_pool_exhaustion", "memory_leak"):
            votes.pop(cause, None)

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
        votes["db_pool_exhaustion"] = votes.get("db_pool_exhaustion", 0.0) + 1.5
        path.append(
            f"system state: db pool at {pool[0]:.0f}% (baseline {pool[1]:.0f}%) → db_pool_exhaustion"
        )
        numbers.append(f"db pool {pool[0]:.0f}%")
    memory = metric("memory")
    if memory and memory[0] >= 85:
        votes["memory_leak"] = votes.get("memory_leak", 0.0) + 1.5
        path.append(f"system state: memory at {memory[0]:.0f}% → memory_leak")
        numbers.append(f"memory {memory[0]:.0f}%")
    cpu = metric("cpu")
    requests = metric("request_count")
    if requests and "metric_request_count" in data.columns:
        # Traffic against the same time of day: the window's oldest hour when it spans ~a day
        # (a daily peak is not a surge), else the baseline mean.
        series = data["metric_request_count"]
        bm = data.attrs.get("bucket_minutes", 5)
        if len(series) >= (1440 - 2 * RECENT_MINUTES) // bm:
            reference = float(series.iloc[: max(RECENT_MINUTES // bm, 1)].mean())
        else:
            reference = requests[1]
        requests = (requests[0], reference)
    if cpu and cpu[0] >= 80:
        surge = bool(requests and requests[1] == requests[1] and requests[0] > 1.5 * requests[1])
        cause = "traffic_surge" if surge else "cpu_saturation"
        votes[cause] = votes.get(cause, 0.0) + 1.5
        path.append(f"system state: cpu at {cpu[0]:.0f}%{_traffic_text(requests, surge)} → {cause}")
        numbers.append(f"cpu {cpu[0]:.0f}%")
    p95_recent = float(recent["rt_p95"].median()) if recent["rt_p95"].notna().any() else 0.0
    p95_base = float(base["rt_p95"].median()) if len(base) and base["rt_p95"].notna().any() else 0.0
    saturated = bool((pool and pool[0] >= 85) or (cpu and cpu[0] >= 80))
    if p95_base > 0 and p95_recent > 2 * p95_base and not saturated:
        votes["upstream_timeout"] = votes.get("upstream_timeout", 0.0) + 0.7
        path.append(
            f"system state: p95 {p95_recent:.0f} ms vs {p95_base:.0f} ms baseline → upstream_timeout"
        )
        numbers.append(f"p95 {p95_recent:.0f} ms")
    if len(path) and not any(p.startswith("system state") for p in path):
        path.append("system state: metrics within their normal range")

    # 4. Historical patterns → similar past issues.
    similar: list[SimilarIncident] = []
    if history:
        signature = incident_signature(data, error_types=error_types)
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
        if known and known[0][0] >= 0.8:
            best_sim, best = known[0]
            votes[best.cause_key] = votes.get(best.cause_key, 0.0) + 1.5 * best_sim
            path.append(
                f"similar past issue: {best.incident_id} ({best.cause_key}), similarity {best_sim:.2f}"
            )
        else:
            path.append("similar past issues: none above 0.80 similarity")
    else:
        path.append("similar past issues: no history given")

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
    detail = ", ".join(numbers) if numbers else "error mix"
    hypothesis = f"{service}: {_HYPOTHESES.get(cause, cause)} ({detail})."
    return RootCauseResult(cause, hypothesis, round(confidence, 3), path, similar)
