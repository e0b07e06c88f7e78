"""Preventive actions: a catalogue keyed by root cause, prioritised by severity × probability.

Pure data and arithmetic; the services layer stores the recommendations and executes them.
"""

from __future__ import annotations

from ml_prediction.engines.types import ActionRecommendation

# action_type → (title, description template, can_be_automated, estimated impact)
ACTION_CATALOGUE: dict[str, tuple[str, str, bool, str]] = {
    "scale_up": (
        "Scale up {service}",
        "Add instances/workers to {service} before load saturates CPU and the request queue.",
        True,
        "Restores headroom within minutes; costs capacity until scaled back.",
    ),
    "restart": (
        "Rolling restart of {service}",
        "Restart {service} workers one at a time to release leaked memory or stuck connections.",
        True,
        "Clears process-local state; brief capacity dip during the roll.",
    ),
    "increase_pool": (
        "Increase the database connection pool of {service}",
        "Raise the pool size (and check for slow queries holding connections) in {service}.",
        True,
        "Removes pool waits; watch database max_connections.",
    ),
    "kill_slow_queries": (
        "Cancel long-running queries for {service}",
        "Find and cancel queries running longer than the request timeout; add the missing index.",
        False,
        "Frees connections immediately; the index prevents recurrence.",
    ),
    "clear_cache": (
        "Clear the cache of {service}",
        "Flush stale or oversized cache entries (and the CDN for front ends) used by {service}.",
        True,
        "Fixes stale assets and cache bloat; a short cold-cache latency rise.",
    ),
    "rate_limit": (
        "Rate-limit heavy clients of {service}",
        "Apply per-client rate limits on the busiest endpoints of {service} to shed excess load.",
        True,
        "Protects the service for everyone else; some clients get 429s.",
    ),
    "rollback_release": (
        "Roll back the latest release of {service}",
        "Redeploy the previous release of {service}: the errors started right after a deploy.",
        False,
        "Removes the faulty change; the release's features go away until fixed.",
    ),
    "enable_circuit_breaker": (
        "Open the circuit breaker towards the failing dependency of {service}",
        "Fail fast (with a fallback) on calls from {service} to the slow upstream instead of queueing.",
        True,
        "Stops timeouts cascading; the dependent feature degrades gracefully.",
    ),
    "increase_timeout": (
        "Review client timeouts and retries of {service}",
        "Tune timeouts/retry budgets of {service} so slow upstreams do not exhaust workers.",
        False,
        "Fewer spurious timeouts; needs a config change and review.",
    ),
    "check_network": (
        "Check network and DNS between {service} and its dependencies",
        "Verify connectivity, DNS and security groups; fail over to a healthy zone if one is down.",
        False,
        "Restores connectivity; may need the infrastructure team.",
    ),
    "follow_upstream_incident": (
        "Work on the incident of the back end {service} calls",
        "The errors of {service} follow an incident of a back end it calls: that incident's "
        "actions come first, and nothing of {service} needs rolling back for it.",
        False,
        "One incident worked on once; the front end recovers with its back end.",
    ),
    "check_service_up": (
        "Check that {service} is up and its errors reach us",
        "{service} sends no errors where it sent plenty: check that its instances run and "
        "serve (health checks, crash loops, the deploy log), then that its SDK still reaches "
        "the error API (DSN, a revoked or rotated ingest key, the network path).",
        False,
        "Finds an outage no error shows, or restores the errors the predictions read.",
    ),
    "investigate": (
        "Investigate {service}",
        "No single cause stands out: look at the top error types and the latest changes of {service}.",
        False,
        "Someone looks at it before users notice.",
    ),
}

