#!/usr/bin/env bash
# Quick start (2): set up .venv and run the whole test suite (slow and browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Browser tests drive Debian's Chromium headless; install it when missing and we may (root, apt).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[test] installing chromium for the UI tests ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/tmp/mouseact-apt.log 2>&1 || echo "[test] chromium install failed (see /tmp/mouseact-apt.log)" >&2
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
