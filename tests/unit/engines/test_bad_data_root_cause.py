"""Bad error-type counts: NaN, None, negative or non-numeric counts are dropped, never a NaN
share in a stored signature or a TypeError."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.root_cause import analyze_root_cause, incident_signature

FRAME = pd.DataFrame(
    {"total_count": np.arange(48.0)},
    index=pd.date_range("2026-01-05", periods=48, freq="5min", tz="UTC"),
)


@pytest.mark.parametrize(
    "bad",
    [float("nan"), None, "many", -7, float("inf"), 10**400, object()],
    ids=["nan", "None", "text", "negative", "inf", "huge-int", "object"],
)
def test_a_bad_count_is_dropped_from_the_signature_and_the_names(bad):
    error_types = {"OperationalError": bad, "KeyError": 5}
    # when a signature and a root cause are computed
    signature = incident_signature(FRAME, error_types=error_types)
    result = analyze_root_cause(FRAME, service="django", error_types=error_types)
    # then the bad count is left out: the other name is the whole hour, every number finite
    assert all(math.isfinite(v) for v in signature.values()), signature
    assert signature["tpl:keyerror"] == 1.0
    assert "tpl:operationalerror" not in signature
    assert math.isfinite(result.confidence)
    assert not any("OperationalError" in step for step in result.decision_path)


def test_a_count_written_as_a_numeral_counts():
    signature = incident_signature(FRAME, error_types={"OperationalError": "5", "KeyError": 5})
    assert signature["tpl:operationalerror"] == 0.5 and signature["tpl:keyerror"] == 0.5


def test_counts_whose_sum_overflows_give_finite_shares():
    error_types = {"connection pool exhausted": 1e308, "OperationalError": 1e308}
    signature = incident_signature(FRAME, error_types=error_types)
    result = analyze_root_cause(FRAME, service="django", error_types=error_types)
    assert all(math.isfinite(v) for v in signature.values()), signature
    assert math.isclose(sum(v for k, v in signature.items() if k.startswith("tpl:")), 1.0)
    assert math.isfinite(result.confidence)
