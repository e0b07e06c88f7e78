"""ingest_errors / ingest_metrics: all-or-nothing, idempotent, rollups equal a recount."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from error_logging.models import ErrorLog, ErrorRollup, MetricSample
from error_logging.rollups import rollup_percentile
from error_logging.services import (
    IngestServiceMismatch,
    IngestValidationError,
    ingest_errors,
    ingest_metrics,
)
from feeding_hearts.catalog import CATEGORIES, SEVERITIES
from tests.integration.error_logging.conftest import error_item


@pytest.mark.django_db
def test_ingest_errors_stores_rows_with_derived_fields():
    # given a batch of two errors, one with an explicit id
    given_id = str(uuid.uuid4())
    items = [error_item(error_id=given_id), error_item(error_type="PermissionDenied", message="no")]

    # when
    result = ingest_errors(service="django", items=items)

    # then
    assert result.accepted == 2 and result.duplicates == 0
    assert result.ids[0] == given_id
    row = ErrorLog.objects.get(error_id=given_id)
    assert row.service == "django"
    assert row.category == "timeout"
    assert row.occurred_at == datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
    assert len(row.fingerprint) == 32
    assert ErrorLog.objects.get(error_type="PermissionDenied").category == "auth"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"error_type": ""}, "error_type"),
        ({"severity": "loud"}, "severity"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"status_code": 999}, "status_code"),
        ({"response_time_ms": -1}, "response_time_ms"),
        ({"error_id": "not-a-uuid"}, "error_id"),
        ({"service": "cobol"}, "service"),
        ({"tags": ["a"]}, "tags"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_one_invalid_item_rejects_the_whole_batch(bad, field):
    # given a valid item followed by an invalid one
    items = [error_item(), error_item(**bad)]

    # when / then
    with pytest.raises(IngestValidationError) as caught:
        ingest_errors(service="django", items=items)
    assert (caught.value.index, caught.value.field) == (1, field)
    assert ErrorLog.objects.count() == 0
    assert ErrorRollup.objects.count() == 0


@pytest.mark.django_db
def test_item_of_another_service_is_a_mismatch():
    with pytest.raises(IngestServiceMismatch):
        ingest_errors(service="django", items=[error_item(service="laravel")])


@pytest.mark.django_db
def test_duplicate_ids_are_stored_once_and_counted_once():
    # given an id sent twice in one batch and again in a later batch
    same = str(uuid.uuid4())
    first = ingest_errors(
        service="django", items=[error_item(error_id=same), error_item(error_id=same)]
    )

    # when
    second = ingest_errors(service="django", items=[error_item(error_id=same)])

    # then
    assert (first.accepted, first.duplicates) == (1, 1)
    assert (second.accepted, second.duplicates) == (0, 1)
    assert ErrorLog.objects.filter(error_id=same).count() == 1
    assert ErrorRollup.objects.get().total_count == 1


@pytest.mark.django_db
def test_epoch_seconds_and_milliseconds_are_accepted():
    result = ingest_errors(
        service="django",
        items=[error_item(occurred_at=1_764_000_000.5), error_item(occurred_at=1_764_000_000_500)],
    )
    times = {ErrorLog.objects.get(error_id=i).occurred_at for i in result.ids}
    assert times == {datetime.fromtimestamp(1_764_000_000.5, tz=UTC)}


@pytest.mark.django_db
def test_rollups_equal_a_recount_from_raw_rows_after_random_batches():
    # given random batches over a few minutes, with repeats of some ids
    rng = random.Random(7)
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    for _ in range(12):
        batch = []
        for _ in range(rng.randint(1, 30)):
            rt = rng.choice([None, rng.uniform(1, 5000)])
            batch.append(
                error_item(
                    error_id=rng.choice([*ids, None, None]),
                    error_type=rng.choice(["TimeoutError", "KeyError", "OSError"]),
                    message=rng.choice(["db query failed", "token expired", "out of memory"]),
                    severity=rng.choice(SEVERITIES),
                    response_time_ms=rt,
                    user_id=rng.choice(["", "u1"]),
                    occurred_at=(start + timedelta(seconds=rng.randint(0, 240))).isoformat(),
                )
            )
        ingest_errors(
            service="django", items=[{k: v for k, v in b.items() if v is not None} for b in batch]
        )

    # when recounting from raw rows
    rows = list(
        ErrorLog.objects.values_list(
            "occurred_at", "severity", "category", "response_time_ms", "error_type", "user_id"
        )
    )

    # then every minute's rollup matches
    minutes = Counter(r[0].replace(second=0, microsecond=0) for r in rows)
    rollups = {r.bucket: r for r in ErrorRollup.objects.filter(service="django")}
    assert set(rollups) == set(minutes)
    for minute, rollup in rollups.items():
        in_minute = [r for r in rows if r[0].replace(second=0, microsecond=0) == minute]
        assert rollup.total_count == len(in_minute)
        for sev in SEVERITIES:
            assert getattr(rollup, f"{sev}_count") == sum(r[1] == sev for r in in_minute)
        for cat in CATEGORIES:
            assert getattr(rollup, f"{cat}_count") == sum(r[2] == cat for r in in_minute)
        rts = sorted(r[3] for r in in_minute if r[3] is not None)
        assert rollup.rt_count == len(rts)
        assert rollup.rt_sum == pytest.approx(sum(rts))
        assert rollup.rt_max == pytest.approx(max(rts, default=0.0))
        assert sum(rollup.rt_histogram) == len(rts)
        assert rollup.error_types == dict(Counter(r[4] for r in in_minute))
        assert rollup.user_error_count == sum(bool(r[5]) for r in in_minute)
        if len(rts) >= 20:
            exact = rts[int(0.95 * (len(rts) - 1))]
            assert rollup_percentile(rollup.rt_histogram, 0.95) == pytest.approx(exact, rel=0.15)


@pytest.mark.django_db
def test_orm_create_also_updates_the_rollup():
    # given a row saved the guide's way
    ErrorLog.objects.create(
        service="vue",
        error_type="ValidationError",
        message="email is invalid",
        occurred_at=datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC),
        response_time_ms=12.0,
    )
    # then its minute is counted and its derived fields are filled
    rollup = ErrorRollup.objects.get(service="vue")
    assert (rollup.total_count, rollup.rt_count, rollup.validation_count) == (1, 1, 1)
    assert ErrorLog.objects.get().category == "validation"
    assert ErrorLog.objects.get().fingerprint


@pytest.mark.django_db
def test_ingest_metrics_validates_and_is_idempotent():
    sample_id = str(uuid.uuid4())
    items = [
        {
            "sample_id": sample_id,
            "metric_name": "db_pool_in_use",
            "value": 42,
            "timestamp": "2026-11-20T10:00:00Z",
        },
        {"metric_name": "cpu", "value": "0.5", "timestamp": 1_764_000_000},
    ]
    assert ingest_metrics(service="java", items=items).accepted == 2
    assert ingest_metrics(service="java", items=items[:1]).duplicates == 1
    assert MetricSample.objects.filter(service="java").count() == 2
    with pytest.raises(IngestValidationError) as caught:
        ingest_metrics(
            service="java", items=[{"metric_name": "cpu", "value": "high", "timestamp": 1}]
        )
    assert caught.value.field == "value"


@pytest.mark.django_db
def test_special_characters_survive_the_copy_path():
    # given text and JSON with tabs, newlines, backslashes, a literal "\u0000" and a NUL
    message = 'line1\nline2\tC:\\path\\u0000 "quoted"\r\x00end'
    tags = {"path": "C:\\temp\\u0000", "nul": "a\x00b", "tab": "x\ty"}
    result = ingest_errors(service="django", items=[error_item(message=message, tags=tags)])

    # then they are stored as sent (NUL characters dropped: PostgreSQL refuses them)
    row = ErrorLog.objects.get(error_id=result.ids[0])
    assert row.message == message.replace("\x00", "")
    assert row.tags == {"path": "C:\\temp\\u0000", "nul": "ab", "tab": "x\ty"}
