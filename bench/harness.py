"""Timing, memory and reporting helpers shared by every benchmark."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured case: a name, its median seconds, and what it is compared with."""

    group: str
    case: str
    median_s: float
    repeats: int
    baseline: str | None = None
    ratio: float | None = None  # baseline median / our median (> 1 = we are faster)
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def median_time(fn: Callable[[], object], *, repeats: int, warmup: int = 1, max_seconds: float = 20.0) -> tuple[float, int]:
    """Median wall time of ``fn`` over ``repeats`` runs (fewer if ``max_seconds`` runs out)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + max_seconds
    gc.collect()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times), len(times)


def peak_traced_mb(fn: Callable[[], object]) -> float:
    """Peak memory allocated (Python and numpy buffers) while ``fn`` runs, in MB."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for ln in fh:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    import numpy as np

    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; numpy {np.__version__}")


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def render(rows: list[Row]) -> str:
    """A Markdown table of medians, ratios and targets."""
    out = ["| group | case | median | vs | ratio (them / us) | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.3g}×" if r.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        value = r.note if r.note and r.median_s == 0 else fmt_time(r.median_s)
        out.append(f"| {r.group} | {r.case} | {value} | {r.baseline or ''} | {ratio} | {r.target} | {met} |")
    return "\n".join(out)
