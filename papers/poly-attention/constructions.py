"""Explicit constructions checked at scale, the smallest entry bound each one needs, and
constructions by simulation for every other "yes" of ``polyth tasks predict``.

    python papers/poly-attention/constructions.py [--quick] [--out DIR]

For every construction in ``polyth.tasks.CONSTRUCTIONS`` (path attention for r-fold
composition, r = 1 … 4, Strassen attention for 2-fold composition, 3-tensor and Strassen
attention for Match3, self-attention for Match2) this script

1. runs ``polyth.tasks.accuracy`` at its default entry bound B on 1000 random instances
   (``polyth.attention``, exact method, cpu backend) at n = 64 (65 for compose:2 and
   compose:4, whose n is r·m + 1) and upward, as far as a few minutes of CPU allow (the
   3-variable mechanisms cost n³ per instance, so their ladders stop early);
2. finds, on a ladder of n, the smallest B at which the construction is still 100% accurate
   on the same 1000 instances (the same seed as ``accuracy``): bisection in log B between
   B_default/16 and B_default (100% there), 7 steps (resolution 16^(1/128) ≈ 2.2%); the
   instances that failed at some B are tried first, so a failing step usually stops early;
3. plots min B against (ln n)^(1/k), k the mechanism's degree (2 for path, self and Strassen,
   3 for 3-tensor), with a least-squares line per construction (scipy.stats.linregress;
   slope and R² in the legend and in the JSON). Strassen's Match3 bound is linear in the
   modulus M (its penalty must resolve integers on a line of length 2M, see
   ``polyth.tasks.constructions.match``), so its panel shows B/M.

Then, for every (mechanism, task) of :data:`SIMULATED` (each "yes" of ``polyth tasks
predict`` for the mechanisms of the solvability table that no registered construction covers
as it stands), it runs ``polyth.tasks.find``'s construction by simulation: the registered
weights of a mechanism it simulates, lifted through the reduction and run on the mechanism
itself (``polyth.tasks.constructions.simulation``), at the construction's default B on 1000
instances. Its rows carry the chain, E (d × E) and, per size, B_lift and the largest lifted
entry. No min-B search here: the lift multiplies the entries by fixed constants, so the
smallest working B is the registered construction's (times 1/λ). The script stops before
running anything if some "yes" of a mechanism it covers has no case.

Writes ``results/constructions.json`` (per construction the accuracy rows {n, instances,
accuracy, B, seconds} and the min_B rows {n, B}, plus the domain m or M of every row and the
fit; a construction by simulation also has "via" {construction, chain, moves, d_factor} and
B_lifted and max_abs_Q_lifted per accuracy row) and ``construction_min_B.png`` into this
folder; ``--quick`` (seconds: small n, 100 instances) writes into a temporary directory unless
``--out`` is given; ``--plot-only`` redraws the PNG from the JSON already there;
``--reuse-registered`` keeps the registered constructions' rows of the JSON already there (the
new file's "reused" names them and the run they come from) and runs the rest. Runs numba
on one thread (a shared machine); see papers/poly-attention/README.md for the last run's time.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # a shared 2-core machine: one thread is steadier

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import linregress
from tqdm import tqdm

from polyth import zoo
from polyth.tasks import CONSTRUCTIONS, TaskBatch, accuracy, find, generate
from polyth.tasks.constructions import instance_batches, solved
from polyth.tasks.predict import predict
from polyth.verify.report import machine

HERE = Path(__file__).resolve().parent
PNG = "construction_min_B.png"
INSTANCES = 1000
STEPS = 7
LOWEST = 1 / 16
SEED = 0

#: (mechanism spec, task) → (accuracy ladder, min-B ladder) of sequence lengths n
FULL = {
    ("path:2", "compose:1"): ([65, 129], [9, 17, 33, 65, 129]),
    ("path:3", "compose:2"): ([65, 129], [9, 17, 33, 65, 129]),
    ("path:4", "compose:3"): ([64, 127], [10, 16, 31, 64]),
    ("path:5", "compose:4"): ([65, 129], [9, 17, 33, 65]),
    ("strassen", "compose:2"): ([65, 97], [9, 17, 33, 65]),
    ("tensor:3", "match3"): ([64, 96, 128], [8, 12, 16, 24, 32, 48, 64]),
    ("strassen", "match3"): ([64, 96], [8, 12, 16, 24, 32, 48]),
    ("self", "match2"): ([64, 256, 1024], [8, 16, 32, 64, 128, 256, 512]),
}
QUICK = {
    ("path:2", "compose:1"): ([17], [9, 17]),
    ("path:3", "compose:2"): ([17], [9, 17]),
    ("path:4", "compose:3"): ([16], [10, 16]),
    ("path:5", "compose:4"): ([17], [9, 17]),
    ("strassen", "compose:2"): ([17], [9, 17]),
    ("tensor:3", "match3"): ([12], [8, 12]),
    ("strassen", "match3"): ([12], [8, 12]),
    ("self", "match2"): ([32], [8, 32]),
}
#: constructions whose entry bound grows with the domain: plotted as B / domain
PER_DOMAIN = {("strassen", "match3")}

#: (mechanism spec, task) → accuracy ladder of n for the constructions by simulation; the
#: mechanisms with 3 or more variables in a cycle cost n³ or more per instance, hence smaller n
SIMULATED = {
    ("path:3", "match2"): [64, 256],
    ("path:3", "compose:1"): [65, 129],
    ("path:4", "match2"): [64, 256],
    ("path:4", "compose:1"): [65, 129],
    ("path:4", "compose:2"): [65, 129],
    ("path:5", "match2"): [64, 256],
    ("path:5", "compose:1"): [65, 129],
    ("path:5", "compose:2"): [65, 129],
    ("path:5", "compose:3"): [64, 127],
    ("star:4", "match2"): [64, 256],
    ("star:4", "compose:1"): [65, 129],
    ("strassen", "match2"): [32, 64],
    ("strassen", "compose:1"): [33, 65],
    ("tensor:3", "match2"): [32, 64],
    ("tensor:3", "compose:1"): [33, 65],
    ("tensor:3", "compose:2"): [33, 65],
    ("cycle:4", "match2"): [32, 64],
    ("cycle:4", "compose:1"): [33, 65],
    ("cycle:4", "compose:2"): [33, 65],
    ("cycle:4", "compose:3"): [31, 64],
    ("clique:4", "match2"): [16, 32],
    ("clique:4", "match3"): [16, 24],
    ("clique:4", "compose:1"): [17, 33],
    ("clique:4", "compose:2"): [17, 33],
    ("clique:4", "compose:3"): [16, 31],
}
QUICK_N = {"match2": 8, "match3": 8, "compose:1": 9, "compose:2": 9, "compose:3": 10}
SIMULATED_QUICK = {case: [QUICK_N[case[1]]] for case in SIMULATED}


def subset(batch: TaskBatch, rows: np.ndarray) -> TaskBatch:
    """The instances ``rows`` of ``batch``."""
    pick = {f: getattr(batch, f)[rows] for f in ("symbols", "index", "kind", "targets")}
    return dataclasses.replace(batch, **pick)


def failures(construction, batch: TaskBatch, B: float) -> np.ndarray:
    """Indices of the instances of ``batch`` not solved entirely at entry bound B."""
    return np.flatnonzero(~solved(construction, batch, B))


def all_solved(construction, batches: list[TaskBatch], hard: list[set[int]], B: float) -> bool:
    """True iff every instance is solved at B; known-hard instances go first, and the
    first failure stops the check (its instances join ``hard``)."""
    order = [(i, sorted(h)) for i, h in enumerate(hard) if h]
    for i, rows in order:
        bad = failures(construction, subset(batches[i], np.array(rows)), B)
        if bad.size:
            return False
    for i, batch in enumerate(batches):
        bad = failures(construction, batch, B)
        if bad.size:
            hard[i].update(int(r) for r in bad)
            return False
    return True


def min_B(construction, n: int, instances: int, seed: int) -> tuple[float, float, float]:
    """(smallest B found solving all instances, the default B, seconds)."""
    start = time.perf_counter()
    batches = instance_batches(construction.task, n, instances, seed)
    default = construction.default_B(n, batches[0].domain)
    hard: list[set[int]] = [set() for _ in batches]
    if not all_solved(construction, batches, hard, default):
        raise RuntimeError(
            f"{construction.task} at n = {n}: not 100% accurate at the default B = {default:.4g}"
        )
    lo, hi = math.log(default * LOWEST), math.log(default)
    if all_solved(construction, batches, hard, math.exp(lo)):  # below the bracket: report its floor
        return math.exp(lo), default, time.perf_counter() - start
    for _ in range(STEPS):
        mid = (lo + hi) / 2
        if all_solved(construction, batches, hard, math.exp(mid)):
            hi = mid
        else:
            lo = mid
    return math.exp(hi), default, time.perf_counter() - start


def degree(spec: str) -> int:
    return zoo.from_spec(spec).k


def fit(points: list[dict], k: int, key: str) -> dict | None:
    """Least squares y = slope·(ln n)^(1/k) + intercept over the min-B rows."""
    if len(points) < 3:
        return None
    x = np.array([math.log(p["n"]) ** (1 / k) for p in points])
    y = np.array([p[key] for p in points])
    line = linregress(x, y)
    return {
        "x": f"(ln n)^(1/{k})",
        "y": key,
        "slope": float(line.slope),
        "intercept": float(line.intercept),
        "r_squared": float(line.rvalue**2),
    }


def reusable(out: Path, ladders: dict, mode: str) -> tuple[dict, dict]:
    """The registered constructions' rows of ``out``'s results/constructions.json, by (spec, task),
    and that file's record (for ``--reuse-registered``; only from a run of the same mode)."""
    path = out / "results" / "constructions.json"
    if not path.exists():
        raise SystemExit(f"--reuse-registered: {path} does not exist; run without it first")
    previous = json.loads(path.read_text())
    if previous.get("mode") != mode:
        raise SystemExit(f"--reuse-registered: {path} holds a {previous.get('mode')} run, not a {mode} one")
    rows = {
        (row["mechanism"], row["task"]): row
        for row in previous["constructions"]
        if "via" not in row and (row["mechanism"], row["task"]) in ladders
    }
    return rows, previous


