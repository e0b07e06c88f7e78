"""The Redis cache stores JSON with a few type tags: every cached kind round-trips, ints stay
raw for INCR, unknown types are refused on set, and nothing stored is ever unpickled."""

from __future__ import annotations

import dataclasses
import os
import pickle
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.cache import caches

from feeding_hearts.cache_serializer import JSONRedisSerializer
from feeding_hearts.redis_cache import ReusedClientRedisCache


@pytest.fixture
def cache():
    """The configured cache's settings under a prefix of its own, emptied after the test."""
    params = {**settings.CACHES["default"], "KEY_PREFIX": "cache-serializer-test"}
    cache = ReusedClientRedisCache(settings.REDIS_URL, params)
    yield cache
    client = cache._cache.get_client(write=True)
    keys = client.keys("cache-serializer-test:*")
    if keys:
        client.delete(*keys)


def _raw(cache, key: str) -> bytes | None:
    return cache._cache.get_client().get(cache.make_and_validate_key(key))


def _plant(cache, key: str, raw: bytes) -> None:
    cache._cache.get_client(write=True).set(cache.make_and_validate_key(key), raw, ex=60)


def _feature_like_frame(rows: int = 12) -> pd.DataFrame:
    """The shape ``bucket_frame_for_service`` caches: UTC 5-minute buckets with a freq, int64
    counts, float statistics with NaN, a metric column."""
    index = pd.date_range("2026-01-05", periods=rows, freq="5min", tz="UTC", name="bucket")
    frame = pd.DataFrame(
        {
            "total_count": np.arange(rows, dtype=np.int64),
            "error_count": np.arange(rows, dtype=np.int64) * 3,
            "rt_mean": np.linspace(0.1, 2.0, rows),
            "rt_p95": np.full(rows, np.nan),
            "metric_cpu": np.linspace(10, 90, rows),
        },
        index=index,
    )
    if rows > 2:
        frame.loc[frame.index[1], "rt_mean"] = np.inf
        frame.loc[frame.index[2], "metric_cpu"] = np.nan
    return frame


def test_the_configured_cache_uses_the_json_serializer():
    assert settings.CACHES["default"]["OPTIONS"]["serializer"] == (
        "feeding_hearts.cache_serializer.JSONRedisSerializer"
    )
    assert isinstance(caches["default"]._cache._serializer, JSONRedisSerializer)


def test_the_backend_defaults_to_the_json_serializer_without_options():
    cache = ReusedClientRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "cache-serializer-test"})

    assert isinstance(cache._cache._serializer, JSONRedisSerializer)


def test_an_api_page_and_its_count_round_trip(cache):
    body = {
        "count": 41,
        "next": "http://testserver/api/ml/predictions/?page=2",
        "previous": None,
        "results": [
            {
                "prediction_id": "82de61e6-cd53-4fb2-9d78-23875f7b0a57",
                "probability": 0.734,
                "alert_triggered": False,
                "created_at": "2026-01-05T10:00:00Z",
                "details": {"contributing_factors": [{"name": "error_rate", "weight": 0.4}]},
            }
        ],
    }
    cache.set("page", (body, True), timeout=60)
    cache.set("count", (41, False), timeout=60)

    got_body, estimated = cache.get("page")  # tuples come back as lists; callers unpack
    assert got_body == body
    assert estimated is True
    assert tuple(cache.get("count")) == (41, False)
    assert _raw(cache, "page").startswith(b"J[")  # plain JSON: decoded by orjson alone


