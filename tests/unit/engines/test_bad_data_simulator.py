"""A simulated service without errors: bucket frames of zero counts, not a KeyError."""

from __future__ import annotations

from datetime import UTC, datetime

from ml_prediction.engines.simulator import BUCKET_COLUMNS, SimulationConfig, simulate

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_a_service_with_no_errors_gives_zero_counts_and_no_latency():
    # given a day of a service that raises no errors
    sim = simulate(SimulationConfig(days=1, services=("django",), errors_per_minute=0, start=START))
    # when bucketed
    frame = sim.bucket_frames()["django"]
    # then every bucket is there with zero counts, and latencies are NaN as in quiet buckets
    assert len(frame) == 24 * 60 // sim.config.bucket_minutes
    assert list(frame.columns[: len(BUCKET_COLUMNS)]) == list(BUCKET_COLUMNS)
    counts = [c for c in BUCKET_COLUMNS if c.endswith("_count")]
    assert (frame[counts] == 0).all().all()
    assert frame[["rt_mean", "rt_p95", "rt_p99", "rt_max"]].isna().all().all()
    assert frame["metric_cpu"].notna().all()  # the service still runs
