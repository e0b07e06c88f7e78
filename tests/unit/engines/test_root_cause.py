"""Root cause: decision path on simulated incidents and signature matching."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.root_cause import (
    WINDOW_MINUTES,
    FleetIncident,
    PastIncident,
    ReleaseSeen,
    analyze_root_cause,
    cosine_similarity,
    dependency_in_message,
    evidence_start,
    incident_signature,
    message_template,
    step_in_words,
)
from ml_prediction.engines.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(
        SimulationConfig(
            days=14, services=("django", "react"), seed=3, start=datetime(2026, 1, 5, tzinfo=UTC)
        )
    )


def window(sim, incident):
    frame = sim.bucket_frames()[incident.service]
    end = pd.Timestamp(incident.start) + pd.Timedelta(minutes=15)
    return frame[(frame.index < end) & (frame.index >= end - pd.Timedelta(hours=24))]


def test_finds_the_labelled_cause_of_most_incidents(sim):
    hits = [
        analyze_root_cause(window(sim, i), service=i.service).cause_key == i.cause_key
        for i in sim.incidents
    ]
    assert len(hits) >= 5
    assert sum(hits) / len(hits) >= 0.7


def test_result_has_path_confidence_and_numbers(sim):
    incident = next(i for i in sim.incidents if i.cause_key == "db_pool_exhaustion")
    result = analyze_root_cause(
        window(sim, incident),
        service="django",
        error_types={"OperationalError": 120, "KeyError": 3},
    )
    assert result.cause_key == "db_pool_exhaustion"
    assert 0.5 <= result.confidence <= 0.95
    assert [p.split(":")[0] for p in result.decision_path][:1] == ["error type"]
    assert any(p.startswith("system state") for p in result.decision_path)
    assert "%" in result.hypothesis


def test_similar_past_incidents_rank_the_same_cause_first(sim):
    by_cause = {}
    for inc in sim.incidents:
        by_cause.setdefault((inc.service, inc.cause_key), []).append(inc)
    (service, cause), incidents = next((k, v) for k, v in by_cause.items() if len(v) >= 2)
    history = [
        PastIncident(
            f"past-{i.incident_id}",
            i.cause_key,
            incident_signature(window(sim, i)),
            summary=i.cause_key,
        )
        for i in sim.incidents
        if i.service == service and i is not incidents[-1]
    ]
    result = analyze_root_cause(window(sim, incidents[-1]), service=service, history=history)
    assert result.similar_incidents[0].cause_key == cause
    assert result.similar_incidents[0].similarity > 0.8


def test_quiet_service_is_unknown_with_low_confidence():
    index = pd.date_range("2026-01-05", periods=300, freq="5min", tz="UTC")
    result = analyze_root_cause(
        pd.DataFrame({"total_count": [2] * 300}, index=index), service="vue"
    )
    assert result.cause_key == "unknown" and result.confidence < 0.3


def test_empty_frame_gives_unknown_not_a_crash():
    result = analyze_root_cause(pd.DataFrame(), service="vue")
    assert result.cause_key == "unknown" and result.confidence == 0.0


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ({"x": 1.0}, {"x": 2.0}, 1.0),
        ({"x": 1.0}, {"y": 1.0}, 0.0),
        ({}, {}, 0.0),
        ({"x": 1.0, "y": 1.0}, {"x": 1.0}, 0.7071),
    ],
)
def test_cosine_similarity(a, b, expected):
    assert cosine_similarity(a, b) == pytest.approx(expected, abs=1e-4)


def test_message_templates_drop_variable_parts():
    assert message_template("Read timed out after 3000 ms") == message_template(
        "Read timed out after 12 ms"
    )
    assert message_template("Undefined index: 'donor_7'") == "Undefined index: <str>"
    # a value with its unit is still a value (Hikari: "request timed out after 30000ms.")
    assert message_template("timed out after 30000ms, 512MB used") == (
        "timed out after <n>ms, <n>MB used"
    )
    assert message_template("db5 down") == "db5 down"  # part of a name, not a value


def test_a_past_incident_without_a_known_cause_does_not_vote(sim):
    """Found in use: a library of incidents stored with cause "" explained a repeat of one of
    them as "laravel:  (error mix)"."""
    incident = next(i for i in sim.incidents if i.cause_key == "db_pool_exhaustion")
    current = window(sim, incident)
    twin = PastIncident("past-twin", "", incident_signature(current), summary="")
    result = analyze_root_cause(current, service=incident.service, history=[twin])
    assert result.cause_key == "db_pool_exhaustion"
    assert not any(p.startswith("similar past issue:") for p in result.decision_path)


def test_a_similar_past_incident_does_not_outvote_what_the_hour_shows():
    """Found measuring the library (`evaluate prediction`): a past incident at similarity 0.8+
    voted 1.5 × its similarity, more than a saturated pool's gauge; an incident matched with an
    earlier one of another cause took that cause, and a library grown as the product grows it
    turned 137 right answers of the generator into 113."""
    # given an hour of timeouts at 30 s whose errors name the pool ...
    current = incident_frame(category="timeout")
    names = {"HikariPoolTimeoutException": 700, "SocketTimeoutException": 20}
    # ... and a past incident that looked just like it, stored with another cause
    twin = PastIncident(
        "past-twin", "upstream_timeout", incident_signature(current, error_types=names)
    )

    result = analyze_root_cause(current, service="java", error_types=names, history=[twin])

    # then the hour's own evidence decides; the past incident is shown, not obeyed
    assert result.cause_key == "db_pool_exhaustion"
    assert result.similar_incidents[0].incident_id == "past-twin"
    assert any(p.startswith("similar past issue: past-twin") for p in result.decision_path)


def test_a_similar_past_incident_decides_when_the_hour_says_nothing_else():
    # given errors of no known category rising fourfold, no names, latency and gauges normal
    vague = incident_frame(category="other", before=2.0, during=8.0, p95_during=(850.0,))
    assert analyze_root_cause(vague, service="vue").cause_key == "unknown"
    # ... and a past incident just like it whose cause was found
    twin = PastIncident("past-twin", "bad_release", incident_signature(vague))

    result = analyze_root_cause(vague, service="vue", history=[twin])

    assert result.cause_key == "bad_release"


# ------------------------------------------------------------------ found in use (on-call)


def incident_frame(
    *,
    category: str = "timeout",
    before: float = 1.0,
    during: float = 60.0,
    p95_before: float = 800.0,
    p95_during: tuple[float, ...] = (30000.0,),
    **metrics: tuple[float, float],
) -> pd.DataFrame:
    """A day of 5-minute buckets: `before` errors of `category` per bucket, then `during` per
    bucket in the last hour (12 buckets), with the p95 of that hour cycling `p95_during`, and
    each `metric_<name>=(before, during)`."""
    index = pd.date_range("2026-01-05", periods=288, freq="5min", tz="UTC")
    counts = np.full(288, before)
    counts[-12:] = during
    p95 = np.full(288, p95_before)
    p95[-12:] = [p95_during[i % len(p95_during)] for i in range(12)]
    frame = pd.DataFrame(
        {
            f"{category}_count": counts,
            "other_count": 5.0,
            "total_count": counts + 5.0,
            "rt_p95": p95,
        },
        index=index,
    )
    for name, (value_before, value_during) in metrics.items():
        values = np.full(288, value_before)
        values[-12:] = value_during
        frame[f"metric_{name}"] = values
    return frame


@pytest.mark.parametrize(
    "service, error_types, cause",
    [
        # java: a pool timeout is a *timeout* error to ingestion, p95 at Hikari's 30 s
        (
            "java",
            {"HikariPoolTimeoutException": 700, "SocketTimeoutException": 20},
            "db_pool_exhaustion",
        ),
        ("django", {"DatabaseConnectionTimeout": 650, "ValidationError": 60}, "db_pool_exhaustion"),
        (
            "django",
            {"TimeoutError: could not obtain connection from pool": 500, "KeyError": 40},
            "db_pool_exhaustion",
        ),
        (
            "laravel",
            {"PDOException: too many connections": 400, "ErrorException": 30},
            "db_pool_exhaustion",
        ),
        ("java", {"OutOfMemoryError": 300, "SocketTimeoutException": 60}, "memory_leak"),
    ],
)
def test_errors_that_name_their_mechanism_outweigh_the_category_and_latency(
    service, error_types, cause
):
    """Found in use: a java incident of HikariPoolTimeoutException ("connection pool
    exhausted") was explained as "a dependency is slow and requests time out (timeout errors
    ×11.4)": the timeout category (1.0) and the latency (0.7) outvoted the name (≤ 0.8)."""
    # given an hour of timeout-category errors at 30 s whose names say what ran out
    frame = incident_frame(category="timeout", before=2.0, during=60.0)

    # when the root cause is analysed with the hour's error types
    result = analyze_root_cause(frame, service=service, error_types=error_types)

    # then the named mechanism is the cause, and the path says why
    assert result.cause_key == cause
    assert any("the mechanism" in p for p in result.decision_path)


def test_urllib3_connection_pool_in_a_read_timeout_is_not_a_database_pool():
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    key = "HTTPSConnectionPool(host='payments', port=443): Read timed out. (read timeout=5)"

    result = analyze_root_cause(frame, service="django", error_types={key: 500, "KeyError": 20})

    assert result.cause_key == "upstream_timeout"
    assert not any("the mechanism" in p for p in result.decision_path)


def test_a_few_background_errors_naming_a_pool_do_not_decide_the_cause():
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    error_types = {"SocketTimeoutException": 680, "HikariPoolTimeoutException": 20}

    result = analyze_root_cause(frame, service="java", error_types=error_types)

    assert result.cause_key == "upstream_timeout"
    assert any("background" in p for p in result.decision_path)


def test_a_traffic_surge_is_not_outvoted_by_the_names_of_its_own_timeout_errors():
    """The category is derived from the same names: a timeout surge and "…TimeoutException"
    are one observation, which counted twice (1.0 + 0.8) beat the saturated CPU (1.5)."""
    frame = incident_frame(
        category="timeout",
        before=0.4,
        during=22.0,
        cpu=(45.0, 85.0),
        request_count=(1000.0, 2400.0),
    )
    error_types = {"RequestTimeoutException": 259, "TokenMismatchException": 5}

    result = analyze_root_cause(frame, service="laravel", error_types=error_types)

    assert result.cause_key == "traffic_surge"


@pytest.mark.parametrize(
    "yesterday, hour, peak, cause, text",
    [
        # a quieter day (a Saturday after a Friday): traffic steps up within the hour to 1.4×
        # the same time yesterday and saturates the CPU
        (1000.0, 600.0, 1400.0, "traffic_surge", "with traffic ×2.3 within the hour"),
        # the same step on a day far below yesterday's level: the CPU is the service's own
        (2000.0, 600.0, 1400.0, "cpu_saturation", None),
        # far above yesterday whatever the hour did
        (1000.0, 1600.0, 1600.0, "traffic_surge", "with traffic ×1.6"),
        # a rise that stays near yesterday's level and has no step within the hour
        (1000.0, 1050.0, 1100.0, "cpu_saturation", None),
    ],
)
def test_a_surge_is_traffic_far_above_yesterday_or_a_step_within_the_hour_above_it(
    yesterday, hour, peak, cause, text
):
    """Found in the generator's evaluation: three traffic surges on Saturdays read as a
    saturated CPU. Traffic had doubled within ten minutes but was only 1.25–1.4× the Friday
    before, and the same time yesterday was the only reference."""
    frame = incident_frame(category="timeout", before=0.4, during=22.0, cpu=(45.0, 85.0))
    requests = np.full(len(frame), yesterday)
    requests[-12:] = hour
    requests[-3:] = peak  # the last 15 minutes of the hour
    frame["metric_request_count"] = requests
    error_types = {"RequestTimeoutException": 259, "TokenMismatchException": 5}

    result = analyze_root_cause(frame, service="laravel", error_types=error_types)

    assert result.cause_key == cause
    cpu_step = next(p for p in result.decision_path if p.startswith("system state: cpu"))
    assert cpu_step.endswith(f"→ {cause}")
    if text is not None:
        assert text in cpu_step
        assert f"cpu 85% {text}" in result.hypothesis  # the person paged reads it there
    else:
        assert "traffic" not in cpu_step
        # in words, as every other cause: it read "laravel: cpu_saturation (timeout errors …)"
        assert result.hypothesis.startswith("laravel: CPU is saturated (")
        assert "cpu 85%)" in result.hypothesis


@pytest.mark.parametrize(
    "yesterday, hour, peak, cause",
    [
        # traffic doubles within the hour, above yesterday's level: the surge is the cause
        (1000.0, 600.0, 1400.0, "traffic_surge"),
        # the same errors on flat traffic: the dependency's timeouts are
        (1000.0, 1000.0, 1000.0, "upstream_timeout"),
        # a daily rise near yesterday's level, no step within the hour: not a surge
        (1000.0, 1050.0, 1100.0, "upstream_timeout"),
        # far above yesterday (a Monday after a Sunday) but no step within the hour: not a surge
        (500.0, 1400.0, 1450.0, "upstream_timeout"),
    ],
)
def test_a_surge_below_cpu_saturation_is_still_a_traffic_surge(yesterday, hour, peak, cause):
    """Found in the generator's evaluation: surges that took the CPU to 79.5% (the saturation
    rule starts at 80%) and threw both pool and read timeouts read as a slow dependency or an
    exhausted pool, and the decision path said nothing of the requests, which had doubled
    within ten minutes."""
    frame = incident_frame(category="timeout", before=0.4, during=22.0, cpu=(45.0, 79.5))
    requests = np.full(len(frame), yesterday)
    requests[-12:] = hour
    requests[-3:] = peak
    frame["metric_request_count"] = requests
    error_types = {
        "DatabaseConnectionTimeout: connection to database timed out after <n> ms": 150,
        "ReadTimeout: HTTPSConnectionPool(host=<str>, port=<n>): read timed out (<n>s)": 192,
    }

    result = analyze_root_cause(frame, service="django", error_types=error_types)

    assert result.cause_key == cause
    traffic = [p for p in result.decision_path if p.startswith("system state: traffic")]
    if cause == "traffic_surge":
        assert traffic == [
            "system state: traffic ×2.3 within the hour (cpu 79%, below saturation) → traffic_surge"
        ]
        assert result.hypothesis.startswith("django: a traffic surge overloads the service (")
        assert result.hypothesis.endswith("; traffic ×2.3 within the hour).")
    else:
        assert traffic == []


@pytest.mark.parametrize(
    "before, during, text",
    [
        (2.0, 200.0, "database errors ×100: 200 per 5 min in the last hour vs 2 before"),
        (0.0, 120.0, "database errors from ~0 before to 120 per 5 min in the last hour"),
        (10.0, 19.0, "database errors ×1.9: 19 per 5 min in the last hour vs 10 before"),
    ],
)
def test_the_error_growth_in_the_text_is_the_plain_ratio(before, during, text):
    """Found in use: "database errors ×1.9" was printed for a ~100× spike (the text showed the
    vote's smoothed growth, (recent − base) / (base + 1) + 1)."""
    frame = incident_frame(category="database", before=before, during=during, p95_during=(800.0,))

    result = analyze_root_cause(frame, service="django")

    assert text in result.hypothesis
    assert any(text in p for p in result.decision_path)


def test_the_latency_in_the_text_says_it_is_the_hour_median_and_gives_the_peak():
    """Found in use: the page's factors said rt_p95 30,349 ms while the hypothesis said
    "p95 14105 ms" (the median of the hour's bucket p95s, unnamed)."""
    frame = incident_frame(
        category="timeout", p95_during=(14105.0,) * 7 + (30349.0,) * 5, before=2.0, during=30.0
    )

    result = analyze_root_cause(frame, service="java")

    assert result.cause_key == "upstream_timeout"
    assert "median p95 14,105 ms over the last hour (peak 30,349 ms)" in result.hypothesis
    assert any("vs 800 ms before" in p for p in result.decision_path)


def test_an_episode_after_another_in_the_same_hour_is_explained_from_where_the_other_ended():
    """Seen in CI at 03:45 UTC: a pool outage that began 15 minutes after a burst of denied
    logins was explained on the whole hour, which held both; the logins' auth category grew
    most, and the pool's errors were a minority of the hour's. From ``since`` on, the hour is
    the outage's own."""
    # given an hour whose first 25 minutes are a burst of auth errors and whose last 25 are
    # a pool outage (database errors at 30 s), with the pool gauge saturated only then
    frame = incident_frame(category="auth", before=0.5, during=0.5, p95_during=(800.0,))
    frame["database_count"] = 0.0
    frame.iloc[-12:-7, frame.columns.get_loc("auth_count")] = 120.0
    frame.iloc[-5:, frame.columns.get_loc("database_count")] = 40.0
    frame["total_count"] = frame["auth_count"] + frame["database_count"] + 5.0
    since = frame.index[-5]

    # when the hour is read whole, and from the end of the logins on
    whole = analyze_root_cause(frame, service="django")
    own = analyze_root_cause(frame, service="django", since=since)

    # then only the second reading is the outage's, and it says which span it read
    assert whole.cause_key == "auth_failure"
    assert own.cause_key == "db_pool_exhaustion"
    assert f"since {since:%H:%M} UTC" in own.hypothesis
    assert "last hour" not in own.hypothesis
    # the signature compared with past incidents reads the same span
    assert incident_signature(frame, since=since)["share_auth"] < 0.05
    assert incident_signature(frame)["share_auth"] > 0.5


@pytest.mark.parametrize("hours_before", [2.0, 1.0])
def test_a_since_before_the_hour_changes_nothing(hours_before):
    frame = incident_frame(category="database", before=2.0, during=200.0)
    since = frame.index[-1] - pd.Timedelta(hours=hours_before) + pd.Timedelta(minutes=5)

    assert analyze_root_cause(frame, service="django", since=since) == analyze_root_cause(
        frame, service="django"
    )
    assert evidence_start(frame.index[-1].to_pydatetime(), None) == (
        frame.index[-1] - pd.Timedelta(hours=1)
    )
    assert evidence_start(frame.index[-1].to_pydatetime(), since.to_pydatetime()) == max(
        since, frame.index[-1] - pd.Timedelta(hours=1)
    )


def test_the_evidence_is_the_last_four_hours_whatever_span_the_caller_passes():
    """The product passed four hours and the evaluation a day: the evaluation measured an
    engine the product did not run. A day before them no longer moves the error evidence."""
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    frame.iloc[:200, frame.columns.get_loc("timeout_count")] = 40.0  # a noisy night
    frame["total_count"] = frame["timeout_count"] + frame["other_count"]

    whole = analyze_root_cause(frame, service="django")
    last_hours = analyze_root_cause(frame.tail(WINDOW_MINUTES // 5), service="django")

    assert whole.decision_path[0] == last_hours.decision_path[0]
    assert "timeout errors ×30: 60 per 5 min in the last hour vs 2 before" in whole.hypothesis


@pytest.mark.parametrize(
    "week_ago, cause, text",
    [
        # a Monday: yesterday (a Sunday) was quiet, last Monday was as busy as today
        (1400.0, "cpu_saturation", None),
        # last Monday was quiet too: a surge
        (600.0, "traffic_surge", "traffic ×2.4 against the same hour last week"),
        # unknown: the same time yesterday is the reference
        (None, "traffic_surge", "traffic ×2.9 against the same time yesterday"),
        ([None, None], "traffic_surge", "traffic ×2.9 against the same time yesterday"),
        # last Monday held a surge at this hour: the Mondays before outvote it
        (
            [1400.0, 600.0, 620.0, None],
            "traffic_surge",
            "traffic ×2.3 against the same hour of 3 earlier weeks (median)",
        ),
        ([1400.0, 1380.0, 620.0], "cpu_saturation", None),
        ([None, 600.0], "traffic_surge", "traffic ×2.4 against the same hour 2 weeks ago"),
    ],
)
def test_traffic_is_compared_with_the_same_hour_last_week_when_known(week_ago, cause, text):
    frame = incident_frame(category="timeout", before=0.4, during=22.0, cpu=(45.0, 85.0))
    requests = np.full(len(frame), 500.0)
    requests[-48:] = 1400.0  # the working day began hours ago: no step within the hour
    requests[-1] = 1450.0
    frame["metric_request_count"] = requests
    error_types = {"RequestTimeoutException": 259}

    result = analyze_root_cause(
        frame, service="laravel", error_types=error_types, traffic_week_ago=week_ago
    )

    assert result.cause_key == cause
    cpu_step = next(p for p in result.decision_path if p.startswith("system state: cpu"))
    if text is None:
        assert "traffic" not in cpu_step
    else:
        assert text in cpu_step


def test_a_slow_p95_is_judged_against_the_day_not_the_precursor_hours():
    """Found in the generator's evaluation: a pool-timeout outage's latency had risen for hours,
    the three hours before held half the rise, and the p95 of its hour read as normal."""
    frame = incident_frame(
        category="timeout", before=0.4, during=30.0, p95_before=800.0, p95_during=(4500.0,)
    )
    frame.iloc[-48:-12, frame.columns.get_loc("rt_p95")] = 2600.0  # the precursor hours

    result = analyze_root_cause(frame, service="django")

    latency = [p for p in result.decision_path if "median p95" in p]
    assert latency == [
        "system state: median p95 4,500 ms over the last hour (peak 4,500 ms) vs 800 ms before "
        "→ upstream_timeout"
    ]


@pytest.mark.parametrize(
    "step, said",
    [
        (
            "system state: db pool at 97% (baseline 40%) → db_pool_exhaustion",
            "system state: db pool at 97% (baseline 40%) → database connections are exhausted",
        ),
        (
            "system state: cpu at 91% → cpu_saturation",
            "system state: cpu at 91% → CPU is saturated",
        ),
        (
            "error volume: no errors for 15 min since 13:45 UTC (8 errors per 5 min before) → "
            "service_silent",
            "error volume: no errors for 15 min since 13:45 UTC (8 errors per 5 min before) → "
            "the service went silent: down, or its error reporting stopped",
        ),
        # a step without a conclusion, or one that names no key, stays as it is
        ("system state: metrics within their normal range",) * 2,
        ("similar past issues: none above 0.80 similarity",) * 2,
        ("service: x → Not A Key",) * 2,
        # keys inside a step read as words too
        (
            "error type: MemoryError (1) name memory_leak, but only 0% of the hour's errors: "
            "background",
            "error type: MemoryError (1) name memory leak, but only 0% of the hour's errors: "
            "background",
        ),
        (
            "similar past issue: 5f0c (db_pool_exhaustion), similarity 0.91",
            "similar past issue: 5f0c (db pool exhaustion), similarity 0.91",
        ),
    ],
)
def test_a_steps_conclusion_is_said_in_words(step, said):
    assert step_in_words(step) == said


@pytest.mark.parametrize(
    "message, host",
    [
        (
            "HTTPSConnectionPool(host='payments', port=443): Read timed out. (read timeout=5)",
            "payments",
        ),
        ("Connection refused: inventory-service:8080", "inventory-service"),
        ("Connection refused: inventory-service/10.0.3.7:8080", "inventory-service"),
        ("could not connect to server: Connection refused on db:5432", "db"),
        (
            'connection to server at "ledger-db.internal" (10.0.0.1), port 5432 failed: '
            'FATAL: ... is the server running on host "ledger-db.internal"',
            "ledger-db.internal",
        ),
        ("Http failure response for https://api.example.org/donations: 504", "api.example.org"),
        ("getaddrinfo ENOTFOUND api.stripe.com", "api.stripe.com"),
        ("java.net.UnknownHostException: ledger-db", "ledger-db"),
        ("dial tcp: lookup payments on 10.0.0.2:53: no such host", "payments"),  # Go
        ("Error 111 connecting to redis:6379. Connection refused.", "redis"),  # redis-py
        (
            "HTTPConnectionPool(host='localhost', port=8000): Max retries exceeded with url: /api "
            "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at "
            "0x7f3a>: Failed to establish a new connection: [Errno 111] Connection refused'))",
            "localhost",
        ),
        ("Unable to connect to Redis at cache:6379", "cache"),
        ("cURL error 7: Failed to connect to api port 443: Connection refused", "api"),
        (
            "OS Error: Connection refused, errno = 111, address = api.example.org, port = 5",
            "api.example.org",
        ),
        (
            "cURL error 28: Operation timed out after 30001 milliseconds (see "
            "https://curl.haxx.se/libcurl/c/libcurl-errors.html) for https://payments.example/charge",
            "payments.example",
        ),
        # no name: an IP address, a stack frame's file, a position, no host at all
        ("connect ECONNREFUSED 10.0.0.5:5432", ""),
        ("at Object.render (main.js:42:7)", ""),
        ("Unexpected token at line:5", ""),
        ("Read timed out after 3000 ms", ""),
        ("OS Error: Connection refused, errno = 111, port = 44312", ""),
    ],
)
def test_the_dependency_an_error_names(message, host):
    assert dependency_in_message(message) == host
    # the templates the root cause reads keep it
    assert dependency_in_message(message_template(message)) == host


def test_a_template_keeps_a_quoted_host_and_drops_other_quoted_values():
    assert message_template("HTTPSConnectionPool(host='payments', port=443): x 'abc'") == (
        "HTTPSConnectionPool(host='payments', port=<n>): x <str>"
    )
    assert message_template('is the server running on host "db" and "x"') == (
        'is the server running on host "db" and <str>'
    )


def _timeouts_to(**hosts: int) -> dict[str, int]:
    return {
        f"ReadTimeout: HTTPSConnectionPool(host='{host}', port=<n>): read timed out (<n>s)": count
        for host, count in hosts.items()
    }


def test_a_slow_dependency_is_named_in_the_hypothesis_and_the_path():
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    error_types = {**_timeouts_to(payments=400, mailer=30), "KeyError: <str>": 40}

    result = analyze_root_cause(frame, service="django", error_types=error_types)

    assert result.cause_key == "upstream_timeout"
    assert result.suspect_dependency == "payments"
    assert result.hypothesis.startswith("django: payments is slow and requests to it time out (")
    assert "85% of errors name payments" in result.hypothesis
    assert result.decision_path[-1].startswith("dependency: 85% of the hour's errors name payments")


def test_a_refusing_dependency_is_said_to_refuse_connections():
    frame = incident_frame(category="connection", before=2.0, during=60.0)
    error_types = {"ConnectException: Connection refused: inventory-service:<n>": 600}

    result = analyze_root_cause(frame, service="java", error_types=error_types)

    assert result.cause_key == "network_partition"
    assert result.suspect_dependency == "inventory-service"
    assert "inventory-service refuses connections (down, or not listening)" in result.hypothesis
    assert "connection refused" in result.decision_path[-1]


@pytest.mark.parametrize(
    "error_types",
    [
        # two hosts, neither named by most of the errors that name one
        _timeouts_to(payments=300, mailer=300),
        # the host a fifth of the errors name is a bystander of the hour's timeouts
        {**_timeouts_to(payments=50), "SocketTimeoutException: Read timed out after <n> ms": 600},
        # as many database timeouts as timeouts towards payments: "payments is slow" is half
        # the story (the demo's django incident)
        {
            **_timeouts_to(payments=400),
            "SocketTimeoutException: connection to database timed out after <n> ms": 400,
        },
        # a background of refused database connections says nothing of which upstream is slow
        {
            "OperationalError: could not connect to server: Connection refused on db:<n>": 300,
            "SocketTimeoutException: Read timed out after <n> ms": 600,
        },
    ],
)
def test_no_dependency_is_named_without_a_clear_one(error_types):
    frame = incident_frame(category="timeout", before=2.0, during=60.0)

    result = analyze_root_cause(frame, service="java", error_types=error_types)

    assert result.cause_key == "upstream_timeout"
    assert result.suspect_dependency == ""
    assert "a dependency is slow and requests time out" in result.hypothesis
    assert not any(p.startswith("dependency:") for p in result.decision_path)


def test_a_cause_other_than_a_dependency_names_none():
    frame = incident_frame(category="database", before=2.0, during=60.0)
    error_types = {
        "OperationalError: QueuePool limit of size <n> overflow <n> reached, connection timed "
        "out, timeout <n>": 600,
        "ReadTimeout: HTTPSConnectionPool(host='payments', port=<n>): read timed out (<n>s)": 60,
    }

    result = analyze_root_cause(frame, service="django", error_types=error_types)

    assert result.cause_key == "db_pool_exhaustion"
    assert result.suspect_dependency == ""


def test_a_database_that_refuses_connections_is_down_not_an_exhausted_pool():
    """ "Could not connect to server: Connection refused" is an OperationalError, the family of
    pool errors: read by its family, a database that is down was "connections are exhausted",
    and the first action raised the pool size of a database that was not there."""
    frame = incident_frame(category="database", before=2.0, during=60.0)
    error_types = {
        "OperationalError: could not connect to server: Connection refused on db:<n>": 600,
        "KeyError: <str>": 20,
    }

    result = analyze_root_cause(frame, service="django", error_types=error_types)

    assert result.cause_key == "network_partition"
    assert result.suspect_dependency == "db"
    assert result.hypothesis.startswith("django: db refuses connections (down, or not listening)")
    # a database at its connection limit says so ("too many clients", "remaining connection
    # slots"): a refused connection is a port nothing listens on


def test_refused_connections_without_a_host_say_that_a_dependency_is_down():
    frame = incident_frame(category="connection", before=2.0, during=60.0)
    error_types = {"SocketException: OS Error: Connection refused, errno = <n>, port = <n>": 400}

    result = analyze_root_cause(frame, service="flutter", error_types=error_types)

    assert result.cause_key == "network_partition"
    assert result.suspect_dependency == ""
    assert result.hypothesis.startswith(
        "flutter: a dependency refuses connections (down, or not listening) ("
    )


def _before(frame: pd.DataFrame, minutes: float) -> datetime:
    """``minutes`` before the rise of `incident_frame`'s errors (its last hour)."""
    return (frame.index[-12] - pd.Timedelta(minutes=minutes)).to_pydatetime()


def test_a_front_ends_api_errors_after_a_back_ends_incident_are_that_incident():
    """Found in the demo: react's 500s during django's pool outage read as react's own bad
    release, and the first action rolled react back."""
    frame = incident_frame(category="api", before=2.0, during=60.0, p95_during=(800.0,))
    fleet = [
        FleetIncident("django", _before(frame, 4), "db_pool_exhaustion"),
        FleetIncident("vue", _before(frame, 10), "bad_release"),  # a front end: named only
        FleetIncident("java", _before(frame, 45), "memory_leak"),  # too early
        FleetIncident("laravel", _before(frame, -10), "bad_release"),  # after the rise
        FleetIncident("react", _before(frame, 3), "bad_release"),  # itself
    ]

    alone = analyze_root_cause(frame, service="react")
    result = analyze_root_cause(frame, service="react", fleet=fleet)

    assert alone.cause_key == "bad_release"
    assert result.cause_key == "upstream_failure"
    assert result.suspect_dependency == "django"
    assert result.hypothesis.startswith("react: django, which it calls, is failing (")
    assert [p for p in result.decision_path if p not in alone.decision_path] == [
        "service: vue's incident began 10 min before these errors rose "
        "(the latest release introduced a fault)",
        "service: django's incident began 4 min before these errors rose "
        "(database connections are exhausted) → upstream_failure",
    ]


def test_a_front_ends_timeouts_after_a_back_ends_incident_name_it_as_the_slow_dependency():
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    fleet = [FleetIncident("django", _before(frame, 4), "db_pool_exhaustion")]
    error_types = {"AxiosTimeoutError: timeout of <n>ms exceeded": 700}

    alone = analyze_root_cause(frame, service="react", error_types=error_types)
    result = analyze_root_cause(frame, service="react", error_types=error_types, fleet=fleet)

    assert alone.cause_key == result.cause_key == "upstream_timeout"
    assert (alone.suspect_dependency, result.suspect_dependency) == ("", "django")
    assert result.hypothesis.startswith("react: django is slow and requests to it time out (")


def test_a_front_ends_own_release_before_the_rise_is_not_outvoted_by_a_back_end():
    frame = incident_frame(category="api", before=2.0, during=60.0)
    fleet = [FleetIncident("django", _before(frame, 4), "db_pool_exhaustion")]
    releases = [ReleaseSeen("react@2.0.0", 100, _before(frame, 6))]

    result = analyze_root_cause(frame, service="react", releases=releases, fleet=fleet)

    assert result.cause_key == "bad_release"
    assert "django's incident began 4 min before" in result.hypothesis


def test_a_back_ends_incident_is_only_named_beside_another_back_end():
    """Which back end calls which is not known: named, no vote."""
    frame = incident_frame(category="timeout", before=2.0, during=60.0)
    fleet = [FleetIncident("django", _before(frame, 4), "db_pool_exhaustion")]

    alone = analyze_root_cause(frame, service="java")
    result = analyze_root_cause(frame, service="java", fleet=fleet)

    assert (result.cause_key, result.confidence) == (alone.cause_key, alone.confidence)
    assert result.suspect_dependency == ""
    assert (
        "service: django's incident began 4 min before these errors rose "
        "(database connections are exhausted)"
    ) in result.decision_path


def test_no_fleet_incident_is_named_without_a_rise_of_errors():
    frame = incident_frame(category="api", before=2.0, during=2.0)
    fleet = [FleetIncident("django", frame.index[-3].to_pydatetime(), "db_pool_exhaustion")]

    result = analyze_root_cause(frame, service="react", fleet=fleet)

    assert not any("incident began" in p for p in result.decision_path)


def test_a_negative_request_rate_is_no_traffic():
    """Found by the property test: "traffic from -1 to -1 within the hour" voted for a surge."""
    frame = incident_frame(category="memory", before=2.0, during=30.0, request_count=(-1.0, -0.6))

    result = analyze_root_cause(frame, service="django")

    assert not any("traffic" in step for step in result.decision_path), result.decision_path
    assert result.cause_key != "traffic_surge"


def _silent_frame(
    *, per_bucket: float = 8.0, silent: int = 3, metrics: str = "none"
) -> pd.DataFrame:
    """Four hours of 5-minute buckets with `per_bucket` errors, the last `silent` without any;
    request-rate samples in every bucket ("go_on"), before the silence only ("stopped"), or
    none."""
    index = pd.date_range("2026-01-05 10:00", periods=48, freq="5min", tz="UTC")
    counts = np.full(48, per_bucket)
    counts[len(counts) - silent :] = 0.0
    frame = pd.DataFrame(
        {"timeout_count": counts / 2, "other_count": counts / 2, "total_count": counts},
        index=index,
    )
    if metrics != "none":
        rate = np.full(48, 120.0)
        if metrics == "stopped":
            rate[len(rate) - silent :] = np.nan
        frame["metric_request_count"] = rate
    return frame


@pytest.mark.parametrize(
    ("metrics", "says", "state"),
    [
        (
            "stopped",
            "it stopped reporting: down, or it cannot reach the error API (no errors "
            "and no metrics since 13:45 UTC; 8 errors per 5 min before)",
            "system state: no metric samples since 13:45 UTC either (they came before)",
        ),
        (
            "go_on",
            "its error reporting stopped while its metrics go on (SDK set-up, DSN, "
            "ingest key) (no errors since 13:45 UTC",
            "system state: metrics still arrive",
        ),
        (
            "none",
            "it went silent: down, or its error reporting stopped (no errors since 13:45",
            "system state: no metrics reported",
        ),
    ],
)
def test_a_service_that_sends_no_errors_where_it_sent_plenty_went_silent(metrics, says, state):
    # given errors every bucket for almost four hours, then none for 15 minutes
    frame = _silent_frame(metrics=metrics)
    # when
    result = analyze_root_cause(frame, service="react", error_types={})
    # then: the silence is the finding, with what the metrics say about it
    assert result.cause_key == "service_silent"
    assert result.hypothesis.startswith(f"react: {says}")
    assert result.decision_path == [
        "error volume: no errors for 15 min since 13:45 UTC (8 errors per 5 min before)"
        " → service_silent",
        state,
    ]
    assert result.confidence >= 0.6


@pytest.mark.parametrize(
    ("per_bucket", "silent"),
    [(8.0, 1), (2.0, 3), (8.0, 48)],  # one bucket of 8; a quiet service's gaps; always empty
)
def test_empty_buckets_a_quiet_service_has_anyway_are_no_silence(per_bucket, silent):
    # given buckets without errors that the service's usual volume explains
    frame = _silent_frame(per_bucket=per_bucket, silent=silent)
    # when
    result = analyze_root_cause(frame, service="react", error_types={})
    # then
    assert result.cause_key != "service_silent"


def test_a_busy_services_first_empty_bucket_is_a_silence():
    # given a service sending 12 errors a bucket, and its newest bucket empty
    frame = _silent_frame(per_bucket=12.0, silent=1)
    # when
    result = analyze_root_cause(frame, service="java", error_types={})
    # then: as rare as the detector finds it, and a quick run explains the episode from its
    # first flagged bucket (keeping that cause until the next full run)
    assert result.cause_key == "service_silent"
    assert result.decision_path[0].startswith("error volume: no errors for 5 min since 13:55 UTC")
