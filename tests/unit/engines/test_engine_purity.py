"""Engines stay pure: no Django (or web-layer) import, and no eager TensorFlow / Prophet import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINES_DIR = Path(__file__).resolve().parents[3] / "ml_prediction" / "engines"
ENGINE_FILES = sorted(ENGINES_DIR.glob("*.py"))
FORBIDDEN_ANYWHERE = ("django", "rest_framework", "celery")
FORBIDDEN_PROJECT = (
    "ml_prediction.models",
    "ml_prediction.services",
    "ml_prediction.api",
    "ml_prediction.tasks",
    "error_logging",
    "feeding_hearts",
)
HEAVY = ("tensorflow", "keras", "prophet")


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, at_module_level) for every import statement in the tree."""
    module_level = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(
                (alias.name, node.lineno, id(node) in module_level) for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in module_level))
    return found


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_the_engines_folder_is_found():
    # given / then: the scan below is not vacuous
    assert ENGINES_DIR.is_dir()
    assert any(path.name == "anomaly.py" for path in ENGINE_FILES)


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.name)
def test_engine_imports_no_django_or_web_layer(path):
    # given
    tree = ast.parse(path.read_text(), filename=str(path))
    # when
    offending = [
        f"{path.name}:{line} imports {module}"
        for module, line, _ in _imports(tree)
        if _matches(module, FORBIDDEN_ANYWHERE) or _matches(module, FORBIDDEN_PROJECT)
    ]
    # then
    assert offending == []


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.name)
def test_engine_imports_heavy_libraries_only_inside_functions(path):
    # given
    tree = ast.parse(path.read_text(), filename=str(path))
    # when
    eager = [
        f"{path.name}:{line} imports {module} at module level"
        for module, line, top_level in _imports(tree)
        if top_level and _matches(module, HEAVY)
    ]
    # then
    assert eager == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import django\n", True),
        ("from django.conf import settings\n", True),
        ("def f():\n    from django.db import models\n", True),
        ("from ml_prediction.models import MLModel\n", True),
        ("import numpy as np\nfrom ml_prediction.engines.types import AnomalyScore\n", False),
        ("import djangoish\n", False),
    ],
)
def test_the_scan_itself_recognises_django_imports(source, expected):
    # given
    tree = ast.parse(source)
    # when
    found = any(
        _matches(module, FORBIDDEN_ANYWHERE) or _matches(module, FORBIDDEN_PROJECT)
        for module, _, _ in _imports(tree)
    )
    # then
    assert found is expected


def test_importing_every_engine_loads_no_django_at_all():
    # given: a fresh interpreter with no settings module
    import os
    import subprocess
    import sys

    modules = [f"ml_prediction.engines.{p.stem}" for p in ENGINE_FILES if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'celery', 'rest_framework', 'feeding_hearts', 'tensorflow', 'prophet'))\n"
        "print(','.join(bad))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # when
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ENGINES_DIR.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
