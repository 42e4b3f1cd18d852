#!/usr/bin/env bash
# The test command: builds the test environment if needed, gets a real ComfyUI, runs pytest.
#   bash tests/run.sh [pytest args]
# COMFYUI_PATH=/path/to/ComfyUI runs the suite against that ComfyUI instead of the registry's one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LIKENESS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.likeness-requirements"
want="$(cat tests/requirements.txt requirements.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
if [ -z "${COMFYUI_PATH:-}" ]; then
  COMFYUI_PATH="$("$VENV/bin/python" tests/get_comfyui.py)"
  export COMFYUI_PATH
fi
echo "ComfyUI under test: $COMFYUI_PATH"
exec "$VENV/bin/python" -m pytest "$@"
