from __future__ import annotations

import os
from pathlib import Path


def default_datasets_dir() -> Path:
    """``FH_DATASETS_DIR``, else ``../shared/datasets`` beside the checkout (read-only data)."""
    configured = os.environ.get("FH_DATASETS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def datasets_option(datasets_dir: Path) -> str:
    """`` --datasets DIR`` for a section's command line when it read other data than the default
    (a figure is reproducible only from the data it came from); "" for the default."""
    if Path(datasets_dir).resolve() == default_datasets_dir().resolve():
        return ""
    return f" --datasets {datasets_dir}"
