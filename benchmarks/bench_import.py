"""Time ``import polyth`` in fresh interpreters (a script, not a test).

    python benchmarks/bench_import.py [--repeats 9]

Each statement runs as ``python -c STATEMENT`` in a fresh subprocess of this interpreter,
``repeats`` times, the statements interleaved round by round so that drifting load falls
on all of them alike, after one warm-up round (file-system caches, .pyc files):
  baseline    pass
  polyth      import polyth
  Mechanism   import polyth; polyth.Mechanism   (the mechanism layer: sympy, networkx, igraph)
  kernels     import polyth_kernels             (numba, scipy)
and prints the median and minimum wall time of each and the median minus the baseline
median, which is what the import itself costs. tests/test_layering.py checks the
deterministic side: ``import polyth`` loads none of the heavy dependencies.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STATEMENTS = {
    "baseline": "pass",
    "polyth": "import polyth",
    "Mechanism": "import polyth; polyth.Mechanism",
    "kernels": "import polyth_kernels",
}


def wall_time(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="runs of each statement (at least 7)")
    args = parser.parse_args()
    if args.repeats < 7:
        parser.error("--repeats must be at least 7")

    for statement in STATEMENTS.values():
        wall_time(statement)
    times = {label: [] for label in STATEMENTS}
    for _ in range(args.repeats):
        for label, statement in STATEMENTS.items():
            times[label].append(wall_time(statement))

    baseline = statistics.median(times["baseline"])
    print(f"python {sys.version.split()[0]}, {args.repeats} runs each, wall time of `python -c ...`")
    print(f"{'':<10} {'statement':<34} {'median ms':>10} {'min ms':>8} {'- baseline ms':>14}")
    for label, statement in STATEMENTS.items():
        median = statistics.median(times[label])
        print(
            f"{label:<10} {statement:<34} {median * 1e3:>10.1f} {min(times[label]) * 1e3:>8.1f}"
            f" {(median - baseline) * 1e3:>14.1f}"
        )


if __name__ == "__main__":
    main()