def study(ladders: dict, instances: int, skip: set = frozenset()) -> list[dict]:
    rows = []
    for (spec, task), (accuracy_ns, bound_ns) in ladders.items():
        if (spec, task) in skip:
            continue
        construction = CONSTRUCTIONS[(spec, task)]()
        k = degree(spec)
        record = {
            "mechanism": spec,
            "task": task,
            "heads": construction.heads,
            "embedding_dim": construction.embedding_dim,
            "entry_bound": construction.entry_bound,
            "source": construction.source,
            "k": k,
            "accuracy": [],
            "min_B": [],
        }
        for n in tqdm(accuracy_ns, desc=f"{spec} {task}: accuracy", leave=False):
            domain = generate(task, n, 1, seed=SEED).domain
            B = construction.default_B(n, domain)
            start = time.perf_counter()
            value = accuracy(construction, n, instances, seed=SEED, backend="cpu")
            seconds = time.perf_counter() - start
            record["accuracy"].append(
                {
                    "n": n,
                    "domain": domain,
                    "instances": instances,
                    "accuracy": value,
                    "B": B,
                    "seconds": seconds,
                }
            )
            tqdm.write(f"{spec:9s} {task:10s} n={n:5d} accuracy {value:.4f} at B={B:.4g} ({seconds:.1f} s)")
        for n in tqdm(bound_ns, desc=f"{spec} {task}: min B", leave=False):
            domain = generate(task, n, 1, seed=SEED).domain
            smallest, default, seconds = min_B(construction, n, instances, SEED)
            row = {"n": n, "domain": domain, "B": smallest, "default_B": default, "seconds": seconds}
            if (spec, task) in PER_DOMAIN:
                row["B_per_domain"] = smallest / domain
            record["min_B"].append(row)
            tqdm.write(
                f"{spec:9s} {task:10s} n={n:5d} min B {smallest:.4g} (default {default:.4g}, {seconds:.1f} s)"
            )
        key = "B_per_domain" if (spec, task) in PER_DOMAIN else "B"
        record["fit"] = fit(record["min_B"], k, key)
        rows.append(record)
    return rows


