"""`manage.py evaluate nab --quick` writes its section (and NAB's results layout) end to end."""

from __future__ import annotations

import re
from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from ml_prediction.evaluation import nab
from ml_prediction.management.commands.evaluate import merge_section


def test_evaluate_nab_quick_writes_the_section_and_the_export(datasets_dir, tmp_path):
    # given
    output = tmp_path / "EVALUATION.md"
    export = tmp_path / "nab-results"
    # when
    call_command(
        "evaluate",
        "nab",
        "--quick",
        "--datasets",
        str(datasets_dir),
        "--output",
        str(output),
        "--export-nab",
        str(export),
        stdout=StringIO(),
    )
    # then: one row per profile with a score, between the section markers
    text = output.read_text()
    assert "<!-- evaluate:nab -->" in text and "<!-- /evaluate:nab -->" in text
    for profile in nab.PROFILE_NAMES:
        match = re.search(rf"\| {profile} \| \*\*(-?[0-9.]+)\*\*", text)
        assert match, profile
        assert -100.0 <= float(match.group(1)) <= 100.0
    files = sorted(export.glob(f"{nab.DETECTOR_NAME}/*/{nab.DETECTOR_NAME}_*.csv"))
    assert len(files) == len(nab.QUICK_FILES)
    frame = pd.read_csv(files[0])
    assert list(frame.columns) == ["timestamp", "value", "anomaly_score", "label"]
    assert frame["anomaly_score"].between(0.0, 1.0).all()


def test_rerunning_one_evaluation_keeps_the_other_sections():
    # given a document with two sections
    document = merge_section("", "forecast", "## Forecast\n\nold forecast")
    document = merge_section(document, "nab", "## NAB\n\nold nab")
    # when
    updated = merge_section(document, "nab", "## NAB\n\nnew nab")
    # then
    assert "old forecast" in updated and "new nab" in updated and "old nab" not in updated
    assert updated.count("<!-- evaluate:nab -->") == 1


def test_a_missing_datasets_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("evaluate", "nab", "--datasets", str(tmp_path / "nope"), stdout=StringIO())


def _evaluate_nab_on(datasets):
    call_command(
        "evaluate",
        "nab",
        "--datasets",
        str(datasets),
        "--output",
        str(datasets / "EVALUATION.md"),
        stdout=StringIO(),
    )


def test_a_corpus_without_labels_is_a_clear_error(tmp_path):
    # given a datasets directory whose nab/ has data but no labels
    data = tmp_path / "nab" / "data" / "realOps"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n")

    # when / then: the command says which file is missing, without a traceback
    with pytest.raises(CommandError, match=r"nab: .*combined_windows\.json is missing"):
        _evaluate_nab_on(tmp_path)


def test_a_corpus_without_labelled_data_is_a_clear_error(tmp_path):
    # given labels that name no file present under data/
    (tmp_path / "nab" / "data").mkdir(parents=True)
    (tmp_path / "nab" / "labels").mkdir()
    (tmp_path / "nab" / "labels" / "combined_windows.json").write_text('{"x/gone.csv": []}')

    # when / then
    with pytest.raises(CommandError, match="no labelled data file under"):
        _evaluate_nab_on(tmp_path)
