#!/usr/bin/env bash
# Create .venv with the pinned dependency set and install MouseAct into it (idempotent).
# Re-running is cheap: it reinstalls only when requirements.lock.txt or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: MouseAct needs Python >= 3.11 (found $("$PY" --version 2>&1))" >&2
  exit 2
fi
stamp=.venv/.mouseact-installed
want=$(cat requirements.lock.txt pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
log=$(mktemp)
echo "[setup] installing pinned dependencies into .venv (first time: ~1.5-3 min, ~7 GB) ..." >&2
# pip's own progress goes to a log; it is shown only if the install fails.
if ! .venv/bin/python -m pip install --disable-pip-version-check -r requirements.lock.txt >"$log" 2>&1 \
   || ! .venv/bin/python -m pip install --disable-pip-version-check --no-deps -e . >>"$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" | tail -40 >&2
  echo "error: dependency install failed (full log: $log)" >&2
  exit 2
fi
rm -f "$log"
echo "$want" > "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import torch, mouseact; print("mouseact", mouseact.__version__, "torch", torch.__version__)')" >&2
