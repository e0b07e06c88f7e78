"""`manage.py evaluate forecast`: the rolling-origin and worker options reach the evaluation."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def quick_forecast(datasets_dir, output, *options: str) -> None:
    """One quick NAB file scored by one worker, with `options`, written to `output`."""
    call_command(
        "evaluate",
        "forecast",
        "--quick",
        "--limit",
        "1",
        "--jobs",
        "1",
        *options,
        "--datasets",
        str(datasets_dir),
        "--output",
        str(output),
        stdout=StringIO(),
        verbosity=0,
    )


def test_forecast_options_reach_the_section(datasets_dir, tmp_path):
    # given
    output = tmp_path / "EVALUATION.md"
    # when one quick NAB file is scored on two held-out days by one worker
    quick_forecast(datasets_dir, output, "--nab-days", "2")
    # then the section says so, between its markers
    text = output.read_text()
    assert "<!-- evaluate:forecast -->" in text and "<!-- /evaluate:forecast -->" in text
    assert "`python manage.py evaluate forecast --quick --nab-days 2`" in text
    assert "1 NAB file (quick subset) × 2 held-out days" in text
    assert "with 1 worker process " in text
    assert "| **all NAB** | 1 |" in text


@pytest.mark.parametrize("option", ["--jobs", "--nab-days"])
def test_fewer_than_one_job_or_day_is_a_clear_error(datasets_dir, tmp_path, option):
    with pytest.raises(CommandError, match=f"{option} must be at least 1"):
        call_command(
            "evaluate",
            "forecast",
            option,
            "0",
            "--datasets",
            str(datasets_dir),
            "--output",
            str(tmp_path / "EVALUATION.md"),
            stdout=StringIO(),
        )


def test_skip_last_days_reaches_the_section_and_must_not_be_negative(datasets_dir, tmp_path):
    # given
    output = tmp_path / "EVALUATION.md"
    # when one quick NAB file is scored with its held-out day shifted one day earlier
    quick_forecast(datasets_dir, output, "--skip-last-days", "1")
    # then the section names the option and says it is not the published protocol
    text = output.read_text()
    assert "`python manage.py evaluate forecast --quick --skip-last-days 1`" in text
    assert "**Tuning run, not the published protocol:**" in text
    # and a negative shift is refused
    with pytest.raises(CommandError, match="--skip-last-days must not be negative"):
        call_command(
            "evaluate",
            "forecast",
            "--skip-last-days",
            "-1",
            "--datasets",
            str(datasets_dir),
            "--output",
            str(output),
            stdout=StringIO(),
        )
