"""Run every benchmark in turn (`make bench`); each prints its own markdown table.

Each script documents its own figures in docs/benchmarks/<area>.md; docs/BENCHMARKS.md indexes
them with the machine and the commands. Run one alone with `.venv/bin/python benchmarks/<x>.py`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    ("engines", ["--repeat", "20"]),
    ("anomaly", []),
    ("forecast", []),
    ("ingest", []),
    ("release", []),
    ("alerts", []),
    ("api", []),
    ("dashboard", []),
    ("orchestrator", []),
]


def main() -> int:
    selected = set(sys.argv[1:])
    failed = []
    for position, (name, args) in enumerate(ORDER, start=1):
        if selected and name not in selected:
            continue
        print(f"\n## [{position}/{len(ORDER)}] {name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / f"{name}_bench.py"), *args])
        print(f"({name}: {time.monotonic() - started:.0f} s, exit {result.returncode})", flush=True)
        if result.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
