"""Preventive-action catalogue and priorities."""

from __future__ import annotations

import pytest

from ml_prediction.engines.actions import action_priority, recommend_actions


@pytest.mark.parametrize(
    "severity, probability, expected",
    [
        ("critical", 0.9, "critical"),
        ("high", 0.9, "critical"),
        ("high", 0.5, "high"),
        ("medium", 0.5, "medium"),
        ("low", 0.9, "medium"),
        ("low", 0.3, "low"),
    ],
)
def test_priority_is_severity_times_probability(severity, probability, expected):
    assert action_priority(severity=severity, probability=probability) == expected


@pytest.mark.parametrize(
    "cause_key, first",
    [
        ("db_pool_exhaustion", "increase_pool"),
        ("memory_leak", "restart"),
        ("bad_release", "rollback_release"),
        ("traffic_surge", "scale_up"),
        ("service_silent", "check_service_up"),
        ("no-such-cause", "investigate"),
    ],
)
def test_catalogue_is_keyed_by_cause(cause_key, first):
    actions = recommend_actions(
        cause_key=cause_key, severity="high", probability=0.8, service="django"
    )
    assert actions[0].action_type == first
    assert all("django" in a.title or "django" in a.description for a in actions)
    assert actions[0].priority == "critical"


def test_rollback_is_never_automated_and_scale_up_is():
    rollback = recommend_actions(
        cause_key="bad_release", severity="high", probability=0.8, service="react"
    )[0]
    scale = recommend_actions(
        cause_key="traffic_surge", severity="high", probability=0.8, service="react"
    )[0]
    assert not rollback.can_be_automated and scale.can_be_automated


def _high(cause_key: str, service: str, release: str = "") -> list:
    """The actions for ``cause_key`` at high severity and probability 0.8."""
    return recommend_actions(
        cause_key=cause_key, severity="high", probability=0.8, service=service, release=release
    )


def test_a_rollback_names_the_release_the_root_cause_found():
    """On a service that deploys several times a day "roll back the latest release" may roll
    back the wrong one; the root cause dates the release behind the errors."""
    named = _high("bad_release", "flutter", release="flutter@2.5.0")
    generic = _high("bad_release", "flutter")

    assert named[0].title == "Roll back release flutter@2.5.0 of flutter"
    assert "before flutter@2.5.0" in named[0].description
    assert generic[0].title == "Roll back the latest release of flutter"
    # the actions that do not act on a release read as before
    assert [a.title for a in named[1:]] == [a.title for a in generic[1:]]


def test_a_long_release_name_is_shortened_in_the_title_only():
    release = "web-" + "a" * 196  # the longest release ingestion stores (200 characters)

    action = _high("bad_release", "react", release=release)[0]

    assert len(action.title) <= 200  # the title column's size
    assert action.title.startswith("Roll back release web-aaa") and "…" in action.title
    assert release in action.description


def test_a_release_does_not_change_the_actions_of_another_cause():
    assert _high("db_pool_exhaustion", "django", release="django@1.4.2") == _high(
        "db_pool_exhaustion", "django"
    )


def test_the_actions_towards_a_dependency_name_it():
    """ "The failing dependency" sends on-call looking for it; the root cause found the host."""
    named = recommend_actions(
        cause_key="network_partition",
        severity="high",
        probability=0.8,
        service="java",
        dependency="inventory-service",
    )
    generic = _high("network_partition", "java")

    assert [a.title for a in named] == [
        "Check inventory-service and the network between java and it",
        "Open the circuit breaker from java towards inventory-service",
    ]
    assert all("inventory-service" in a.description for a in named)
    assert [a.action_type for a in named] == [a.action_type for a in generic]
    assert "inventory-service" not in " ".join(a.title + a.description for a in generic)
    timeouts = recommend_actions(
        cause_key="upstream_timeout",
        severity="high",
        probability=0.8,
        service="django",
        dependency="payments",
    )
    assert [a.title for a in timeouts] == [
        "Open the circuit breaker from django towards payments",
        "Review timeouts and retries of django towards payments",
        "Scale up django",
    ]


@pytest.mark.parametrize("severity, probability", [("urgent", 0.5), ("high", 1.5)])
def test_bad_inputs_are_refused(severity, probability):
    with pytest.raises(ValueError):
        action_priority(severity=severity, probability=probability)
