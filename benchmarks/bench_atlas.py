"""How fast the atlas builds, and what t = 8 would take (a script, not a test).

    python benchmarks/bench_atlas.py [--t 6] [--rounds 2] [--sample 12] [--keep DIR]

1. Scaling. ``polyth.atlas.build(t)`` (graphs) on a LocalCluster of 1 and then 2 worker
   processes, each into a fresh folder, ``rounds`` times interleaved so that drifting load
   falls on both alike. The rate is mechanisms classified per second of the build after the
   cluster started (the report's clock); the script prints each round, the medians, the ratio
   2 workers ÷ 1 worker and the load average before and after (a ratio near 2 needs two idle
   cores: on a shared machine it says how much of a second core the build got).
2. Seconds per mechanism at t = 6, 7, 8: ``polyth.atlas.columns.row`` on ``sample`` random
   graphs without isolated vertices per t, in this process, after one warm-up (median).
3. The projection for the graphs up to t = 8 on W = 64 workers: Σ_t N(t)·s(t) / (W·e), N(t)
   the number of classes (1, 3, 12, 63, 431, 4430, 73280; from OEIS A000666 and A000088, see
   tests/test_atlas_enumeration.py), s(t) the seconds per mechanism (measured at t ≥ 6; the
   t = 6 figure for smaller t), e the parallel efficiency measured in 1 (the 2-worker speedup
   ÷ 2, at most 1), plus the enumeration of t = 8 on the client, which is serial (``--enumerate-8``
   measures it; minutes).

``--keep DIR`` copies the last 2-worker atlas to DIR.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import tempfile
import time

from polyth.atlas import build
from polyth.atlas.columns import row
from polyth.atlas.enumeration import Member, family

CLASSES = {2: 1, 3: 3, 4: 12, 5: 63, 6: 431, 7: 4430, 8: 73280}
WORKERS = 64


def random_graph(t: int, rng: random.Random) -> Member:
    """A random graph on x1 … xt with every vertex on an edge (each edge with probability 1/2)."""
    pairs = list(itertools.combinations(range(1, t + 1), 2))
    while True:
        edges = tuple(p for p in pairs if rng.random() < 0.5)
        if {v for e in edges for v in e} == set(range(1, t + 1)):
            return Member(edges)


def seconds_per_mechanism(t: int, sample: int) -> float:
    rng = random.Random(t)
    members = [random_graph(t, rng) for _ in range(sample)]
    row(members[0])
    times = []
    for member in members:
        start = time.perf_counter()
        row(member)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sample", type=int, default=12)
    parser.add_argument("--keep", default=None)
    parser.add_argument("--enumerate-8", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rates: dict[int, list[float]] = {1: [], 2: []}
    last = None
    for round_ in range(args.rounds):
        for workers in (1, 2):
            folder = tempfile.mkdtemp(prefix=f"bench-atlas-{workers}w-")
            report = build(args.t, out=folder, workers=workers)
            rates[workers].append(report.rate)
            print(
                f"round {round_ + 1}, {workers} worker(s): {report.mechanisms} mechanisms in "
                f"{report.seconds:.1f} s = {report.rate:.2f}/s (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
            if last is not None:
                shutil.rmtree(last)
            last = folder
    if args.keep:
        shutil.copytree(last, args.keep, dirs_exist_ok=True)
    shutil.rmtree(last)
    load_after = os.getloadavg()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    speedup = two / one
    print(f"median rate: 1 worker {one:.2f}/s, 2 workers {two:.2f}/s; 2 ÷ 1 = {speedup:.2f}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")

    per = {t: seconds_per_mechanism(t, args.sample) for t in (6, 7, 8)}
    for t, s in per.items():
        print(f"t = {t}: {s:.3f} s per mechanism (median of {args.sample}, one process)")
    efficiency = min(1.0, speedup / 2)
    work = sum(CLASSES[t] * per[max(t, 6)] for t in CLASSES)
    print(
        f"graphs up to t = 8: {sum(CLASSES.values())} mechanisms, {work / 3600:.2f} core-hours; "
        f"on {WORKERS} workers at efficiency {efficiency:.2f}: {work / (WORKERS * efficiency) / 60:.1f} min "
        f"(+ the enumeration on the client)"
    )
    if args.enumerate_8:
        start = time.perf_counter()
        count = len(family(8, 2))
        print(f"enumeration of t = 8 on the client: {count} classes in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
