"""The README documents every environment variable the settings read, and the test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_READ = re.compile(r'env_(?:str|int|float|bool|choice|json|list)\(\s*"([A-Z][A-Z0-9_]+)"')


def test_every_environment_variable_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    sources = (ROOT / "feeding_hearts" / "config.py").read_text() + (
        ROOT / "feeding_hearts" / "settings.py"
    ).read_text()
    variables = set(_READ.findall(sources))
    assert len(variables) > 40
    missing = sorted(v for v in variables if v not in readme)
    assert not missing, f"undocumented variables: {missing}"


def test_readme_quick_start_and_ci_run_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
