"""The response-time histogram: bucket edges and percentiles within 5% of exact."""

from __future__ import annotations

import random

import pytest

from error_logging.rollups import (
    RT_BUCKETS,
    RT_EDGES,
    merge_histograms,
    rollup_percentile,
    rt_bucket,
)


def _histogram(values: list[float]) -> list[int]:
    histogram = [0] * RT_BUCKETS
    for value in values:
        histogram[rt_bucket(value)] += 1
    return histogram


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0, 1.05, 37.2, 999.99, 1000.0, 250_000.0, 10**7])
def test_rt_bucket_holds_the_value(value):
    index = rt_bucket(value)
    assert RT_EDGES[index] <= value
    assert index == RT_BUCKETS - 1 or value < RT_EDGES[index + 1]


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: rng.lognormvariate(5, 1.2),  # typical latencies
        lambda rng: rng.expovariate(1 / 200),
        lambda rng: rng.choice([rng.uniform(20, 80), rng.uniform(3000, 30000)]),  # bimodal
    ],
)
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_percentiles_are_within_five_percent_of_exact(draw, q):
    rng = random.Random(3)
    values = sorted(draw(rng) for _ in range(20_000))
    exact = values[int(q * (len(values) - 1))]
    assert rollup_percentile(_histogram(values), q) == pytest.approx(exact, rel=0.05)


def test_percentile_of_empty_histogram_is_zero_and_q_is_checked():
    assert rollup_percentile([], 0.95) == 0.0
    with pytest.raises(ValueError):
        rollup_percentile([1], 95)


def test_merge_histograms_of_different_lengths():
    assert merge_histograms([1, 2], [0, 1, 5]) == [1, 3, 5]
