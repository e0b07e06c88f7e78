"""Services of the ML app (writes, reads, orchestration).

``PredictionOrchestrator`` and ``ErrorPredictor`` are the guide's import path
(``from ml_prediction.services import PredictionOrchestrator``); they are resolved lazily so that
importing a light service module (cache, audit, selectors) does not pull in the whole pipeline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ErrorPredictor", "PredictionOrchestrator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ml_prediction.services import orchestrator

        return getattr(orchestrator, name)
    raise AttributeError(f"module 'ml_prediction.services' has no attribute {name!r}")
