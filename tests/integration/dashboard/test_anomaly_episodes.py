"""What the dashboard's cards and anomaly table tell an on-call reader: one row per episode, counts
that do not contradict each other, cause texts dated, readable horizons and plurals."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

JAVA_CAUSE = (
    "java: database connections are exhausted (timeout errors from 0.4 before to 9.7 per 5 min "
    "in the last hour; 47% of errors are SQLTransientConnectionException)."
)


def _bucket(
    service: str,
    start: datetime,
    *,
    flagged: bool = True,
    level: str = "critical",
    observed: float = 40.0,
    cause: str = "",
    paged: bool = False,
    acknowledged: bool = False,
):
    from ml_prediction.models import AnomalyDetection

    return AnomalyDetection.objects.create(
        service=service,
        metric_name="error_count",
        window_start=start,
        window_end=start + timedelta(minutes=5),
        observed_value=observed if flagged else 2.0,
        expected_value=1.0,
        anomaly_score=0.97 if flagged else 0.1,
        is_anomaly=flagged,
        severity_level=level if flagged else "low",
        anomaly_type="spike" if flagged else "",
        root_cause_hypothesis=cause,
        recommended_action="Increase the database connection pool of java" if cause else "",
        alert_triggered=paged,
        acknowledged=acknowledged,
    )


def _section(body: str, section_id: str) -> str:
    start = body.index(f'<section id="{section_id}"')
    return body[start : body.index("</section>", start)]


def _rows(body: str) -> list[str]:
    """The anomaly table's rows, by the id the row itself carries."""
    return re.findall(r'<tr id="anomaly-([0-9a-f-]{36})"', _section(body, "anomalies"))


@pytest.fixture
def two_days_ago() -> datetime:
    return (timezone.now() - timedelta(days=2)).replace(hour=21, minute=40, second=0, microsecond=0)


def test_one_episode_is_one_row_with_its_cause_once_and_every_bucket_as_an_anchor(
    client, ops_user, two_days_ago
):
    # given thirteen consecutive critical java buckets with one cause, and a react anomaly
    java = [
        _bucket(
            "java", two_days_ago + timedelta(minutes=5 * i), observed=20.0 + i, cause=JAVA_CAUSE
        )
        for i in range(13)
    ]
    react = _bucket("react", two_days_ago - timedelta(hours=20), level="high")
    client.force_login(ops_user)

    # when the dashboard draws its panels
    body = client.get("/dashboard/panels/").content.decode()

    # then java is one row (anchored on its first bucket) beside react's, with one button each
    assert _rows(body) == [str(java[0].anomaly_id), str(react.anomaly_id)]
    assert body.count(">Acknowledge</button>") == 2
    # every bucket's id is an anchor on the page, once: alert links land on the episode row
    for bucket in java:
        assert body.count(f'id="anomaly-{bucket.anomaly_id}"') == 1
    # the row says when, how long and how bad: start–end, bucket count, the peak
    assert f"{two_days_ago:%b %d} 21:40–22:45" in body
    assert "13 buckets of 5 min" in body
    assert "32 / 1" in body  # the peak bucket's observed / expected
    assert "2 episodes · 14 buckets, critical first" in body
    # the cause once, said as the hour it meant rather than "the last hour"
    assert body.count("database connections are exhausted") == 1
    assert "in the last hour" not in _section(body, "anomalies")
    assert f"in the hour before {two_days_ago:%b %d} 22:45 UTC" in body


