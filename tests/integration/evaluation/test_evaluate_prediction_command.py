"""`manage.py evaluate prediction`: other seeds and the sensitivity table."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ml_prediction.engines.simulator import SimulationConfig
from ml_prediction.evaluation import prediction


def test_another_seed_never_overwrites_the_published_section(datasets_dir):
    with pytest.raises(CommandError, match="--seed needs --output FILE"):
        call_command("evaluate", "prediction", "--seed", "11", stdout=StringIO())


def test_the_seed_reaches_the_run(datasets_dir, tmp_path, monkeypatch):
    seen = {}

    def fake_run(datasets, *, quick, progress=None, seed=prediction.PUBLISHED_SEED):
        seen.update(quick=quick, seed=seed)
        return "## Error prediction\n\nstub"

    monkeypatch.setattr(prediction, "run", fake_run)
    output = tmp_path / "EVALUATION.md"

    call_command(
        "evaluate",
        "prediction",
        "--quick",
        "--seed",
        "11",
        "--datasets",
        str(datasets_dir),
        "--output",
        str(output),
        stdout=StringIO(),
        verbosity=0,
    )

    assert seen == {"quick": True, "seed": 11}


def test_the_sensitivity_table_changes_one_traffic_setting_at_a_time(monkeypatch):
    calls = []

    def fake_simulation(*, days, services, seed, train_fraction, progress, traffic):
        calls.append((seed, dict(traffic)))
        score = prediction.AlertScore()
        score.true_episodes, score.episodes = 4, 5
        score.precursor_incidents, score.precursor_detected = 10, 7
        score.lead_minutes = [10.0]
        return {"model ≥ 0.7, 2 buckets in a row": score}

    monkeypatch.setattr(prediction, "evaluate_simulation", fake_simulation)

    lines = prediction._sensitivity_section("model ≥ 0.7, 2 buckets in a row", None)

    variants = [traffic for _, traffic in prediction.SENSITIVITY_VARIANTS]
    assert calls == [(seed, t) for t in variants for seed in prediction.SENSITIVITY_SEEDS]
    assert all(len(t) <= 1 for t in variants)  # one setting at a time
    for traffic in variants:  # every setting is one the generator has
        SimulationConfig(**traffic)
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(variants)
    assert rows[0].startswith("| defaults") and "| 0.80 | 0.70 | 10 | 10 |" in rows[0]
    # the seeds are neither the published ones nor the tuning ones
    assert not set(prediction.SENSITIVITY_SEEDS) & {7, 8, 9, *range(11, 17)}
