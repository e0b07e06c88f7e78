"""JSON rendering with orjson: the same JSON as DRF's renderer, several times faster."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()


def _default(obj: Any) -> Any:
    """Whatever orjson does not know natively (Decimal, lazy strings, …) as DRF encodes it."""
    return _fallback.default(obj)


class FastJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
