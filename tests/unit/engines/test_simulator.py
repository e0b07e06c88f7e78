"""The labelled traffic generator: reproducible, realistic shapes, honest labels."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ml_prediction.engines.simulator import SERVICE_ERROR_TYPES, SimulationConfig, simulate
from ml_prediction.engines.types import InsufficientData  # noqa: F401  (engines share one error type)

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulationConfig(days=7, services=("django", "react"), seed=11, start=START))


def test_same_seed_gives_same_traffic_and_other_seed_differs():
    # given two configs with the same seed and one with another
    config = SimulationConfig(days=2, services=("java",), seed=5, start=START)
    # when generated
    a, b = simulate(config), simulate(config)
    c = simulate(SimulationConfig(days=2, services=("java",), seed=6, start=START))
    # then the first two agree exactly and the third does not
    assert a.bucket_frames()["java"].equals(b.bucket_frames()["java"])
    assert [i.start for i in a.incidents] == [i.start for i in b.incidents]
    assert not a.bucket_frames()["java"].equals(c.bucket_frames()["java"])


def test_error_items_use_native_field_names_and_service_types(sim):
    items = list(sim.iter_errors("django"))
    assert len(items) == sim.error_count("django")
    first = items[0]
    for key in (
        "error_id",
        "service",
        "environment",
        "release",
        "host",
        "error_type",
        "message",
        "severity",
        "endpoint",
        "status_code",
        "response_time_ms",
        "user_id",
        "stacktrace",
        "tags",
        "context",
        "occurred_at",
    ):
        assert key in first
    names = {spec[0] for spec in SERVICE_ERROR_TYPES["django"]}
    assert {i["error_type"] for i in items} <= names
    assert "OperationalError" in {i["error_type"] for i in items}
    times = [i["occurred_at"] for i in items]
    assert times == sorted(times)


def test_bucket_frames_follow_the_engine_convention(sim):
    frame = sim.bucket_frames()["react"]
    assert str(frame.index.tz) == "UTC"
    assert len(frame) == 7 * 288
    assert (
        frame["total_count"]
        == frame[[f"{s}_count" for s in ("debug", "info", "warning", "error", "critical")]].sum(
            axis=1
        )
    ).all()
    cats = ["timeout", "connection", "auth", "database", "api", "validation", "memory", "other"]
    assert (frame["total_count"] == frame[[f"{c}_count" for c in cats]].sum(axis=1)).all()
    for metric in ("response_time_ms", "request_count", "db_pool_in_use", "cpu", "memory"):
        assert f"metric_{metric}" in frame.columns


def test_daily_cycle_and_incidents_are_visible(sim):
    frame = sim.bucket_frames()["django"]
    by_hour = frame["metric_request_count"].groupby(frame.index.hour).mean()
    assert by_hour.max() > 2 * by_hour.min()
    incident = next(i for i in sim.incidents if i.service == "django")
    during = frame.loc[incident.start : incident.end, "total_count"].mean()
    assert during > 5 * frame["total_count"].median()


def test_precursor_incidents_show_rising_symptoms_before_onset():
    sim = simulate(
        SimulationConfig(days=21, services=("django",), seed=3, start=START, precursor_fraction=1.0)
    )
    frame = sim.bucket_frames()["django"]
    rises = []
    for inc in [i for i in sim.incidents if i.has_precursors]:
        before = frame.loc[inc.precursor_start : inc.start].iloc[:-1]
        normal = frame.loc[: inc.precursor_start].iloc[-288:-12]
        rises.append(before["rt_p95"].iloc[-3:].mean() / normal["rt_p95"].median())
    assert rises and np.median(rises) > 1.5


def test_volume_for_thirty_days_of_seven_services_is_in_range():
    sim = simulate(SimulationConfig(days=30, seed=1, start=START))
    assert 200_000 <= sim.error_count() <= 400_000
    assert sim.labels()["incidents"]


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="unknown services"):
        SimulationConfig(services=("cobol",))
    with pytest.raises(ValueError, match="days"):
        SimulationConfig(days=0)


def test_bad_release_incidents_follow_a_deploy_of_their_release():
    sim = simulate(SimulationConfig(days=14, services=("react",), seed=3, start=START))
    deploys = sim.deploys("react")
    bad = [i for i in sim.incidents if i.cause_key == "bad_release"]
    assert bad
    for incident in bad:
        at, release = [d for d in deploys if d[0] <= incident.start][-1]
        assert (incident.start - at).total_seconds() <= 5 * 60
        assert incident.release == release and not incident.has_precursors
    errors_after = [
        e for e in sim.iter_errors("react") if e["occurred_at"] > bad[0].start.isoformat()
    ]
    assert errors_after[0]["release"] == bad[0].release


def test_metric_samples_sit_on_the_wall_clock_grid_even_in_a_short_top_up():
    """The demo tops traffic up every 5 minutes; with a 10-minute metric interval each top-up
    used to yield no metric sample at all (5 // 10 steps), so live metrics stopped."""
    samples = []
    for start_minute in range(0, 30, 5):  # six consecutive 5-minute top-ups from 12:00
        sim = simulate(
            SimulationConfig(
                days=5 / 1440,
                services=("django",),
                seed=start_minute,
                start=datetime(2026, 11, 27, 12, start_minute, tzinfo=UTC),
                metric_interval_minutes=10,
            )
        )
        samples += [s for s in sim.iter_metrics() if s["metric_name"] == "request_count"]
    stamps = [datetime.fromisoformat(s["timestamp"]) for s in samples]
    assert [t.minute for t in stamps] == [0, 10, 20]
    # a half-covered step is still a per-interval request count, not half of one
    full = simulate(
        SimulationConfig(
            days=1 / 24, services=("django",), seed=1, metric_interval_minutes=10,
            start=datetime(2026, 11, 27, 12, tzinfo=UTC),
        )
    )  # fmt: skip
    whole = [s["value"] for s in full.iter_metrics() if s["metric_name"] == "request_count"]
    assert len(whole) == 6
    assert min(s["value"] for s in samples) > 0.5 * min(whole)


def test_a_short_top_up_continues_the_long_run_levels_of_its_hour():
    """Found in use: the demo's five-minute live top-ups were scaled by their own mean and max,
    so at any hour they were drawn at the daily mean error rate and at peak load (CPU 30 → 48
    on a quiet frontend), and the models paged about it."""
    long = simulate(
        SimulationConfig(
            days=14, services=("angular",), seed=2, start=datetime(2026, 1, 5, tzinfo=UTC)
        )
    )
    frame = long.bucket_frames()["angular"]
    night = frame[frame.index.hour == 4]
    top_ups = [
        simulate(
            SimulationConfig(
                days=5 / 1440,
                services=("angular",),
                seed=seed,
                start=datetime(2026, 1, 20 + seed, 4, 30, tzinfo=UTC),
            )
        ).bucket_frames()["angular"]
        for seed in range(1, 7)
    ]
    cpu = np.mean([f["metric_cpu"].mean() for f in top_ups])
    errors = np.mean([f["total_count"].sum() for f in top_ups])
    assert abs(cpu - night["metric_cpu"].mean()) < 4  # not the 48 of a peak
    assert errors < 2.0 * night["total_count"].mean() + 5


def test_a_continuation_runs_on_from_the_release_a_service_already_runs():
    # given stored traffic of react whose newest release is react@1.30.2
    config = SimulationConfig(
        days=7,
        services=("react",),
        seed=3,
        start=START,
        running_releases=(("react", "react@1.30.2"),),
    )

    sim = simulate(config)

    # then the continuation starts on it and deploys 1.31, 1.32, … (never back to 1.0.0)
    deploys = [release for _, release in sim.deploys("react")]
    assert deploys
    assert [int(r.split(".")[1]) for r in deploys] == list(range(31, 31 + len(deploys)))
    first = min(sim.iter_errors("react"), key=lambda e: e["occurred_at"])
    assert first["release"] == "react@1.30.2"
    assert all(e["release"] != "react@1.0.0" for e in sim.iter_errors("react"))


def test_without_a_running_release_a_service_starts_at_1_0_0():
    sim = simulate(SimulationConfig(days=7, services=("react",), seed=3, start=START))
    deploys = [release for _, release in sim.deploys("react")]
    assert min(sim.iter_errors("react"), key=lambda e: e["occurred_at"])["release"] == "react@1.0.0"
    assert [int(r.split(".")[1]) for r in deploys] == list(range(1, 1 + len(deploys)))


def test_cascades_are_front_end_outages_just_after_a_back_ends_and_change_nothing_else():
    """`cascade_fraction`: a front end sees some back-end outages (5xx from 2–8 minutes after
    the onset); off by default, and on it leaves the other incidents as they were."""
    from datetime import timedelta

    from ml_prediction.engines.simulator import BACKENDS, FIXED_START

    plain = simulate(SimulationConfig(days=21, seed=5, start=FIXED_START))
    cascaded = simulate(SimulationConfig(days=21, seed=5, start=FIXED_START, cascade_fraction=0.5))

    assert not [i for i in plain.incidents if i.cause_key == "upstream_failure"]
    own = [i for i in cascaded.incidents if i.cause_key != "upstream_failure"]
    assert [(i.incident_id, i.cause_key) for i in own] == [
        (i.incident_id, i.cause_key) for i in plain.incidents
    ]
    cascades = [i for i in cascaded.incidents if i.cause_key == "upstream_failure"]
    assert cascades and all(i.service not in BACKENDS and i.category == "api" for i in cascades)
    back_end_onsets = [i.start for i in plain.incidents if i.service in BACKENDS]
    for cascade in cascades:
        assert any(
            timedelta(minutes=2) <= cascade.start - onset <= timedelta(minutes=8)
            for onset in back_end_onsets
        ), cascade
