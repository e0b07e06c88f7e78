"""Bad data in a bucket frame's columns: nullable, string and category dtypes become numbers
(or NaN, then zero counts), never a TypeError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.features import build_features, normalize_bucket_frame
from ml_prediction.engines.root_cause import analyze_root_cause

INDEX = pd.date_range("2026-01-05", periods=3, freq="5min", tz="UTC")


@pytest.mark.parametrize(
    ("column", "counts", "latencies"),
    [
        (pd.array([1, 2, None], dtype="Int64"), [1.0, 2.0, 0.0], [1.0, 2.0, None]),
        (pd.array([1.5, None, 3.0], dtype="Float64"), [1.5, 0.0, 3.0], [1.5, None, 3.0]),
        (pd.array(["1", "many", None], dtype="string"), [1.0, 0.0, 0.0], [1.0, None, None]),
        (pd.Categorical(["4", "x", "4"]), [4.0, 0.0, 4.0], [4.0, None, 4.0]),
        (pd.array([True, None, False], dtype="boolean"), [1.0, 0.0, 0.0], [1.0, None, 0.0]),
    ],
    ids=["Int64", "Float64", "string", "category", "boolean"],
)
def test_nullable_string_and_category_columns_are_coerced_to_float(column, counts, latencies):
    # given a frame whose count column has a pandas extension dtype
    frame = pd.DataFrame({"total_count": column, "rt_p95": column}, index=INDEX)
    # when normalised
    data = normalize_bucket_frame(frame)
    # then counts are floats with NA (or a non-number) as zero, latencies NaN
    assert data["total_count"].dtype == float
    assert data["total_count"].tolist() == counts
    assert data["rt_p95"].dtype == float
    assert [None if np.isnan(v) else v for v in data["rt_p95"]] == latencies


def test_convert_dtypes_frame_gives_features_and_a_root_cause():
    # given the reviewer's frame: convert_dtypes() turns the counts into Int64 with an NA
    frame = pd.DataFrame({"total_count": [1, 2, None]}, index=INDEX).convert_dtypes()
    # when features and a root cause are asked for
    features = build_features(frame)
    result = analyze_root_cause(frame, service="django")
    # then both answer (no TypeError) with finite numbers where the frame had values
    assert len(features) == 3
    assert features["current_error_rate"].tolist() == pytest.approx([0.2, 0.4, 0.0])  # per minute
    assert result.cause_key
