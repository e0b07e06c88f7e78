"""NAB leave-half-out check: knobs and thresholds chosen on one half of the files, the other
half scored with them unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_prediction.engines.anomaly import StreamConfig, hold_alarms, stream_surprise
from ml_prediction.evaluation import nab

PROFILES = {
    "standard": nab.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": nab.CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": nab.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


def _file(number: int, spike_at: int, rows: int = 800) -> nab.NabFile:
    """Noisy flat series with one large spike in the middle of its single labelled window."""
    rng = np.random.default_rng(number)
    values = 100.0 + rng.normal(0.0, 1.0, rows)
    values[spike_at] += 30.0
    index = pd.date_range("2024-01-01", periods=rows, freq="5min")
    return nab.NabFile(
        key=f"toy/file_{number}.csv",
        timestamps=index,
        values=values,
        windows=[(spike_at - 20, spike_at + 20)],
    )


def test_split_check_tunes_on_one_half_and_scores_the_other():
    # given four files, each with one clear spike inside its window
    corpus = [_file(number, spike_at=400 + 50 * number) for number in range(4)]
    surprises = [stream_surprise(f.values, f.timestamps) for f in corpus]
    # when
    results = nab.split_check(corpus, PROFILES)
    # then: both directions are reported, with knobs from the declared grid
    assert [(r.tuned_on, r.scored_on) for r in results] == [("odd", "even"), ("even", "odd")]
    halves = {"odd": [0, 2], "even": [1, 3]}  # files 1, 3 and 2, 4
    for result in results:
        assert result.alarm_surprise in nab.SPLIT_ALARM_SURPRISE
        assert result.hold_rows in nab.SPLIT_HOLD_ROWS
        assert result.refractory_surprise in nab.SPLIT_REFRACTORY_SURPRISE
        assert set(result.held_out) == set(nab.PROFILE_NAMES)
        # the tuning score is the chosen knobs' score on the tuning half, and no worse than the
        # defaults' score there (they are in the grid)
        tune = [corpus[i] for i in halves[result.tuned_on]]

        def tuning_score(config: StreamConfig, tune=tune, result=result) -> float:
            held = [hold_alarms(surprises[i], config) for i in halves[result.tuned_on]]
            return nab.score_profile(tune, held, "standard", PROFILES["standard"]).normalised

        chosen = StreamConfig(
            alarm_surprise=result.alarm_surprise,
            hold_rows=result.hold_rows,
            refractory_surprise=result.refractory_surprise,
        )
        assert result.tuned_score == tuning_score(chosen)
        assert result.tuned_score >= tuning_score(StreamConfig())
        # NAB's own threshold on the scored half can only match or beat a borrowed one
        for profile in nab.PROFILE_NAMES:
            assert result.held_out_nab[profile] >= result.held_out[profile] - 1e-9
    # the spikes are obvious: with knobs tuned elsewhere, the scored half is still found
    assert max(r.held_out_nab["standard"] for r in results) > 50.0


def test_normalised_at_a_fixed_threshold_matches_the_optimised_score_at_its_threshold():
    # given
    corpus = [_file(number, spike_at=500) for number in range(2)]
    scores = [np.where(np.arange(800) == 500, 0.9, 0.1) for _ in corpus]
    optimised = nab.score_profile(corpus, scores, "standard", PROFILES["standard"])
    # when / then: scoring at the optimiser's threshold reproduces its normalised score, and
    # a threshold above every score is the "detect nothing" score
    at = nab.normalised_at(corpus, scores, PROFILES["standard"], optimised.threshold)
    assert at == optimised.normalised
    assert nab.normalised_at(corpus, scores, PROFILES["standard"], 2.0) < optimised.normalised
