"""Seconds per mechanism of the reduction search behind polyth.bounds (a script, not a test).

    python benchmarks/bench_reductions.py [--repeats 5]

The mechanisms: every connected graph on 2 … 5 vertices with every choice of query, up to
renaming (networkx's graph atlas, deduplicated by canonical form), the same set the issue-16 atlas
sweeps. For each, with every cache emptied first (cold) and then with the registry's per-target
cache warm (the atlas' regime), the wall time of :func:`polyth.theory.lower_bounds.inherited` (the
search and the registry check) is taken ``repeats`` times; the script prints the median over
repeats, then the median and maximum over mechanisms, beside the time of the exact plan search for
the same mechanisms (the rest of polyth.bounds), and the load average at start and end.
"""

from __future__ import annotations

import argparse
import os
import statistics

import networkx as nx
from timing import run_times

from polyth import Mechanism
from polyth.theory import lower_bounds as L
from polyth.theory.plan import exact_plan


def mechanisms(max_t: int = 5) -> list[Mechanism]:
    found = {}
    for graph in nx.graph_atlas_g():
        if not 2 <= graph.number_of_nodes() <= max_t or not nx.is_connected(graph):
            continue
        for query in graph.nodes:
            edges = [(u + 1, v + 1) for u, v in graph.edges]
            m = Mechanism.from_hypergraph(edges, query=query + 1)
            found.setdefault(m, m)
    return list(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    ms = mechanisms()
    L.inherited(ms[0])  # imports (igraph for canonical forms) and sympy's first use

    def cold(m):
        def run():
            L._SEARCHED.clear()
            L._ENTRIES.clear()
            L.inherited(m)

        return run

    def warm(m):
        def run():
            L._SEARCHED.clear()
            L.inherited(m)

        return run

    rows = {
        "reduction search, cold": [statistics.median(run_times(cold(m), args.repeats)) for m in ms],
        "reduction search, warm": [statistics.median(run_times(warm(m), args.repeats)) for m in ms],
        "exact plan search": [statistics.median(run_times(lambda m=m: exact_plan(m), 1)) for m in ms],
    }
    print(f"{len(ms)} mechanisms (connected graphs, t ≤ 5, every query), median of {args.repeats} repeats")
    for name, seconds in rows.items():
        middle, worst = statistics.median(seconds) * 1e3, max(seconds) * 1e3
        print(f"  {name:<24} median {middle:7.2f} ms, max {worst:7.2f} ms")
    print(f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
