"""Time how fast the ``polyth`` command starts (a script, not a test).

    python benchmarks/bench_cli_start.py [--repeats 11]

Each command runs as the installed ``polyth`` script (beside this interpreter) in a fresh
process, ``repeats`` times, the commands interleaved round by round so that drifting load falls
on all of them alike, after one warm-up round (file-system caches, .pyc files):
  baseline         python -c pass          (the interpreter's own start)
  help             polyth --help
  show             polyth show strassen     (the mechanism layer: sympy, networkx)
  bounds           polyth bounds strassen   (for comparison: the theory layer and rich)
It prints the median and minimum wall time of each, the median minus the baseline's, the
target (help and show under 0.5 s) and whether the medians meet it, with the load average
before and after. When the load average exceeds the number of cores at either end, other work
stretched every run (the baseline too) and the verdict is INCONCLUSIVE, not met or missed.
tests/test_cli_presentation.py checks the deterministic side: ``polyth --help`` imports no sympy,
numba, torch or rich, and ``polyth show`` none of numba, torch, rich or matplotlib.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = str(Path(sys.executable).parent / "polyth")
COMMANDS = {
    "baseline": [sys.executable, "-c", "pass"],
    "help": [SCRIPT, "--help"],
    "show": [SCRIPT, "show", "strassen"],
    "bounds": [SCRIPT, "bounds", "strassen"],
}
TARGET_S = {"help": 0.5, "show": 0.5}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="runs of each command (at least 7)")
    args = parser.parse_args()
    if args.repeats < 7:
        parser.error("--repeats must be at least 7")
    if not Path(SCRIPT).exists():
        parser.error(f"no polyth script at {SCRIPT}: pip install -e . first")

    load_before = os.getloadavg()
    for command in COMMANDS.values():
        wall_time(command)
    times = {label: [] for label in COMMANDS}
    for _ in range(args.repeats):
        for label, command in COMMANDS.items():
            times[label].append(wall_time(command))
    load_after = os.getloadavg()

    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
    baseline = statistics.median(times["baseline"])
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.repeats} runs each; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"{'':<9} {'median ms':>10} {'min ms':>8} {'- baseline ms':>14} {'< 0.5 s':>13}")
    for label in COMMANDS:
        median = statistics.median(times[label])
        target = TARGET_S.get(label)
        verdict = "" if target is None else "INCONCLUSIVE" if busy else "met" if median < target else "MISSED"
        print(
            f"{label:<9} {median * 1e3:>10.1f} {min(times[label]) * 1e3:>8.1f}"
            f" {(median - baseline) * 1e3:>14.1f} {verdict:>13}"
        )


if __name__ == "__main__":
    main()
