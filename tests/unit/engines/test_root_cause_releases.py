"""The root-cause engine dates a release against the rise of errors (`ReleaseSeen`)."""

from __future__ import annotations

import pandas as pd
import pytest

from ml_prediction.engines.root_cause import ReleaseSeen, analyze_root_cause
from tests.unit.engines.test_root_cause import incident_frame

# incident_frame's errors rise at its last hour: 2026-01-05 23:00 UTC
RISE = pd.Timestamp("2026-01-05 23:00", tz="UTC")
FLUTTER_CLOSED = {"HttpException: Connection closed before full header was received": 700}


def _releases(*items: tuple[str, int, str]) -> list[ReleaseSeen]:
    """(release, errors in the hour, first seen as minutes relative to the rise)."""
    return [
        ReleaseSeen(name, errors, (RISE + pd.Timedelta(minutes=float(at))).to_pydatetime())
        for name, errors, at in items
    ]


def _flutter_release_at(frame: pd.DataFrame, first_seen, *, errors: int):
    """The root cause of ``frame``'s flutter outage ("connection closed") when release 2.5.0,
    carrying ``errors`` of the hour's errors, was first seen at ``first_seen``."""
    return analyze_root_cause(
        frame,
        service="flutter",
        error_types=FLUTTER_CLOSED,
        releases=[ReleaseSeen("flutter@2.5.0", errors, first_seen)],
    )


def test_a_release_first_seen_just_before_the_rise_is_the_cause():
    """Found in the evaluation: a Flutter release whose HttpExceptions ("Connection closed before
    full header was received") ingestion files as connection errors read as a network
    partition, though the release went out three minutes before; "what changed?" is the first
    question of an incident, and the errors' releases answer it."""
    # given a surge of connection errors that release 2.5.0, out 3 minutes before, carries
    frame = incident_frame(category="connection", before=1.0, during=60.0, p95_during=(800.0,))
    releases = _releases(("flutter@2.5.0", 690, -3), ("flutter@2.4.1", 30, -600))

    # when the root cause is analysed with the releases
    result = analyze_root_cause(
        frame, service="flutter", error_types=FLUTTER_CLOSED, releases=releases
    )
    without = analyze_root_cause(frame, service="flutter", error_types=FLUTTER_CLOSED)

    # then the release is the cause, the path says when it went out and what it carries,
    # and the hypothesis names it
    assert without.cause_key == "network_partition"
    assert result.cause_key == "bad_release"
    line = next(p for p in result.decision_path if "flutter@2.5.0" in p)
    assert "3 min before the errors rose" in line and "96%" in line
    assert "flutter@2.5.0" in result.hypothesis
    # and the result names the release to roll back
    assert (result.suspect_release, without.suspect_release) == ("flutter@2.5.0", "")


def test_a_release_long_running_before_the_rise_is_not_blamed():
    frame = incident_frame(category="connection", before=1.0, during=60.0, p95_during=(800.0,))
    releases = _releases(("flutter@2.5.0", 720, -120))  # out two hours before the rise

    result = analyze_root_cause(
        frame, service="flutter", error_types=FLUTTER_CLOSED, releases=releases
    )

    assert result.cause_key == "network_partition"
    assert any("no release went out before the errors rose" in p for p in result.decision_path)


@pytest.mark.parametrize("minutes", [-31, 6])
def test_the_release_must_go_out_in_the_half_hour_before_the_rise_or_in_its_bucket(minutes):
    frame = incident_frame(category="connection", before=1.0, during=60.0, p95_during=(800.0,))
    releases = _releases(("flutter@2.5.0", 720, minutes))

    result = analyze_root_cause(
        frame, service="flutter", error_types=FLUTTER_CLOSED, releases=releases
    )

    assert result.cause_key == "network_partition"


def test_api_errors_without_a_new_release_are_not_read_as_a_bad_release():
    """The category map reads an api-error surge as "the latest release introduced a fault";
    when the errors' releases show none went out, a slow dependency (p95 ×37) is the better
    reading."""
    frame = incident_frame(category="api", before=1.0, during=60.0)
    error_types = {"AxiosError: Request failed with status code <n>": 700}
    releases = _releases(("react@3.1.0", 720, -3000))

    guessed = analyze_root_cause(frame, service="react", error_types=error_types)
    result = analyze_root_cause(frame, service="react", error_types=error_types, releases=releases)

    assert guessed.cause_key == "bad_release"
    assert result.cause_key == "upstream_timeout"


def test_a_deploy_that_coincides_with_a_saturated_pool_does_not_outvote_the_pool():
    frame = incident_frame(category="database", before=1.0, during=60.0, db_pool_in_use=(40, 100))
    releases = _releases(("django@1.4.2", 720, -10))

    result = analyze_root_cause(
        frame,
        service="django",
        error_types={"OperationalError: too many connections": 700},
        releases=releases,
    )

    assert result.cause_key == "db_pool_exhaustion"
    assert any("django@1.4.2" in p for p in result.decision_path)  # still shown: it changed
    assert result.suspect_release == ""  # nothing to roll back: the pool is the cause


