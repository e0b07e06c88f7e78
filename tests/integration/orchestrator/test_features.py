"""The vectorised histogram percentile equals the ingestion's ``rollup_percentile``."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99, 1.0])
def test_histogram_percentiles_match_rollup_percentile(q):
    from error_logging.rollups import RT_BUCKETS, rollup_percentile
    from ml_prediction.services.features import histogram_percentiles

    rng = np.random.default_rng(1)
    matrix = np.zeros((60, RT_BUCKETS), dtype=float)
    for row in range(1, 60):  # row 0 stays empty
        spots = rng.integers(0, RT_BUCKETS, size=rng.integers(1, 6))
        matrix[row, spots] += rng.integers(1, 50, size=spots.size)

    got = histogram_percentiles(matrix, q)

    expected = [rollup_percentile([int(c) for c in row], q) for row in matrix[1:]]
    assert np.isnan(got[0])
    assert np.allclose(got[1:], expected, rtol=1e-9)
