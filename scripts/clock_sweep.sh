#!/usr/bin/env bash
# Run the tests at several UTC moments of the week (`pytest --clock`), one after the other.
#
# Why: the analyses read hours, days and weeks from the clock (hour-of-week baselines, "the last
# hour", day boundaries), and twice CI found a bug that only one time of day showed. A sweep
# finds such bugs before CI does. Tests that start a process of their own (a worker, a server,
# Chromium) keep the real clock and are skipped under --clock.
#
# Environment: CLOCKS (comma-separated moments, default below), SWEEP_PATHS (pytest paths),
# PYTEST_ARGS (more pytest arguments), plus the test environment `make test` sets.
set -u -o pipefail

CLOCKS=${CLOCKS:-"Mon 00:05,Tue 03:45,Wed 07:30,Thu 11:55,Fri 16:20,Sat 20:40,Sun 23:58"}
SWEEP_PATHS=${SWEEP_PATHS:-"tests/unit tests/integration"}
PY=${PY:-.venv/bin/python}
LOG_DIR=${LOG_DIR:-var/clock-sweep}
mkdir -p "$LOG_DIR"

IFS=',' read -r -a moments <<<"$CLOCKS"
failed=()
index=0
for moment in "${moments[@]}"; do
    moment=$(echo "$moment" | xargs)
    index=$((index + 1))
    log="$LOG_DIR/$(echo "$moment" | tr ' :' '_-').log"
    echo "[clock-sweep] $index/${#moments[@]}: the tests at the next $moment UTC (log: $log)"
    # shellcheck disable=SC2086  # the paths and arguments are word lists
    if "$PY" -m pytest --clock="$moment" -q $SWEEP_PATHS ${PYTEST_ARGS:-} \
        >"$log" 2>&1; then
        echo "[clock-sweep]   $(tail -n 1 "$log")"
    else
        echo "[clock-sweep]   FAILED: $(tail -n 1 "$log")"
        grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/[clock-sweep]     /'
        failed+=("$moment")
    fi
done

if ((${#failed[@]})); then
    echo "[clock-sweep] failures at: ${failed[*]} (rerun one: make test PYTEST_ARGS=\"--clock='${failed[0]}' …\")"
    exit 1
fi
echo "[clock-sweep] every moment passed"
