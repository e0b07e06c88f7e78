"""`pytest --clock`: the moment the suite travels to (the sweep relies on it being right)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import clock_moment, clock_target, python_command

ROOT = Path(__file__).resolve().parents[2]

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("Sun 23:58", datetime(2026, 11, 29, 23, 58, tzinfo=UTC)),
        ("sunday 23:58", datetime(2026, 11, 29, 23, 58, tzinfo=UTC)),
        ("Mon 00:05", datetime(2026, 11, 30, 0, 5, tzinfo=UTC)),
        ("tues 03:45", datetime(2026, 12, 1, 3, 45, tzinfo=UTC)),
        ("Wed 12:30", datetime(2026, 11, 25, 12, 30, tzinfo=UTC)),  # later the same day
        ("Wed 11:59", datetime(2026, 12, 2, 11, 59, tzinfo=UTC)),  # gone: next week's
        ("03:45", datetime(2026, 11, 26, 3, 45, tzinfo=UTC)),
        ("12:00", datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),  # now is not after now
    ],
)
def test_the_clock_goes_forward_to_the_next_such_moment(spec, expected):
    assert clock_target(spec, WEDNESDAY_NOON) == expected


@pytest.mark.parametrize(
    "spec", ["Sun", "25:00", "12:60", "Xyz 10:00", "Sunxyz 10:00", "Su 10:00", "10h30", ""]
)
def test_a_spec_it_cannot_read_says_how_to_write_one(spec):
    with pytest.raises(pytest.UsageError, match=r"HH:MM|no such time"):
        clock_target(spec, WEDNESDAY_NOON)


def test_under_clock_the_suite_lives_at_that_moment(pytestconfig):
    from django.utils import timezone

    moment = clock_moment(pytestconfig)
    if moment is None:
        pytest.skip("runs under --clock only (make clock-sweep)")
    # the clock ticks on from the moment: after it, by less than a whole run of the suite
    assert moment <= timezone.now() < moment + timedelta(hours=2)


@pytest.mark.parametrize("clock", ["Fri 16:20"], indirect=True)
def test_a_test_pinned_to_a_moment_runs_then(clock):
    from django.utils import timezone

    now = timezone.now()
    assert (clock.weekday(), clock.hour, clock.minute) == (4, 16, 20)
    assert clock <= now < clock + timedelta(minutes=5)


def test_a_test_not_pinned_runs_now(clock):
    assert abs(clock - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize("clock", ["Fri 16:20"], indirect=True)
def test_a_process_a_test_starts_lives_at_the_test_clock(clock):
    # this module, run as a program, prints the time it reads
    command = python_command("tests.unit.test_clock_option")
    assert command[:3] == [sys.executable, "-m", "tests.clock_process"]

    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout

    child = datetime.fromisoformat(out.strip())
    assert (child.weekday(), child.hour, child.minute) == (4, 16, 20)
    assert abs(child - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_process_started_without_travel_runs_as_is(pytestconfig):
    if clock_moment(pytestconfig) is not None:
        pytest.skip("under --clock every process travels")
    assert python_command("celery", "-A", "x") == [sys.executable, "-m", "celery", "-A", "x"]


if __name__ == "__main__":
    print(datetime.now(UTC).isoformat())
