"""Values as the ML database's float and jsonb columns take them.

PostgreSQL stores NaN in a float column without complaint (a silent NaN score) and refuses
NaN/Infinity inside jsonb (the whole analysis transaction fails). Every service that writes
engine output goes through these two, so neither can happen.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing, not a number, NaN or infinite."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_safe(data: Any) -> Any:
    """A JSON-safe copy: NaN/inf → None, datetimes → ISO strings, numpy scalars → Python."""
    if isinstance(data, dict):
        return {str(k): json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, datetime):
        return data.isoformat()
    if hasattr(data, "item") and callable(data.item):  # numpy scalars
        return json_safe(data.item())
    return data
