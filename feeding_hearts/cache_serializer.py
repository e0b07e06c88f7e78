"""The Redis cache's value format: JSON with a few explicit type tags, never pickle.

Django's default ``RedisSerializer`` pickles every value that is not an int, so anyone able to
write to Redis could run code in every web and worker process; our standard is that nothing
unpickles data that did not come from our own artifact store. Values are stored as:

- an ``int`` (not ``bool``): raw digits, as Django stores them, so ``incr``/``decr`` and the
  throttle's ``INCR`` keep working on them;
- ``J`` + JSON: plain JSON data (dict with str keys, list, tuple — read back as a list — str,
  int, float, bool, None), decoded by ``orjson`` alone (the hot path: cached API pages);
- ``T`` + JSON: the same with tagged values for the few other types we cache — an aware or
  naive ``datetime`` (the JWT user's row) and a numeric ``DataFrame`` (the feature frames).

Any other type raises ``TypeError`` on set, so a new cached type is caught by the tests rather
than silently changed. A stored value this format cannot read (an old pickled entry after the
upgrade, a corrupt one) raises ``UndecodableCacheValue``, which the cache backend turns into a
miss. Floats follow JSON: NaN and infinity outside a DataFrame are read back as None.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

TAG = "__fh_cache_type__"
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types: not np.float64
_PLAIN = b"J"
_TAGGED = b"T"


class UndecodableCacheValue(ValueError):
    """A cached value that is not in this format; the cache treats it as a miss."""


class JSONRedisSerializer:
    """``OPTIONS["serializer"]`` for Django's ``RedisCache``: the format described above."""

    def dumps(self, obj: Any) -> int | bytes:
        if type(obj) is int:
            return obj
        tagged: list[bool] = []
        body = orjson.dumps(_encode(obj, tagged))
        return (_TAGGED if tagged else _PLAIN) + body

    def loads(self, data: bytes) -> Any:
        header = data[:1]
        try:
            if header == _PLAIN:
                return orjson.loads(memoryview(data)[1:])
            if header == _TAGGED:
                return _decode(orjson.loads(memoryview(data)[1:]))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            # orjson.JSONDecodeError and binascii.Error are ValueErrors; named for the reader.
            raise UndecodableCacheValue(f"unreadable cached {header!r} value: {exc}") from exc
        try:
            return int(data)
        except ValueError:
            raise UndecodableCacheValue(
                f"cached value in an unknown format (starts with {bytes(data[:2])!r})"
            ) from None


def _encode(obj: Any, tagged: list[bool]) -> Any:
    """``obj`` as plain JSON data; appends to ``tagged`` when a tagged value was needed."""
    kind = type(obj)
    if kind in _SCALARS or isinstance(obj, str | int):
        return obj  # str/int subclasses (str enums, IntEnum, bool) are stored as plain values
    if isinstance(obj, dict):
        plain = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"cache values need str dict keys, got {type(key).__name__} {key!r}"
                )
            if key == TAG:
                raise TypeError(f"the dict key {TAG!r} is reserved by the cache serializer")
            plain[key] = value if type(value) in _SCALARS else _encode(value, tagged)
        return plain
    if isinstance(obj, list | tuple):
        return [value if type(value) in _SCALARS else _encode(value, tagged) for value in obj]
    if type(obj) is datetime:
        tagged.append(True)
        return {TAG: "datetime", "v": obj.isoformat()}
    if type(obj) is pd.DataFrame:
        tagged.append(True)
        return {TAG: "DataFrame", "v": _frame_encode(obj, tagged)}
    raise TypeError(
        f"the cache cannot store {type(obj).__module__}.{type(obj).__qualname__}: add it to "
        "feeding_hearts/cache_serializer.py (JSON with type tags; the cache never pickles)"
    )


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(value) for value in obj]
    if isinstance(obj, dict):
        if TAG not in obj:
            return {key: _decode(value) for key, value in obj.items()}
        decoder = _DECODERS.get(obj[TAG])
        if decoder is None:
            raise UndecodableCacheValue(f"unknown cached type tag {obj[TAG]!r}")
        return decoder(obj["v"])
    return obj


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _frame_encode(frame: pd.DataFrame, tagged: list[bool]) -> dict[str, Any]:
    """Columns as raw little-endian numpy bytes (exact, NaN and infinity included), and the
    index as epoch integers with its unit, time zone (UTC or none), name and freq — what the
    engines read back (``infer_bucket_minutes`` uses the freq)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"the cache stores DataFrames with a DatetimeIndex only, not {type(index)}")
    if index.tz is not None and str(index.tz) != "UTC":
        raise TypeError(f"the cache stores naive or UTC DatetimeIndexes only, not {index.tz}")
    if not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns):
        raise TypeError("the cache stores DataFrames with unique str column names only")
    dtypes = []
    for column, dtype in frame.dtypes.items():
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
            raise TypeError(f"the cache stores numeric numpy columns only; {column!r} is {dtype}")
        dtypes.append(dtype.newbyteorder("<").str)
    return {
        "columns": list(frame.columns),
        "columns_name": _encode(frame.columns.name, tagged),
        "dtypes": dtypes,
        "data": [
            _b64(frame.iloc[:, i].to_numpy().astype(dtypes[i], copy=False))
            for i in range(frame.shape[1])
        ],
        "index": _b64(index.asi8.astype("<i8", copy=False)),
        "index_unit": index.unit,
        "index_utc": index.tz is not None,
        "index_name": _encode(index.name, tagged),
        "index_freq": index.freqstr,
        "attrs": _encode(frame.attrs, tagged),
    }


def _frame_decode(value: dict[str, Any]) -> pd.DataFrame:
    stamps = np.frombuffer(base64.b64decode(value["index"]), dtype="<i8")
    index = pd.DatetimeIndex(stamps.view(f"datetime64[{value['index_unit']}]"))
    if value["index_utc"]:
        index = index.tz_localize("UTC")
    index = pd.DatetimeIndex(index, freq=value["index_freq"], name=_decode(value["index_name"]))
    columns = value["columns"]
    data = {
        column: np.frombuffer(base64.b64decode(raw), dtype=dtype)
        for column, dtype, raw in zip(columns, value["dtypes"], value["data"], strict=True)
    }
    frame = pd.DataFrame(data, index=index, columns=columns, copy=True)  # writable arrays
    frame.columns.name = _decode(value["columns_name"])
    frame.attrs = _decode(value["attrs"])
    return frame


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "DataFrame": _frame_decode,
}