def test_datetimes_round_trip_with_their_time_zone(cache):
    value = {
        "aware": datetime(2026, 1, 5, 10, 30, 1, 123456, tzinfo=UTC),
        "offset": datetime(2026, 1, 5, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        "naive": datetime(2026, 1, 5, 10, 30),
        "nested": [None, datetime(2025, 12, 31, tzinfo=UTC)],
    }
    cache.set("times", value, timeout=60)

    got = cache.get("times")

    assert got == value
    assert got["aware"].utcoffset() == timedelta(0)
    assert got["offset"].utcoffset() == timedelta(hours=2)
    assert got["naive"].tzinfo is None
    assert _raw(cache, "times").startswith(b"T")


def test_a_feature_frame_round_trips_exactly(cache):
    frame = _feature_like_frame()
    frame.attrs["bucket_minutes"] = 5

    cache.set("frame", frame, timeout=60)
    got = cache.get("frame")

    pd.testing.assert_frame_equal(got, frame, check_freq=True)
    assert got.index.freq == pd.tseries.frequencies.to_offset("5min")
    assert str(got.index.tz) == "UTC"
    assert got.index.name == "bucket"
    assert list(got.dtypes) == list(frame.dtypes)
    assert np.isinf(got["rt_mean"].iloc[1])
    assert got.attrs == {"bucket_minutes": 5}
    got.loc[got.index[0], "total_count"] = 99  # a usable frame, not a read-only buffer view
    assert got["total_count"].iloc[0] == 99


def test_an_empty_feature_frame_round_trips(cache):
    frame = _feature_like_frame(rows=0)

    cache.set("empty", frame, timeout=60)

    pd.testing.assert_frame_equal(cache.get("empty"), frame, check_freq=True)


def test_ints_stay_raw_for_incr_and_the_throttle(cache):
    cache.set("counter", 5, timeout=60)
    assert _raw(cache, "counter") == b"5"
    assert cache.incr("counter", 2) == 7
    assert cache.get("counter") == 7
    assert cache.add("added", 1, timeout=60) is True
    assert cache.incr("added") == 2
    assert cache.count_in_window("window", 60) == 1
    assert cache.count_in_window("window", 60) == 2
    assert cache.get("window") == 2


def test_bools_and_other_scalars_keep_their_type(cache):
    cache.set_many({"yes": True, "no": False, "text": "123", "float": 1.5, "none": [None]}, 60)

    got = cache.get_many(["yes", "no", "text", "float", "none"])

    assert got == {"yes": True, "no": False, "text": "123", "float": 1.5, "none": [None]}
    assert got["yes"] is True
    assert cache.get("missing", "default") == "default"


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        object(),
        uuid.UUID("82de61e6-cd53-4fb2-9d78-23875f7b0a57"),
        Decimal("1.5"),
        date(2026, 1, 5),
        {"a", "b"},
        b"bytes",
        np.float64(1.5),
        np.int64(3),
        pd.Timestamp("2026-01-05", tz="UTC"),
        _Point(1),
        {"nested": [{"deep": uuid.uuid4()}]},
        {1: "int key"},
        {"__fh_cache_type__": "datetime", "v": "2026-01-05T00:00:00"},
        pd.DataFrame({"name": ["text column"]}, index=pd.DatetimeIndex(["2026-01-05"])),
        pd.DataFrame({"a": [1.0]}),  # not a DatetimeIndex
        pd.DataFrame({"a": [1.0]}, index=pd.DatetimeIndex(["2026-01-05"], tz="Europe/Paris")),
    ],
    ids=lambda value: type(value).__name__,
)
def test_an_unknown_type_is_refused_on_set(cache, value):
    with pytest.raises(TypeError):
        cache.set("refused", value, timeout=60)

    assert _raw(cache, "refused") is None


class _Marker:
    """Unpickling this creates ``path``: the visible side effect an attacker's pickle would have."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_planted_pickle_is_a_miss_and_is_never_unpickled(cache, tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Marker(str(marker)))
    _plant(cache, "page", payload)
    _plant(cache, "other", pickle.dumps({"a": 1}))
    cache.set("good", {"a": 1}, timeout=60)

    assert cache.get("page") is None
    assert cache.get("page", "default") == "default"
    assert cache.get_many(["page", "other", "good"]) == {"good": {"a": 1}}
    assert cache.add("page", 1) is False  # the entry is left to expire or be overwritten
    assert not marker.exists()

    cache.set("page", {"fresh": True}, timeout=60)
    assert cache.get("page") == {"fresh": True}
    pickle.loads(payload)  # the planted payload is live: loading it would have run code
    assert marker.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"T{not json",
        b"J[1,",
        b'T{"__fh_cache_type__":"pickle","v":"gASV"}',
        b'T{"__fh_cache_type__":"datetime","v":"not a time"}',
        b'T{"__fh_cache_type__":"DataFrame","v":{"columns":["a"]}}',
        b"\x80\x05garbage",
        b"",
    ],
)
def test_an_unreadable_entry_is_a_miss(cache, raw):
    _plant(cache, "bad", raw)

    assert cache.get("bad", "default") == "default"
    assert cache.get_many(["bad"]) == {}


def test_a_value_the_cache_cannot_store_is_a_bug_not_an_outage():
    from ml_prediction.services.cache import cache_lookup, cache_store

    full_key, _ = cache_lookup("cache-serializer-test-refused")

    with pytest.raises(TypeError, match="cache cannot store"):
        cache_store(full_key, {"id": uuid.uuid4()})
