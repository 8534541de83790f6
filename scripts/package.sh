#!/usr/bin/env bash
# Builds the one-folder bundle from build.spec, checks what went into it, runs the built
# executable's --smoke offscreen (open, rebalance the bundled sample, start and query the local
# API, screenshot), checks the screenshot is not blank, and prints the bundle's size and
# compressed size against the packaging budget (350 MB, 140 MB as tar.gz; MB = 10^6 bytes).
#
#   bash scripts/package.sh              # build, then check
#   bash scripts/package.sh --no-build   # check an existing dist/ (e.g. after a manual build)
#
# Output: dist/rebalancer/rebalancer (the executable), build/rebalancer-<version>-linux-<arch>.tar.gz,
# build/smoke.png. Exits nonzero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export QT_QPA_PLATFORM=offscreen
MAX_MB=350
MAX_TGZ_MB=140

# name and version as build.spec takes them: the console script that runs desktop.__main__:main
read -r NAME VERSION <<<"$("$PY" -c 'import tomllib, engine
scripts = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]
print(next(k for k, v in scripts.items() if v == "desktop.__main__:main"), engine.__version__)')"
BUNDLE="dist/$NAME"
EXE="$BUNDLE/$NAME"

if [ "${1:-}" != "--no-build" ]; then
  SECONDS=0
  .venv/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build build.spec
  echo "built $EXE in $SECONDS s"
fi
[ -x "$EXE" ] || { echo "package: $EXE not found (build first)"; exit 1; }

# 1. what went in: the lazily imported pieces are there, dev/test libraries and unused solvers not
.venv/bin/pyi-archive_viewer -r -b "$EXE" | "$PY" -c '
import sys
names = {line.strip() for line in sys.stdin}
need = ["engine.optimize", "engine.optimize_qp", "clarabel", "api.server", "waitress", "flask", "pyqtgraph", "desktop.main_window"]
banned = ["pytest", "hypothesis", "PIL", "matplotlib", "cvxpy", "scs", "osqp", "highspy", "sparsediffpy", "PyInstaller",
          "PySide6.QtNetwork", "PySide6.QtQml", "setuptools"]
missing = [m for m in need if m not in names]
leaked = [m for m in banned if m in names]
print(f"archive: {len(names)} entries; required present: {not missing}; excluded absent: {not leaked}")
sys.exit(f"missing from the bundle: {missing}" if missing else f"should not be bundled: {leaked}" if leaked else 0)
'
for f in resources/market/README.md resources/market/prices_daily.csv api/templates/index.html; do
  [ -s "$BUNDLE/_internal/$f" ] || { echo "package: $f missing from the bundle"; exit 1; }
done
[ -e "$BUNDLE/_internal/PySide6/QtOpenGL.abi3.so" ] || { echo "package: QtOpenGL missing (pyqtgraph needs it)"; exit 1; }

# 2. the frozen app runs: from another directory, with no resource override, offscreen
mkdir -p build
SHOT="$PWD/build/smoke.png"
rm -f "$SHOT"
SECONDS=0
(cd build && env -u REBALANCER_RESOURCES -u DISPLAY -u WAYLAND_DISPLAY timeout 300 "../$EXE" --smoke "$SHOT")
echo "smoke: exit 0 in $SECONDS s"

# 3. the screenshot is not blank: real widgets give many colours and no colour covers nearly all of it
"$PY" - "$SHOT" <<'EOF'
import sys

import numpy as np
from PySide6.QtGui import QImage

image = QImage(sys.argv[1])
if image.isNull():
    sys.exit(f"screenshot: cannot read {sys.argv[1]}")
image = image.convertToFormat(QImage.Format.Format_RGB32)
w, h = image.width(), image.height()
pixels = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.bytesPerLine() * h // 4)
pixels = pixels.reshape(h, -1)[:, :w].ravel()
colours, counts = np.unique(pixels, return_counts=True)
dominant = counts.max() / pixels.size
print(f"screenshot: {w}x{h}, {colours.size} distinct colours, the commonest covers {dominant:.0%}")
if w < 400 or h < 300 or colours.size < 64 or dominant > 0.9:
    sys.exit("screenshot: looks blank")
EOF

# 4. sizes against the budget
TGZ="build/$NAME-$VERSION-linux-$(uname -m).tar.gz"
tar -czf "$TGZ" -C dist "$NAME"
"$PY" - "$BUNDLE" "$TGZ" "$MAX_MB" "$MAX_TGZ_MB" <<'EOF'
import os
import sys
from pathlib import Path

bundle, tgz, max_mb, max_tgz = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
size = sum(p.lstat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
packed = os.path.getsize(tgz) / 1e6
print(f"bundle: {size:.1f} MB (budget {max_mb:.0f}); {tgz}: {packed:.1f} MB (budget {max_tgz:.0f})")
if size > max_mb or packed > max_tgz:
    sys.exit("package: over the size budget")
EOF
echo "package: OK ($EXE)"
