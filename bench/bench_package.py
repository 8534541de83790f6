"""The packaged app (issue 5): one-folder bundle size, its tar.gz size, and the frozen cold start.

Measures ``dist/rebalancer`` as ``bash scripts/package.sh`` (or ``pyinstaller build.spec``)
left it; without a build there is nothing to measure and the table says so. MB = 10^6 bytes.
"Cold start" is the first launch in this run, to the first frame flushed to the main window
(see :func:`bench.bench_gui.first_paint`); the OS page cache is not dropped (that needs root and
disturbs the machine), so it is a first launch after the files were last read, not after a reboot.
"""

from __future__ import annotations

import statistics
import tarfile
import tempfile
from pathlib import Path

from bench.bench_gui import first_paint, frozen_executable
from bench.harness import Row

MAX_MB, MAX_TGZ_MB, MAX_PAINT_S = 350.0, 140.0, 1.5


def bundle_bytes(bundle: Path) -> int:
    """Bytes of the regular files in ``bundle`` (symlinks count once, as their target)."""
    return sum(p.lstat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())


def tgz_bytes(bundle: Path) -> int:
    """Size of ``bundle`` as a tar.gz at gzip's default level (what ``tar -czf`` makes)."""
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        out = Path(tmp) / f"{bundle.name}.tar.gz"
        with tarfile.open(out, "w:gz", compresslevel=6) as tar:
            tar.add(bundle, arcname=bundle.name)
        return out.stat().st_size


def _size_row(case: str, size_mb: float, limit: float) -> Row:
    return Row("package", case, 0.0, 1, target=f"≤ {limit:.0f} MB", met=size_mb <= limit, note=f"{size_mb:.1f} MB")


def run(quick: bool) -> list[Row]:
    exe = frozen_executable()
    if exe is None:
        return [Row("package", "one-folder bundle", 0.0, 0, note="no dist/rebalancer: run bash scripts/package.sh")]
    bundle = exe.parent
    cold = first_paint([str(exe)])
    rows = [Row("package", "frozen cold start to first paint (first launch)", cold, 1,
                target=f"≤ {MAX_PAINT_S} s", met=cold <= MAX_PAINT_S)]
    if not quick:
        warm = [first_paint([str(exe)]) for _ in range(5)]
        rows.append(Row("package", "frozen start to first paint (next launches)", statistics.median(warm), len(warm),
                        target=f"≤ {MAX_PAINT_S} s", met=statistics.median(warm) <= MAX_PAINT_S))
    rows.append(_size_row("one-folder bundle (dist/rebalancer)", bundle_bytes(bundle) / 1e6, MAX_MB))
    if quick:
        rows.append(Row("package", "bundle as tar.gz", 0.0, 0, note="skipped with --quick (≈ 20 s)"))
    else:
        rows.append(_size_row("bundle as tar.gz (gzip -6)", tgz_bytes(bundle) / 1e6, MAX_TGZ_MB))
    return rows


if __name__ == "__main__":
    import sys

    from bench.harness import render

    print(render(run("--quick" in sys.argv)))
