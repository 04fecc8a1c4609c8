"""The poly-attention paper's complexity claims, checked by polyth on this machine.

    python papers/poly-attention/reproduce_theory.py [--quick]

Chakrabarti, Pitassi, Alman, "Poly-attention: a general scheme for higher-order
self-attention", ICLR 2026 (arXiv:2602.02422). Writes into this folder:

  theory.json          every figure quoted in README.md's claims table;
  runtime_tree.png     exact time against n: self-attention, tree attention (path-3, path-5,
                       star-4) and 3-tensor attention, with the fitted slopes;
  approx_error.png     measured approximation error against the engine's bound over a sweep
                       of the entry bound B (path-3, k = 2; 3-tensor, k = 3);
  approx_degree.png    the Taylor degree the polynomial method needs against B for
                       k = 2, 3, 4, with B* = (ln n)^{1/k} marked.

Sections:
  zoo        ``polyth.bounds`` of the named mechanisms: exact plan exponent (ω symbolic,
             ω = 2.371339, ω = 3), recorded lower bounds, verdict, approximation threshold.
  trees      "only trees are quadratic": every connected graph polynomial on 2 … 5 variables
             with every choice of query, and on 6 variables with query x1, plus every
             connected hypergraph on 3 and 4 variables (one per canonical form): is the
             engine's exponent 2 exactly when the polynomial is a tree?
  runtime    ``polyth.verify.verify_runtime`` (exact method, cpu, float32, d = dv = 32,
             fastest of 5 runs after a warm-up): fitted exponent against the predicted one.
  approx     ``polyth.verify.sweep_B``: the polynomial method's degree, rank and measured
             error against B / B*.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # a shared 2-core machine: one thread is steadier

import argparse
import itertools
import json
from pathlib import Path

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import polyth
from polyth import Mechanism, zoo
from polyth.verify import sweep_B, verify_runtime
from polyth.verify.approx_check import degree_curve, threshold_B
from polyth.verify.plots import approx_figure, degree_figure
from polyth.verify.report import machine

HERE = Path(__file__).resolve().parent
ZOO = ["self", "path:3", "path:5", "star:4", "tree:1-2,2-3,2-4,4-5", "strassen", "tensor:3", "tensor:4"]
ZOO += ["cycle:4", "cycle:5", "clique:4"]


def zoo_bounds() -> list[dict]:
    rows = []
    for spec in ZOO:
        b = polyth.bounds(zoo.from_spec(spec)).to_dict()
        rows.append(
            {
                "mechanism": spec,
                "polynomial": b["mechanism"]["polynomial"],
                "tree": b["structure"]["is_tree"],
                "k": b["structure"]["k"],
                "algorithm": b["exact"]["algorithm"],
                "cost": b["exact"]["cost"],
                "exponent": b["exact"]["exponent"],
                "exponent_omega_best": b["exact"]["exponent_omega_best"],
                "exponent_omega_3": b["exact"]["exponent_omega_3"],
                "lower": [
                    {"exponent": lb["exponent"], "strict": lb["strict"], "hypothesis": lb["hypothesis"]}
                    for lb in b["lower"]
                ],
                "verdict": b["verdict"],
                "threshold": b["approx"]["threshold"],
                "threshold_exponent": b["approx"]["threshold_exponent"],
            }
        )
        print(
            f"{spec:24s} exponent {b['exact']['exponent']:>10s}  {b['verdict']}  {b['approx']['threshold']}"
        )
    return rows


def _quadratic(m: Mechanism) -> bool:
    return abs(polyth.bounds(m).to_dict()["exact"]["exponent_omega_best"] - 2) < 1e-9


def trees_only_quadratic() -> dict:
    """Count mechanisms whose exponent is 2 and compare with the tree test."""
    seen: set[Mechanism] = set()
    for g in nx.graph_atlas_g():
        t = g.number_of_nodes()
        if not 2 <= t <= 6 or not nx.is_connected(g):
            continue
        edges = [(a + 1, b + 1) for a, b in g.edges]
        for query in range(1, t + 1) if t <= 5 else [1]:
            seen.add(Mechanism.from_hypergraph(edges, query=query))
    for t in (3, 4):
        candidates = [e for size in range(2, t + 1) for e in itertools.combinations(range(1, t + 1), size)]
        for count in range(1, len(candidates) + 1):
            for edges in itertools.combinations(candidates, count):
                if set().union(*edges) != set(range(1, t + 1)):
                    continue
                graph = nx.Graph([pair for e in edges for pair in itertools.combinations(e, 2)])
                if nx.is_connected(graph):
                    seen.add(Mechanism.from_hypergraph(list(edges)))
    counts = {
        "tree_quadratic": 0,
        "tree_not_quadratic": 0,
        "non_tree_quadratic": 0,
        "non_tree_not_quadratic": 0,
    }
    exceptions = []
    for m in seen:
        quadratic = _quadratic(m)
        key = ("tree" if m.is_tree else "non_tree") + ("_quadratic" if quadratic else "_not_quadratic")
        counts[key] += 1
        if quadratic != m.is_tree:
            exceptions.append(str(m.polynomial))
    counts.update(mechanisms=len(seen), exceptions=exceptions)
    print(f"trees only quadratic: {counts}")
    return counts


RUNTIME = [("self", [2048, 4096, 8192, 16384]), ("path:3", [1024, 2048, 4096, 8192])]
RUNTIME += [("path:5", [2048, 4096, 8192]), ("star:4", [2048, 4096, 8192]), ("tensor:3", [128, 256, 512])]


def runtimes(quick: bool):
    results = []
    for spec, sizes in RUNTIME:
        sizes = [n // 4 for n in sizes] if quick else sizes
        r = verify_runtime(zoo.from_spec(spec), sizes=sizes, d=32, label=spec)
        print(r.summary())
        results.append(r)
    return results


def runtime_plot(results, path: Path) -> None:
    figure = Figure(figsize=(6.4, 4.4))
    axes = figure.add_subplot()
    for r in results:
        n = [p.n for p in r.points]
        (line,) = axes.plot(
            n,
            [p.seconds for p in r.points],
            "o-",
            label=f"{r.mechanism}: slope {r.measured_exponent:.2f} (predicted {r.predicted_exponent:g})",
        )
        anchor = r.points[-1].seconds / n[-1] ** r.predicted_exponent
        axes.plot(n, [anchor * x**r.predicted_exponent for x in n], ":", color=line.get_color())
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("n")
    axes.set_ylabel("seconds (fastest of 5; dotted: predicted slope)")
    axes.set_title("Exact poly-attention on the CPU (float32, d = dv = 32, one thread)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def approximations(quick: bool) -> dict:
    n, eps = 64, 1e-3
    trials = 1 if quick else 3
    out = {"n": n, "eps": eps, "thresholds": {k: threshold_B(n, k) for k in (2, 3, 4)}}
    path = sweep_B(zoo.path(3), [0.5, 1.0, 1.5, 2.0, 2.5, 3.0], eps, n=n, trials=trials, label="path:3")
    tensor = sweep_B(zoo.tensor(3), [0.5, 1.0, 1.5, 2.0, 2.5], eps, n=n, trials=trials, label="tensor:3")
    out["path:3"] = [c.to_dict() for c in path]
    out["tensor:3"] = [c.to_dict() for c in tensor]
    approx_figure(path, HERE / "approx_error.png", title=f"path-3 (k = 2): error vs bound, n = {n}")
    Bs = [0.25 * i for i in range(1, 17)]
    curves = {k: (Bs, degree_curve(k, Bs, eps, 2)) for k in (2, 3, 4)}
    out["degree_curves"] = {k: {"B": Bs, "degree": degrees} for k, (_, degrees) in curves.items()}
    degree_figure(curves, n, eps, HERE / "approx_degree.png")
    for c in path + tensor:
        print(
            f"{c.mechanism} B={c.B:g} (B/B*={c.B / c.threshold:.2f}): degree {c.degree}, rank {c.rank}, "
            f"bound {c.predicted_error:.3g}, measured {c.measured_error}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds), for a smoke run")
    args = parser.parse_args()
    info = machine()
    results = {"machine": info, "zoo": zoo_bounds(), "trees_only_quadratic": trees_only_quadratic()}
    timed = runtimes(args.quick)
    results["runtime"] = [r.to_dict() for r in timed]
    runtime_plot(timed, HERE / "runtime_tree.png")
    results["approx"] = approximations(args.quick)
    (HERE / "theory.json").write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {HERE / 'theory.json'} and the PNGs beside it")


if __name__ == "__main__":
    main()
