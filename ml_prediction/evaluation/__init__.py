from __future__ import annotations

import os
from pathlib import Path


def default_datasets_dir() -> Path:
    """``FH_DATASETS_DIR``, else ``../shared/datasets`` beside the checkout (read-only data)."""
    configured = os.environ.get("FH_DATASETS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
