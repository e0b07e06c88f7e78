#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it when missing and we are root.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[chromium] installing Debian's chromium (one time)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "[chromium] /usr/bin/chromium is missing; install it: sudo apt-get install -y chromium"
  exit 1
fi
