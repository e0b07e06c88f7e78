"""Root cause: decision path on simulated incidents and signature matching."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from ml_prediction.engines.root_cause import (
    PastIncident,
    analyze_root_cause,
    cosine_similarity,
    incident_signature,
    message_template,
)
from ml_prediction.engines.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(
        SimulationConfig(
            days=14, services=("django", "react"), seed=3, start=datetime(2026, 1, 5, tzinfo=UTC)
        )
    )


def window(sim, incident):
    frame = sim.bucket_frames()[incident.service]
    end = pd.Timestamp(incident.start) + pd.Timedelta(minutes=15)
    return frame[(frame.index < end) & (frame.index >= end - pd.Timedelta(hours=24))]


def test_finds_the_labelled_cause_of_most_incidents(sim):
    hits = [
        analyze_root_cause(window(sim, i), service=i.service).cause_key == i.cause_key
        for i in sim.incidents
    ]
    assert len(hits) >= 5
    assert sum(hits) / len(hits) >= 0.7


def test_result_has_path_confidence_and_numbers(sim):
    incident = next(i for i in sim.incidents if i.cause_key == "db_pool_exhaustion")
    result = analyze_root_cause(
        window(sim, incident),
        service="django",
        error_types={"OperationalError": 120, "KeyError": 3},
    )
    assert result.cause_key == "db_pool_exhaustion"
    assert 0.5 <= result.confidence <= 0.95
    assert [p.split(":")[0] for p in result.decision_path][:1] == ["error type"]
    assert any(p.startswith("system state") for p in result.decision_path)
    assert "%" in result.hypothesis


def test_similar_past_incidents_rank_the_same_cause_first(sim):
    by_cause = {}
    for inc in sim.incidents:
        by_cause.setdefault((inc.service, inc.cause_key), []).append(inc)
    (service, cause), incidents = next((k, v) for k, v in by_cause.items() if len(v) >= 2)
    history = [
        PastIncident(
            f"past-{i.incident_id}",
            i.cause_key,
            incident_signature(window(sim, i)),
            summary=i.cause_key,
        )
        for i in sim.incidents
        if i.service == service and i is not incidents[-1]
    ]
    result = analyze_root_cause(window(sim, incidents[-1]), service=service, history=history)
    assert result.similar_incidents[0].cause_key == cause
    assert result.similar_incidents[0].similarity > 0.8


def test_quiet_service_is_unknown_with_low_confidence():
    index = pd.date_range("2026-01-05", periods=300, freq="5min", tz="UTC")
    result = analyze_root_cause(
        pd.DataFrame({"total_count": [2] * 300}, index=index), service="vue"
    )
    assert result.cause_key == "unknown" and result.confidence < 0.3


def test_empty_frame_gives_unknown_not_a_crash():
    result = analyze_root_cause(pd.DataFrame(), service="vue")
    assert result.cause_key == "unknown" and result.confidence == 0.0


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ({"x": 1.0}, {"x": 2.0}, 1.0),
        ({"x": 1.0}, {"y": 1.0}, 0.0),
        ({}, {}, 0.0),
        ({"x": 1.0, "y": 1.0}, {"x": 1.0}, 0.7071),
    ],
)
def test_cosine_similarity(a, b, expected):
    assert cosine_similarity(a, b) == pytest.approx(expected, abs=1e-4)


def test_message_templates_drop_variable_parts():
    assert message_template("Read timed out after 3000 ms") == message_template(
        "Read timed out after 12 ms"
    )
    assert message_template("Undefined index: 'donor_7'") == "Undefined index: <str>"


def test_a_past_incident_without_a_known_cause_does_not_vote(sim):
    """Found in use: a library of incidents stored with cause "" explained a repeat of one of
    them as "laravel:  (error mix)"."""
    incident = next(i for i in sim.incidents if i.cause_key == "db_pool_exhaustion")
    current = window(sim, incident)
    twin = PastIncident("past-twin", "", incident_signature(current), summary="")
    result = analyze_root_cause(current, service=incident.service, history=[twin])
    assert result.cause_key == "db_pool_exhaustion"
    assert not any(p.startswith("similar past issue:") for p in result.decision_path)