def test_a_bad_release_read_from_the_error_names_alone_names_no_release():
    """A front end's ChunkLoadErrors say "a release" without saying which: the rollback must not
    name one the errors did not date."""
    frame = incident_frame(category="api", before=1.0, during=60.0)
    error_types = {"ChunkLoadError: Loading chunk 42 failed.": 700}

    result = analyze_root_cause(frame, service="react", error_types=error_types)
    dated = analyze_root_cause(
        frame,
        service="react",
        error_types=error_types,
        releases=_releases(("react@3.2.0", 700, -5)),
    )

    assert (result.cause_key, result.suspect_release) == ("bad_release", "")
    assert (dated.cause_key, dated.suspect_release) == ("bad_release", "react@3.2.0")


@pytest.mark.parametrize(
    "releases",
    [
        [],
        [ReleaseSeen("", 700, RISE.to_pydatetime())],  # the services send no release
        [ReleaseSeen("flutter@2.5.0", 0, RISE.to_pydatetime())],
    ],
)
def test_no_usable_release_changes_nothing(releases):
    frame = incident_frame(category="connection", before=1.0, during=60.0, p95_during=(800.0,))

    result = analyze_root_cause(
        frame, service="flutter", error_types=FLUTTER_CLOSED, releases=releases
    )
    without = analyze_root_cause(frame, service="flutter", error_types=FLUTTER_CLOSED)

    assert (result.cause_key, result.confidence) == (without.cause_key, without.confidence)


def test_a_quiet_hour_dates_no_release():
    frame = incident_frame(category="connection", before=1.0, during=1.0)
    releases = _releases(("flutter@2.5.0", 12, -3))

    result = analyze_root_cause(frame, service="flutter", releases=releases)

    assert result.cause_key != "bad_release"
    assert any("no rise of errors" in p for p in result.decision_path)


def test_a_first_seen_without_a_time_zone_is_read_as_utc():
    frame = incident_frame(category="connection", before=1.0, during=60.0, p95_during=(800.0,))
    naive = (RISE - pd.Timedelta(minutes=3)).tz_localize(None).to_pydatetime()

    result = _flutter_release_at(frame, naive, errors=700)

    assert result.cause_key == "bad_release"
    assert any("22:57 UTC, 3 min before" in p for p in result.decision_path)


def _hour_with(frame: pd.DataFrame, surge_from: str, counts: dict[str, float]) -> pd.DataFrame:
    """``frame``'s last hour quiet (one error a bucket) before ``surge_from`` (HH:MM), with the
    connection errors of ``counts`` (HH:MM → errors) set on top."""
    column = "connection_count"
    hour = frame.index >= RISE
    quiet = hour & (frame.index < pd.Timestamp(f"2026-01-05 {surge_from}", tz="UTC"))
    frame.loc[quiet, column] = 1.0
    for at, count in counts.items():
        frame.loc[pd.Timestamp(f"2026-01-05 {at}", tz="UTC"), column] = count
    return frame


@pytest.mark.parametrize(
    "before, during, surge_from, counts, released, lead",
    [
        # an earlier blip of the service's own traffic, 35 minutes before the outage
        (1.0, 60.0, "23:40", {"23:05": 60.0}, "23:37", "3 min"),
        # one quieter bucket inside the surge does not end it
        (1.0, 60.0, "23:10", {"23:30": 1.0}, "23:08", "2 min"),
        # a quiet service's noise just over the bar (7 vs a median of 2) before 128 a bucket
        (2.0, 128.0, "23:35", {"23:30": 7.0, "23:35": 24.0}, "23:39", "1 min"),
    ],
    ids=["earlier-blip", "quieter-bucket-inside", "noise-before"],
)
def test_the_rise_is_where_the_latest_surge_began(
    before, during, surge_from, counts, released, lead
):
    """Found by the clock sweep (Sat 12:00), on a quiet flutter: the bucket before the outage
    held 7 errors against a baseline median of 2, just over the bar, so the rise was dated there
    and the release that brought the outage, first seen in the next bucket, looked late (an
    earlier blip in the hour did the same)."""
    frame = incident_frame(category="connection", before=before, during=during, p95_during=(800.0,))
    frame = _hour_with(frame, surge_from, counts)
    first_seen = pd.Timestamp(f"2026-01-05 {released}", tz="UTC").to_pydatetime()

    result = _flutter_release_at(frame, first_seen, errors=500)

    assert result.cause_key == "bad_release"
    assert any(f"{lead} before the errors rose" in p for p in result.decision_path)