def test_an_alert_link_to_an_acknowledged_incident_lands_on_its_row(client, ops_user):
    """Found on call: once the incident was acknowledged its row was gone, and the page's link
    (``#anomaly-<id>``) landed at the top; whoever joined late could not see who was on it."""
    from ml_prediction.models import AnomalyDetection

    # given an incident of the last hour acknowledged by dana, and one two days old
    start = (timezone.now() - timedelta(minutes=50)).replace(second=0, microsecond=0)
    recent = [
        _bucket("java", start + timedelta(minutes=5 * i), cause=JAVA_CAUSE, acknowledged=True)
        for i in range(4)
    ]
    old = _bucket("react", start - timedelta(days=2), acknowledged=True)
    at = start + timedelta(minutes=12)
    AnomalyDetection.objects.filter(acknowledged=True).update(
        acknowledged_by="dana", acknowledged_at=at
    )
    open_one = _bucket("laravel", start, level="high")
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()

    # then the acknowledged incident is one row with every bucket as an anchor, and who and when
    section = _section(body, "acknowledged")
    assert re.findall(r'<tr id="anomaly-([0-9a-f-]{36})"', section) == [str(recent[0].anomaly_id)]
    for bucket in recent:
        assert section.count(f'id="anomaly-{bucket.anomaly_id}"') == 1
    assert "dana" in section and f"{at:%b %d %H:%M}" in section
    assert "Acknowledge</button>" not in section
    # the older one is history; the open one stays in the table to acknowledge
    assert f"anomaly-{old.anomaly_id}" not in body
    assert _rows(body) == [str(open_one.anomaly_id)]


def test_no_acknowledged_section_without_acknowledged_incidents(client, ops_user):
    _bucket("laravel", timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=20))
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()

    assert 'id="acknowledged"' not in body


def test_the_rows_are_what_one_acknowledge_clears(client, ops_user, two_days_ago):
    """The table groups by feedback.episode_rows' rule: pressing a row's button acknowledges
    exactly that row's buckets, no more (another row) and no fewer (a row left behind)."""
    from ml_prediction.models import AnomalyDetection

    # given flagged buckets split by a run of 3 normal buckets (the recovery), by an unscored
    # gap, joined across 2 normal buckets, and an acknowledged bucket inside an episode
    plan = "AA.AA...AA_A.AkA"  # A flagged, . normal, _ unscored, k flagged and acknowledged
    created = []
    for i, mark in enumerate(plan):
        if mark != "_":
            at = two_days_ago + timedelta(minutes=5 * i)
            created.append(_bucket("vue", at, flagged=mark in "Ak", acknowledged=mark == "k"))
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()
    rows = _rows(body)

    # then three rows: AA.AA | AA | A.AkA (the acknowledged bucket joins its episode)
    open_ids = [a.anomaly_id for a in created if a.is_anomaly and not a.acknowledged]
    assert len(rows) == 3
    expected = [set(open_ids[6:9]), set(open_ids[4:6]), set(open_ids[0:4])]  # newest first
    for row_id, members in zip(rows, expected, strict=True):
        # when each row's button is pressed in turn
        before = set(
            AnomalyDetection.objects.filter(acknowledged=False, is_anomaly=True).values_list(
                "anomaly_id", flat=True
            )
        )
        response = client.post(
            f"/dashboard/anomalies/{row_id}/acknowledge/", HTTP_X_REQUESTED_WITH="fetch"
        )
        assert response.status_code == 200
        after = set(
            AnomalyDetection.objects.filter(acknowledged=False, is_anomaly=True).values_list(
                "anomaly_id", flat=True
            )
        )
        # then exactly the row's buckets were acknowledged
        assert before - after == members
        assert _rows(client.get("/dashboard/panels/").content.decode()) == [
            r for r in rows[rows.index(row_id) + 1 :]
        ]


def test_the_cards_say_what_the_health_score_counts(client, ops_user, two_days_ago):
    # given three critical buckets nobody acknowledged and nothing paged for, one acknowledged
    for i in range(3):
        _bucket("java", two_days_ago + timedelta(minutes=5 * i))
    _bucket("vue", two_days_ago, acknowledged=True)
    client.force_login(ops_user)

    # when the cards are drawn
    body = client.get("/dashboard/panels/").content.decode()

    # then the health card says unpaged buckets do not count, and the anomaly card says how
    # many of its critical buckets paged, and that its totals include acknowledged ones
    assert "no paged critical anomaly waiting (the 3 unpaged critical buckets do not count)" in body
    assert "paged critical anomal" not in body.split('id="health-paged"')[0]
    assert "3 unacknowledged anomalous buckets, 7 days" in _text(body)
    assert "3 critical, 0 of them paged (the health score counts paged ones)" in body
    assert "4 flagged in 7 days, acknowledged or not: 4 critical" in body


