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


@pytest.mark.parametrize("severity, probability", [("urgent", 0.5), ("high", 1.5)])
def test_bad_inputs_are_refused(severity, probability):
    with pytest.raises(ValueError):
        action_priority(severity=severity, probability=probability)
