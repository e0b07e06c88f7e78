"""Run a Python program's module (celery, gunicorn) at the test run's clock.

Under ``pytest --clock`` (or the ``clock`` fixture) the test process lives days ahead of the
real clock; a worker or a server it starts would not, and would find the traffic the test made
in its future. ``python -m tests.clock_process SHIFT MODULE ARGS…`` travels SHIFT seconds ahead
(the clock ticking on, in the forked children too) and then runs ``python -m MODULE ARGS…``.
Test code only: the product never imports time-machine.
"""

from __future__ import annotations

import runpy
import sys
import time

import time_machine


def main() -> None:
    shift, module, *args = sys.argv[1:]
    time_machine.travel(time.time() + float(shift), tick=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