def simulated_study(ladders: dict, instances: int) -> list[dict]:
    """Accuracy rows of the constructions by simulation (:data:`SIMULATED`), at the default B."""
    rows = []
    for (spec, task), ns in ladders.items():
        lifted = find(spec, task)
        if lifted is None or not lifted.reduction.moves:
            raise SystemExit(f"{spec} {task}: {'no construction' if lifted is None else 'registered'}")
        record = {
            "mechanism": spec,
            "task": task,
            "heads": lifted.heads,
            "embedding_dim": lifted.embedding_dim,
            "entry_bound": lifted.entry_bound,
            "source": lifted.source,
            "k": degree(spec),
            "via": {
                "construction": lifted.target_spec,
                "chain": lifted.chain,
                "moves": [{"kind": move.kind, "text": move.text} for move in lifted.reduction.moves],
                "d_factor": lifted.reduction.blocks,
            },
            "accuracy": [],
            "min_B": [],
            "fit": None,
        }
        for n in tqdm(ns, desc=f"{spec} {task}: by simulation", leave=False):
            lifted = find(spec, task)  # fresh record of the largest entries per size
            domain = generate(task, n, 1, seed=SEED).domain
            B = lifted.default_B(n, domain)
            start = time.perf_counter()
            value = accuracy(lifted, n, instances, seed=SEED, backend="cpu")
            seconds = time.perf_counter() - start
            record["accuracy"].append(
                {
                    "n": n,
                    "domain": domain,
                    "instances": instances,
                    "accuracy": value,
                    "B": B,
                    "B_lifted": lifted.lifted_B(B),
                    "max_abs_Q_lifted": lifted.entries.lifted,
                    "seconds": seconds,
                }
            )
            tqdm.write(
                f"{spec:9s} {task:10s} n={n:5d} accuracy {value:.4f} at B={B:.4g}, "
                f"B_lift={lifted.lifted_B(B):.4g} via {lifted.target_spec} ({seconds:.1f} s)"
            )
        rows.append(record)
    return rows


