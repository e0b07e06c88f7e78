#!/usr/bin/env bash
# The HTTP benchmarks drive the server with wrk (C, cheap on the shared cores); install Debian's
# package when missing and we are root. Without it the API benchmark falls back to a Python load
# generator, whose own CPU use makes the server look slower.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[wrk] installing Debian's wrk (one time)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
  echo "[wrk] wrk is missing (install it: sudo apt-get install -y wrk); using the Python load generator"
fi
