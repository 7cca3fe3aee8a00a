#!/usr/bin/env bash
# Fetches the CUTLASS/CuTe headers from the pinned PyPI wheel nvidia-cutlass into third_party/cutlass
# (ignored by git). CMake finds them through W8A8_CUTLASS_DIR (default: that folder).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${CUTLASS_VERSION:-$(cat cmake/cutlass-version.txt)}
dest=third_party/cutlass
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then
  echo "cutlass $version headers already in $dest"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=${PYTHON:-python3}
[ -x .venv/bin/python ] && py=.venv/bin/python   # scripts/setup.sh's venv has pip; a bare system python may not
"$py" -m pip download -q --no-deps --disable-pip-version-check "nvidia-cutlass==$version" -d "$tmp"
rm -rf "$dest" && mkdir -p "$dest"
python3 - "$tmp"/nvidia_cutlass-*.whl "$dest" <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "cutlass_library/source/include/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = dest / "include" / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PY
echo "$version" > "$dest/VERSION"
echo "cutlass $version headers in $dest/include ($(du -sh "$dest" | cut -f1))"
