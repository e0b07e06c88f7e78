"""A section's command line names the data it read when that is not the default corpus, so the
figures printed under it can be reproduced from the same data."""

from __future__ import annotations

from pathlib import Path

from ml_prediction.evaluation import datasets_option, default_datasets_dir


def test_the_default_corpus_adds_nothing_to_the_command():
    assert datasets_option(default_datasets_dir()) == ""


def test_other_data_is_named_on_the_command(tmp_path: Path):
    assert datasets_option(tmp_path) == f" --datasets {tmp_path}"


def test_the_environment_setting_moves_the_default(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FH_DATASETS_DIR", str(tmp_path))
    assert datasets_option(tmp_path) == ""
