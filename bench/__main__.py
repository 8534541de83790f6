"""Run every benchmark side by side and print one table: ``python -m bench [--quick] [--only NAME]``.

``--quick`` is the CI smoke check: few repeats, fails on errors, never on timings.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench.harness import machine, render

SUITES = ["bench_risk", "bench_montecarlo", "bench_rebalance", "bench_api", "bench_gui", "bench_optimize",
          "bench_pipeline", "bench_package"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke check (< 1 minute)")
    parser.add_argument("--only", action="append", default=[], help="run only these suites (e.g. risk)")
    args = parser.parse_args(argv)
    suites = [s for s in SUITES if not args.only or any(o in s for o in args.only)]
    print(f"# Benchmarks ({'quick' if args.quick else 'full'})\n\nMachine: {machine()}\n")
    rows, failed = [], []
    start = time.perf_counter()
    for name in suites:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                continue  # suite not written yet for a feature that does not exist yet
            raise
        t0 = time.perf_counter()
        try:
            rows.extend(module.run(args.quick))
            print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        except Exception:
            failed.append(name)
            traceback.print_exc()
    print(render(rows))
    missed = [r for r in rows if r.met is False]
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.1f} s; "
          f"{sum(r.met is True for r in rows)} targets met, {len(missed)} missed"
          + (f"; FAILED suites: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
