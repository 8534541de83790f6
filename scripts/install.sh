#!/usr/bin/env bash
# Installs everything on a fresh Debian 12 / Python 3.11 machine: the few system libraries Qt
# needs offscreen (already present on the stock image), a virtual environment in .venv, and
# the project with its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."
need=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/python -c 'import engine; print("smart-portfolio-rebalancer", engine.__version__)')"
