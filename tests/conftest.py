"""Shared fixtures. Integration tests run on real PostgreSQL (both databases) and Redis."""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

BOTH_DBS = ["default", "ml_prediction"]
DATASETS_DIR = Path(
    os.environ.get("FH_DATASETS_DIR", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = pytest.StashKey[datetime]()
# fixtures whose other process keeps the real clock: a browser's JavaScript clock, and a Redis
# server's. (Workers and gunicorn start through `python_command`, which shares the test clock;
# live_server is a thread of this process.)
_OTHER_PROCESS = frozenset({"browser", "page", "own_redis"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=os.environ.get("FH_TEST_CLOCK") or None,
        metavar="'[DAY] HH:MM'",
        help="run as if the UTC time were the next such moment (e.g. 'Sun 23:58'; the clock "
        "ticks on from there): analyses read hours, days and weeks from the clock, and CI "
        "has found bugs that only one time of day showed; `make clock-sweep` runs several",
    )


def clock_target(spec: str, now: datetime) -> datetime:
    """The first moment after ``now`` (UTC) that matches ``spec`` ("Sun 23:58" or "03:45").

    Forward, never back: the SQL views compare with PostgreSQL's NOW(), which does not travel,
    and rows made in the past would fall out of them."""
    match = re.fullmatch(r"\s*(?:([A-Za-z]{3,})\s+)?(\d{1,2}):(\d{2})\s*", spec)
    name = match and match.group(1) and match.group(1).lower()
    day = name and next((d for d in _DAY_NAMES if d.startswith(name)), None)
    if not match or (name and not day):
        raise pytest.UsageError(
            f"--clock {spec!r}: write '[DAY] HH:MM', e.g. 'Sun 23:58' or '03:45'"
        )
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise pytest.UsageError(f"--clock {spec!r}: no such time of day")
    moment = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    while moment <= now or (day and moment.weekday() != _DAY_NAMES.index(day)):
        moment += timedelta(days=1)
    return moment


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_clock: needs the real clock in another process (Chromium's, a Redis server's, "
        "or a worker's to the millisecond); skipped under --clock",
    )
    spec = config.getoption("--clock")
    if not spec:
        return
    import time_machine

    moment = clock_target(spec, datetime.now(UTC))
    traveller = time_machine.travel(moment, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)
    config.stash[_CLOCK] = moment


def python_command(module: str, *args: str) -> list[str]:
    """``python -m module args…`` for a subprocess a test starts, at this process's clock.

    When the tests travel (``--clock``, the ``clock`` fixture), the subprocess travels as far
    (``tests.clock_process``), so a worker or a server sees the time the test made its data at.
    """
    shift = 0.0
    if "time_machine" in sys.modules:
        from time_machine import escape_hatch

        if escape_hatch.is_travelling():
            shift = datetime.now(UTC).timestamp() - escape_hatch.time.time()
    if abs(shift) < 1.0:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", "tests.clock_process", f"{shift:.3f}", module, *args]


def clock_moment(config: pytest.Config) -> datetime | None:
    """The moment the suite travelled to with --clock, or None."""
    return config.stash.get(_CLOCK, None)


def pytest_report_header(config: pytest.Config) -> str | None:
    moment = clock_moment(config)
    return f"clock: {moment:%a %Y-%m-%d %H:%M} UTC (--clock)" if moment else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _CLOCK not in config.stash:
        return
    skip = pytest.mark.skip(reason="real_clock: its other process would not share --clock")
    for item in items:
        if item.get_closest_marker("real_clock") or _OTHER_PROCESS.intersection(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(skip)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> datetime:
    """The test runs at the next UTC moment its parameter names ("Fri 16:20"), or now.

    Parametrize it indirectly, "now" beside the moments a sweep or CI found a bug at, so that
    moment is tested on every run: ``@pytest.mark.parametrize("clock", ["now", "Fri 16:20"],
    indirect=True)``. The clock ticks on from there; under --clock, from that moment on.
    """
    spec = getattr(request, "param", "now")
    if spec == "now":
        return datetime.now(UTC)
    import time_machine

    moment = clock_target(spec, datetime.now(UTC))
    traveller = time_machine.travel(moment, tick=True)
    traveller.start()
    request.addfinalizer(traveller.stop)
    return moment


@pytest.fixture
def datasets_dir() -> Path:
    if not DATASETS_DIR.exists():
        if os.environ.get("CI"):
            pytest.fail(f"datasets folder {DATASETS_DIR} is missing on CI")
        pytest.skip(f"datasets folder {DATASETS_DIR} is absent (set FH_DATASETS_DIR)")
    return DATASETS_DIR


@pytest.fixture
def ops_user(db):
    from django.contrib.auth import get_user_model

    from ml_prediction.permissions_setup import ensure_roles

    ensure_roles()
    user = get_user_model().objects.create_user("ops", password="ops-pass-123")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="ops"))
    return user


@pytest.fixture
def readonly_user(db):
    from django.contrib.auth import get_user_model

    from ml_prediction.permissions_setup import ensure_roles

    ensure_roles()
    user = get_user_model().objects.create_user("reader", password="reader-pass-123")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="read-only"))
    return user


def _client_for(user):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def ops_client(ops_user):
    return _client_for(ops_user)


@pytest.fixture
def readonly_client(readonly_user):
    return _client_for(readonly_user)