def test_the_anomaly_card_gives_the_totals_with_acknowledged_ones_only_when_there_are_some(
    client, ops_user, two_days_ago
):
    # given three critical buckets, none acknowledged
    for i in range(3):
        _bucket("java", two_days_ago + timedelta(minutes=5 * i))
    client.force_login(ops_user)

    # when the cards are drawn
    body = client.get("/dashboard/panels/").content.decode()

    # then the card does not repeat its count as "3 flagged, acknowledged or not: 3 critical"
    # (in the demo it read 51 / 51 critical / 51 flagged: 51 critical)
    assert "3 unacknowledged anomalous buckets, 7 days" in _text(body)
    assert "acknowledged or not" not in body


def test_a_paged_bucket_is_counted_on_both_cards_alike(client, ops_user, two_days_ago):
    # given a critical bucket that paged and one that did not, both unacknowledged
    _bucket("java", two_days_ago, paged=True)
    _bucket("vue", two_days_ago)
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()

    # then the health deduction and the anomaly card name the same paged count
    assert "−5: 1 paged critical anomaly not acknowledged" in body
    assert "2 critical, 1 of them paged" in body
    assert "no paged critical anomaly waiting" not in body


def test_counts_are_pluralised_and_horizons_read_as_hours(client, ops_user):
    from ml_prediction.models import ErrorPrediction

    # given one anomalous bucket (in the charts' window) and predictions of 30 min and 24 h
    now = timezone.now().replace(second=0, microsecond=0)
    from error_logging.models import ErrorRollup

    ErrorRollup.objects.create(service="react", bucket=now, total_count=1, error_count=1)
    _bucket("react", now - timedelta(minutes=30), level="high")
    for minutes, error_type in ((30, "ChunkLoadError"), (1440, "TypeError")):
        ErrorPrediction.objects.create(
            service="react",
            predicted_error_type=error_type,
            probability=0.95,
            time_horizon_minutes=minutes,
            prediction_bucket=now,
            predicted_timestamp=now + timedelta(minutes=minutes),
            root_cause_hypothesis="react: 12 errors per 5 min in the last hour (no earlier data)",
        )
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()
    text = _text(body)

    # then nothing reads "1 anomalies" or "1440 min"
    assert "1 error in 24 h · 1 anomalous bucket" in text
    assert not re.search(r"\b1 (anomalies|errors in|episodes|buckets)\b", text)
    assert "1 unacknowledged anomalous bucket, 7 days" in text
    assert "1 episode · 1 bucket, critical first" in text
    assert "1440 min" not in text
    horizons = re.findall(r'<td class="horizon">([^<]*)</td>', body)
    assert sorted(horizons) == ["24 h", "30 min"]
    # a prediction's cause is dated as of when the prediction was made
    assert f"in the hour before {now:%b %d %H:%M} UTC" in text
    # the legend has a key for every severity a chart dot can have
    from dashboard.charts import SEVERITY_COLOURS

    for level in SEVERITY_COLOURS:
        assert f'<span class="key anomaly {level}"></span> {level}' in body


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(5, "5 min"), (30, "30 min"), (60, "1 h"), (90, "1 h 30 min"), (1440, "24 h")],
)
def test_horizons_are_said_in_minutes_or_hours(minutes, text):
    from ml_prediction.engines.catalog import duration_text

    assert duration_text(minutes) == text


def test_cause_texts_keep_other_wording():
    from datetime import UTC

    from dashboard.selectors import cause_as_of

    at = datetime(2025, 11, 25, 22, 45, tzinfo=UTC)
    said = cause_as_of("median p95 513 ms over the last hour (peak 26,180 ms)", at=at)
    assert said == "median p95 513 ms over the hour before Nov 25 22:45 UTC (peak 26,180 ms)"
    assert cause_as_of("the latest release introduced a fault", at=at) == (
        "the latest release introduced a fault"
    )


def _text(body: str) -> str:
    """The panel's visible text on one line (tags dropped, whitespace collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
