"""What every ingestion door shares: body reading (size caps, compression, chunked bodies),
ingest-key authentication, the per-key rate limit and JSON responses.

Plain Django on purpose: this is the hot path (see docs/benchmarks/ingest.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import zlib
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)


class IngestHTTPError(Exception):
    """Ends a request with a JSON error; nothing has been stored."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "invalid",
        extra: dict | None = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        body = {"detail": self.message, "code": self.code, **self.extra}
        response = json_response(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def json_response(data: object, *, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


def config_value(name: str, default: int) -> int:
    return int(settings.ML_PREDICTION_CONFIG.get(name, default))


# --- body -----------------------------------------------------------------------------------------
def max_body_bytes() -> int:
    """The cap on a request body, before and after any decompression."""
    return config_value("INGEST_MAX_BODY_BYTES", 20 * 1024 * 1024)


def _read_capped(stream, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise IngestHTTPError(413, f"request body exceeds {limit} bytes", code="too_large")
    return data


def read_body(request: HttpRequest) -> bytes:
    """The decoded request body, capped before and after decompression.

    A chunked request has no Content-Length; Django then hands views an empty body. Gunicorn
    de-chunks ``wsgi.input`` and says so with ``wsgi.input_terminated``, so we read it directly;
    a server that cannot (the development server) gets 411 instead of a silent empty 200.
    """
    limit = max_body_bytes()
    meta = request.META
    length = meta.get("CONTENT_LENGTH") or ""
    if length:
        try:
            if int(length) > limit:
                raise IngestHTTPError(413, f"request body exceeds {limit} bytes", code="too_large")
        except ValueError:
            raise IngestHTTPError(400, "Content-Length is not a number") from None
        raw = request.body
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        if not meta.get("wsgi.input_terminated"):
            raise IngestHTTPError(
                411,
                "chunked bodies are not supported by this server; send Content-Length",
                code="length_required",
            )
        raw = _read_capped(meta["wsgi.input"], limit)
    else:
        raw = b""
    encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    return decompress(raw, encoding, limit)


def _too_large_after_decompression(limit: int) -> IngestHTTPError:
    return IngestHTTPError(413, f"decompressed body exceeds {limit} bytes", code="too_large")


def inflate(raw: bytes, *, wbits: int, limit: int, what: str) -> bytes:
    """A zlib, gzip or raw deflate stream decompressed to at most ``limit`` bytes.

    Never more than ``limit + 1`` bytes are produced, so a small bomb costs no memory: beyond the
    cap it is a 413, a stream that does not end is a 400 naming ``what``.
    """
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise IngestHTTPError(400, f"{what} is not valid: {exc}") from None
    if len(out) > limit:
        raise _too_large_after_decompression(limit)
    if not decoder.eof:
        raise IngestHTTPError(400, f"{what} is truncated")
    return out


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return inflate(raw, wbits=16 + zlib.MAX_WBITS, limit=limit, what=f"{encoding} body")
    if encoding == "deflate":
        # RFC 9110 says zlib-wrapped; some clients send raw deflate: accept both
        wbits = zlib.MAX_WBITS if raw[:1] == b"\x78" else -zlib.MAX_WBITS
        return inflate(raw, wbits=wbits, limit=limit, what="deflate body")
    if encoding == "br":
        import brotli

        decoder = brotli.Decompressor()
        try:
            out = decoder.process(raw, output_buffer_limit=limit + 1)
        except Exception as exc:  # brotli.error and friends
            raise IngestHTTPError(400, f"br body is not valid: {exc}") from None
        if len(out) > limit:
            raise _too_large_after_decompression(limit)
        if not decoder.is_finished():
            raise IngestHTTPError(400, "br body is truncated")
        return out
    raise IngestHTTPError(
        415,
        f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or br",
        code="unsupported_encoding",
    )


def parse_json(data: bytes, *, what: str = "body") -> object:
    if not data:
        raise IngestHTTPError(400, f"{what} is empty")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IngestHTTPError(400, f"{what} is not valid JSON: {exc}") from None


# --- keys -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyInfo:
    id: int
    service: str
    project_id: int
    public_key: str
    rate_limit_per_minute: int | None


_KEY_TTL_SECONDS = 30.0
# How often a process asks the shared cache whether any key changed (deactivated, limit edited).
_KEY_VERSION_CHECK_SECONDS = 1.0
KEY_VERSION_CACHE_KEY = "ingest-keys-version"
_key_cache: dict[str, tuple[float, KeyInfo | None]] = {}
_key_lock = threading.Lock()
_last_used: dict[int, float] = {}
_key_version: dict[str, object] = {"seen": None, "checked_at": -1e9}


def clear_key_cache() -> None:
    with _key_lock:
        _key_cache.clear()


def keys_changed() -> None:
    """Tell every web process that a key changed, so none serves it from its cache any more.

    Called when a key is saved or deleted (admin, commands). With the cache down, processes fall
    back to their 30 s expiry.
    """
    from django.core.cache import cache

    clear_key_cache()
    try:
        cache.set(KEY_VERSION_CACHE_KEY, time.time_ns(), timeout=None)
    except Exception:
        logger.warning("cache unavailable: key change reaches other processes within 30 s")


def _drop_cache_if_keys_changed(now: float) -> None:
    """At most once a second per process: one cache read, and a cleared key cache on change."""
    from django.core.cache import cache

    if now - _key_version["checked_at"] < _KEY_VERSION_CHECK_SECONDS:  # type: ignore[operator]
        return
    _key_version["checked_at"] = now
    try:
        version = cache.get(KEY_VERSION_CACHE_KEY)
    except Exception:
        return
    if version != _key_version["seen"]:
        _key_version["seen"] = version
        clear_key_cache()


def lookup_key(public_key: str) -> KeyInfo | None:
    """The active key with this public key; cached per process (one query per key) for 30 s or
    until any key changes (checked once a second through the shared cache)."""
    from error_logging.models import IngestKey

    if not public_key or len(public_key) > 64:
        return None
    now = time.monotonic()
    _drop_cache_if_keys_changed(now)
    with _key_lock:
        hit = _key_cache.get(public_key)
    if hit and hit[0] > now:
        return hit[1]
    row = (
        IngestKey.objects.filter(public_key=public_key, is_active=True)
        .values_list("id", "service", "project_id", "public_key", "rate_limit_per_minute")
        .first()
    )
    info = KeyInfo(*row) if row else None
    with _key_lock:
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        _key_cache[public_key] = (now + _KEY_TTL_SECONDS, info)
    return info


def touch_key(info: KeyInfo) -> None:
    """Record last use at most once a minute per key and process (not one write per request)."""
    from django.utils import timezone

    from error_logging.models import IngestKey

    now = time.monotonic()
    if now - _last_used.get(info.id, -1e9) < 60:
        return
    _last_used[info.id] = now
    try:
        IngestKey.objects.filter(pk=info.id).update(last_used_at=timezone.now())
    except Exception:
        logger.warning("could not record use of ingest key %s", info.id, exc_info=True)


def key_from_headers(request: HttpRequest) -> str:
    meta = request.META
    key = meta.get("HTTP_X_INGEST_KEY", "").strip()
    if key:
        return key
    auth = meta.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


def key_digest(public_key: str) -> str:
    """What logs may say about a key: a short SHA-256 digest, never the key itself."""
    return hashlib.sha256(public_key.encode("utf-8", "replace")).hexdigest()[:12]


def authenticate(public_key: str) -> KeyInfo:
    if not public_key:
        raise IngestHTTPError(
            401,
            "missing ingest key: send X-Ingest-Key or Authorization: Bearer <key>",
            code="not_authenticated",
        )
    info = lookup_key(public_key)
    if info is None:
        logger.warning(
            "ingest key rejected: unknown or inactive (sha256 %s)", key_digest(public_key)
        )
        raise IngestHTTPError(401, "unknown or inactive ingest key", code="not_authenticated")
    touch_key(info)
    return info


# --- rate limit -----------------------------------------------------------------------------------
_redis_down_until = 0.0


def _incr_window(key: str, count: int) -> int:
    """INCRBY + EXPIRE in one round trip on Redis; add + incr through any other cache."""
    redis_client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if redis_client is not None:
        full_key = cache.make_and_validate_key(key)
        pipe = redis_client(full_key, write=True).pipeline(transaction=False)
        pipe.incrby(full_key, count)
        pipe.expire(full_key, 70, nx=True)
        return int(pipe.execute()[0])
    cache.add(key, 0, timeout=70)
    return cache.incr(key, count)


@dataclass
class _WindowState:
    window: int
    pending: int = 0  # items counted here but not yet added to Redis
    known_total: int = 0  # the window's total in Redis at the last sync
    synced_at: float = 0.0


_SYNC_SECONDS = 0.25
_windows: dict[int, _WindowState] = {}
_windows_lock = threading.Lock()


def _rate_limited(limit: int, now: float) -> IngestHTTPError:
    retry_after = max(1, 60 - int(now % 60))
    return IngestHTTPError(
        429,
        f"rate limit of {limit} items per minute exceeded for this key",
        code="rate_limited",
        extra={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after), "X-Sentry-Rate-Limits": f"{retry_after}::key"},
    )


def check_rate_limit(info: KeyInfo, count: int) -> None:
    """Fixed one-minute window per key in Redis, counting items; allows when Redis is down.

    Each process adds its counts to Redis at most every 250 ms while the key is far below its
    limit (one Redis round trip per request would cost single-event Sentry requests ~20% of
    their time), and on every request once it is past half of it, so small limits stay exact.
    A refused batch is not counted: it stored nothing, so the items that still fit get in.
    """
    global _redis_down_until
    limit = info.rate_limit_per_minute or config_value("INGEST_RATE_LIMIT_PER_MINUTE", 120000)
    now = time.time()
    if now < _redis_down_until:
        return
    window = int(now // 60)
    with _windows_lock:
        state = _windows.get(info.id)
        if state is None or state.window != window:
            state = _windows[info.id] = _WindowState(window=window)
        estimate = state.known_total + state.pending + count
        if estimate > limit:
            raise _rate_limited(limit, now)
        state.pending += count
        if now - state.synced_at < _SYNC_SECONDS and estimate < limit // 2:
            return
        pending, state.pending, state.synced_at = state.pending, 0, now
    key = f"error_logging:ingest-rate:{info.id}:{window}"
    try:
        total = _incr_window(key, pending)
        refused = total > limit
        if refused:
            # other processes filled the window: take this batch back out (the counts that
            # went with it belong to requests already accepted)
            total = _incr_window(key, -count)
    except Exception:
        _redis_down_until = now + 10
        logger.warning("rate limiter unavailable; allowing ingestion", exc_info=True)
        return
    with _windows_lock:
        if state.window == window:
            state.known_total = max(state.known_total, total)
    if refused:
        raise _rate_limited(limit, now)


def clear_rate_state() -> None:
    with _windows_lock:
        _windows.clear()