def uncovered(ladders: dict, simulated: dict) -> list[tuple[str, str]]:
    """The "yes" cells of ``polyth tasks predict`` of the mechanisms here that no case covers."""
    covered = {(zoo.from_spec(spec), task) for spec, task in [*ladders, *simulated]}
    mechanisms = {spec: zoo.from_spec(spec) for spec, _ in [*ladders, *simulated]}
    return [
        (spec, p.task)
        for spec, m in mechanisms.items()
        for p in predict(m)
        if p.answer == "yes" and (m, p.task) not in covered
    ]


def plot(rows: list[dict], path: Path) -> None:
    figure = Figure(figsize=(12, 4.8))
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 3)
    for ax, k, per_domain, title in (
        (panels[0], 2, False, "degree 2: path, Strassen (compose), self"),
        (panels[1], 3, False, "degree 3: 3-tensor (Match3)"),
        (panels[2], 2, True, "Strassen (Match3): B / M"),
    ):
        for row in rows:
            if (
                row["k"] != k
                or ((row["mechanism"], row["task"]) in PER_DOMAIN) != per_domain
                or not row["min_B"]
            ):
                continue
            key = "B_per_domain" if per_domain else "B"
            x = np.array([math.log(p["n"]) ** (1 / k) for p in row["min_B"]])
            y = np.array([p[key] for p in row["min_B"]])
            label = f"{row['mechanism']} {row['task']}"
            line = ax.plot(x, y, "o", label=label)[0]
            if row["fit"]:
                f = row["fit"]
                grid = np.linspace(x.min(), x.max(), 50)
                ax.plot(grid, f["slope"] * grid + f["intercept"], "-", color=line.get_color(), alpha=0.6)
                line.set_label(f"{label}: slope {f['slope']:.3g}, R² {f['r_squared']:.3f}")
        ax.set_xlabel(f"(ln n)^(1/{k})")
        ax.set_ylabel("min B / M" if per_domain else "smallest B at 100% accuracy")
        ax.set_title(title, fontsize=10)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.4 * (high - low))  # room for the legend above the points
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    figure.suptitle("Smallest entry bound B at which each construction is still 100% accurate", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small n and 100 instances (seconds), a smoke run"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: this folder; quick: a temp dir)"
    )
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from the folder's JSON")
    parser.add_argument(
        "--reuse-registered",
        action="store_true",
        help="keep the registered constructions' rows of the folder's JSON (their run is named in the "
        "new file) and run only the registered ones it lacks and the constructions by simulation",
    )
    args = parser.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="constructions-")) if args.quick else HERE)
    if args.plot_only:
        plot(json.loads((out / "results" / "constructions.json").read_text())["constructions"], out / PNG)
        return
    ladders, instances = (QUICK, 100) if args.quick else (FULL, INSTANCES)
    mode = "quick" if args.quick else "full"
    simulated = SIMULATED_QUICK if args.quick else SIMULATED
    missing = set(CONSTRUCTIONS) - set(ladders)
    if missing:
        raise SystemExit(
            f"no n ladder for the registered constructions {sorted(missing)}: add them to FULL and QUICK"
        )
    gaps = uncovered(ladders, simulated)
    if gaps:
        raise SystemExit(f"predicted yes without a case: {gaps}: add them to SIMULATED")
    reused, previous = reusable(out, ladders, mode) if args.reuse_registered else ({}, None)
    info = machine()
    start = time.perf_counter()
    ran = {(r["mechanism"], r["task"]): r for r in study(ladders, instances, skip=set(reused))}
    rows = [reused.get(case) or ran[case] for case in ladders] + simulated_study(simulated, instances)
    results = {
        "constructions": rows,
        "machine": f"{info['processor']}, {info['usable_cpus']} usable CPUs, "
        f"numba threads {info['numba_threads']}, {info['platform']}",
        "machine_info": info,
        "date": info["date"],
        "mode": mode,
        "seed": SEED,
        "bisection": {"steps": STEPS, "lowest": LOWEST, "resolution": LOWEST ** (-1 / 2**STEPS)},
        "seconds": time.perf_counter() - start,
    }
    if previous is not None:
        results["reused"] = {
            "rows": [f"{spec} {task}" for spec, task in reused],
            **{key: previous.get(key) for key in ("date", "machine", "mode", "seconds")},
        }
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "results" / "constructions.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(rows, out / PNG)
    print(f"wrote {out / 'results' / 'constructions.json'} and {out / PNG}")
    for row in rows:
        via = f" via {row['via']['construction']} (d × {row['via']['d_factor']})" if "via" in row else ""
        f = row["fit"]
        fitted = (
            f"{f['y']} ≈ {f['slope']:.3g}·{f['x']} + {f['intercept']:.3g} (R² {f['r_squared']:.3f})"
            if f
            else ""
        )
        accuracies = ", ".join(f"n={a['n']}: {a['accuracy']:.3f}" for a in row["accuracy"])
        print(f"{row['mechanism']:9s} {row['task']:10s} {accuracies}{via}; {fitted}")


if __name__ == "__main__":
    main()