# action_type → (title, description) when the root cause named the release behind the errors:
# "roll back the latest release" is a guess on a service that deploys often; the one whose
# errors rose right after it went out is what on-call needs to roll back.
RELEASE_WORDING: dict[str, tuple[str, str]] = {
    "rollback_release": (
        "Roll back release {release} of {service}",
        "Redeploy the release of {service} that ran before {release}: the errors rose right "
        "after {release} went out (the root cause's decision path says when, and its share).",
    ),
}
# action_type → (title, description) when the root cause named the dependency the errors fail
# on (`RootCauseResult.suspect_dependency`): "the failing dependency" sends on-call looking for
# it; the host the errors name is where to act.
DEPENDENCY_WORDING: dict[str, tuple[str, str]] = {
    "enable_circuit_breaker": (
        "Open the circuit breaker from {service} towards {dependency}",
        "Fail fast (with a fallback) on calls from {service} to {dependency} instead of "
        "queueing: the errors name {dependency}.",
    ),
    "increase_timeout": (
        "Review timeouts and retries of {service} towards {dependency}",
        "Tune the timeouts/retry budgets of {service}'s calls to {dependency} so that a slow "
        "{dependency} does not exhaust the workers of {service}.",
    ),
    "follow_upstream_incident": (
        "Work on {dependency}'s incident first",
        "The errors of {service} follow {dependency}'s incident, which began before they rose: "
        "{dependency}'s actions come first, and nothing of {service} needs rolling back for it.",
    ),
    "check_network": (
        "Check {dependency} and the network between {service} and it",
        "Check that {dependency} is up and listening, then DNS, routes and security groups "
        "between {service} and {dependency}; fail over to a healthy zone if one is down.",
    ),
}
# the title column holds 200 characters; a release name may hold as many
_RELEASE_IN_TITLE = 60

# cause_key → action types, most useful first
CAUSE_ACTIONS: dict[str, tuple[str, ...]] = {
    "db_pool_exhaustion": ("increase_pool", "kill_slow_queries", "scale_up"),
    "slow_queries": ("kill_slow_queries", "increase_pool"),
    "upstream_timeout": ("enable_circuit_breaker", "increase_timeout", "scale_up"),
    "memory_leak": ("restart", "scale_up"),
    "traffic_surge": ("scale_up", "rate_limit"),
    "cpu_saturation": ("scale_up", "rate_limit"),
    "network_partition": ("check_network", "enable_circuit_breaker"),
    "bad_release": ("rollback_release", "clear_cache"),
    "stale_cache": ("clear_cache", "restart"),
    "auth_failure": ("investigate", "clear_cache"),
    "upstream_failure": ("follow_upstream_incident", "enable_circuit_breaker"),
    "service_silent": ("check_service_up",),
    "unknown": ("investigate",),
}

_SEVERITY_WEIGHT = {"low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}


def action_priority(*, severity: str, probability: float) -> str:
    """Priority from severity × probability: critical ≥ 0.6, high ≥ 0.35, medium ≥ 0.15."""
    if severity not in _SEVERITY_WEIGHT:
        raise ValueError(f"severity must be one of {', '.join(_SEVERITY_WEIGHT)}, not {severity!r}")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be within 0..1, not {probability}")
    score = _SEVERITY_WEIGHT[severity] * probability
    if score >= 0.6:
        return "critical"
    if score >= 0.35:
        return "high"
    if score >= 0.15:
        return "medium"
    return "low"


def recommend_actions(
    *,
    cause_key: str,
    severity: str,
    probability: float,
    service: str,
    release: str = "",
    dependency: str = "",
) -> list[ActionRecommendation]:
    """The catalogue's actions for a root cause; unknown causes get "investigate".

    ``release``: the release the root cause found behind the errors (`RootCauseResult.
    suspect_release`); the actions that act on a release name it. ``dependency``: the host the
    errors fail on (`RootCauseResult.suspect_dependency`); the actions towards it name it.
    """
    priority = action_priority(severity=severity, probability=probability)
    levels = ("low", "medium", "high", "critical")
    action_types = CAUSE_ACTIONS.get(cause_key, CAUSE_ACTIONS["unknown"])
    recommendations = []
    for rank, action_type in enumerate(action_types):
        title, description, automated, impact = ACTION_CATALOGUE[action_type]
        if release and action_type in RELEASE_WORDING:
            title, description = RELEASE_WORDING[action_type]
        if dependency and action_type in DEPENDENCY_WORDING:
            title, description = DEPENDENCY_WORDING[action_type]
        # Fallback actions rank one step below the first choice.
        own_priority = priority if rank == 0 else levels[max(levels.index(priority) - 1, 0)]
        recommendations.append(
            ActionRecommendation(
                action_type=action_type,
                title=title.format(
                    service=service,
                    release=_shortened(release),
                    dependency=_shortened(dependency),
                ),
                description=description.format(
                    service=service, release=release, dependency=dependency
                ),
                priority=own_priority,
                can_be_automated=automated,
                estimated_impact=impact,
                cause_key=cause_key if cause_key in CAUSE_ACTIONS else "unknown",
            )
        )
    return recommendations


def _shortened(name: str) -> str:
    if len(name) <= _RELEASE_IN_TITLE:
        return name
    return name[: _RELEASE_IN_TITLE - 1] + "…"
