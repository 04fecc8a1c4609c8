"""The function-composition experiment of the poly-attention paper, with seeds, FLOPs and runtimes.

    python papers/poly-attention/train_composition.py [--quick] [--steps S] [--seeds K] [--models ...]
    python papers/poly-attention/train_composition.py --protocol authors [--quick] [--time-only]
        [--steps S] [--seeds 61 62 …] [--models …] [--semantics …] [--workers W | --scheduler ADDRESS]

``--protocol authors`` is the authors' own protocol, re-implemented from their public code
(:mod:`polyth.tasks.authors_protocol`, :mod:`polyth.tasks.authors_model`): tree-1L, self-1L and
self-2L for 30000 steps, seeds 61 (the authors' seed) … 65, each under the authors'
semantics and under Definition 2.2 with everything else the same. Runs start in this order:
seed 61 under both semantics, then seeds 62 … 65, and self-2L (ten times the work per step)
after every one-layer run (:func:`polyth.tasks.sweep.ordered_tasks`). It first times one step
of every (model, semantics) in this process and prints the projected CPU time, then runs
the sweep on Dask (:mod:`polyth.tasks.sweep`: a LocalCluster with one single-threaded worker
per core unless --workers W or --scheduler ADDRESS; run it under ``nice -n 19`` on a shared
machine). Each finished run is written to results/authors_protocol/<model>_<semantics>_seed<S>.json
at once, the aggregate results/training_authors.json and the figures
composition_authors_accuracy_vs_{steps,seconds,flops}.png after every run; started again, the
sweep skips the finished runs and resumes the interrupted ones from their checkpoints.
--time-only stops after the timing; --report trains nothing: it rebuilds the aggregate and the
figures from the per-run files and the checkpoints of unfinished runs (drawn dashed), then the
results section of README.md, the learning rows of README.md and ../README.md, and
solvability.md (:mod:`authors_report`), from whatever runs exist; --quick: 2 seeds × 40 steps
of batch 64 into a temporary directory.

The default protocol (below) is polyth's own.

Chakrabarti, Pitassi, Alman 2026: 2-fold composition f2(f1(x)) in the paper's format
(sequence length 25 = two tables of 12 entries and the query; each token one-hot(value) ⊕
one-hot(index) ⊕ a 3-way type flag: ``composition(2, 12, b, fmt="paper")``), d_model 8, one
head, Adam with learning rate 1e-3, a fresh batch of 1024 examples per step, cross-entropy at
the last position. Models: one-layer tree (path x1x2 + x2x3) attention, one- and two-layer
self-attention, one-layer Strassen and one-layer 3-tensor attention (the runtime baselines).

Modes (each model trains on the same seeds 0 … K−1; equal training compute by default):
  full     5 seeds, batch 1024, each model trained for 1e11 operations (FLOPs; tree-1L 606
           steps, self-1L 847, self-2L 471, strassen-1L 158, tensor3-1L 101): about 15 minutes
           on the shared 2-core CPU of the development machine with one torch thread
  --quick  2 seeds × 20 steps of batch 128 (seconds; a smoke run of the whole pipeline),
           written to a temporary directory unless --out is given
  --steps S (the same steps for every model) / --flop-budget X / --seeds / --batch / --models
           override either mode.
  --lr / --attention-scale (default | sqrt | a number) / --d-model: a variant of the paper's
           protocol (lr 1e-3, scale 1/head_dim, d_model 8); a run with any of them writes
           results/training_variant.json and composition_variant_*.png, never training.json.

Writes results/training.json (every run's held-out accuracy curve, loss, operations per
step, median wall-clock per step, final accuracy on 4 fresh held-out batches; a summary per
model; and the wall-clock table: one training step of every model at batch 1024, measured
at the start of the same run) and
composition_accuracy_vs_steps.png, composition_accuracy_vs_flops.png (mean over seeds,
min–max band). Operations (FLOPs) are multiply-adds + exps from the cost engine, 3 × forward.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from authors_report import section, write_reports
from training_study import (
    authors_document,
    load_or_run,
    parse_mode,
    plot_authors,
    plot_curves,
    print_tables,
    print_timing,
)

HERE = Path(__file__).resolve().parent
MODELS = ["tree-1L", "self-1L", "self-2L", "strassen-1L", "tensor3-1L"]
FULL = {"seeds": 5, "batch": 1024, "steps": None, "flop_budget": 1e11}
QUICK = {"seeds": 2, "batch": 128, "steps": 20, "flop_budget": None}


PAPER = {"lr": 1e-3, "attention_scale": "default", "d_model": 8}


def scale_argument(text: str):
    """--attention-scale: 'default' (each mechanism's own, 1/head_dim), 'sqrt' or a number."""
    return text if text in ("default", "sqrt") else float(text)


def variant_arguments(parser) -> None:
    parser.add_argument("--lr", type=float, default=PAPER["lr"], help="Adam learning rate (paper: 1e-3)")
    parser.add_argument(
        "--attention-scale",
        type=scale_argument,
        default=PAPER["attention_scale"],
        help="score scale: default (1/head_dim, the paper protocol), sqrt (1/sqrt(head_dim)) or a number",
    )
    parser.add_argument("--d-model", type=int, default=PAPER["d_model"], help="model width (paper: 8)")


AUTHORS = {
    "models": ["tree-1L", "self-1L", "self-2L"],
    "seeds": [61, 62, 63, 64, 65],
    "steps": 30000,
    "batch": 1024,
}
AUTHORS_QUICK = {"seeds": [61, 62], "steps": 40, "batch": 64, "window": 10}


def authors_main(argv: list[str]) -> None:
    from polyth.tasks.authors_model import SEMANTICS
    from polyth.tasks.authors_protocol import WINDOW, project, time_steps
    from polyth.tasks.sweep import ordered_tasks, run_sweep

    parser = argparse.ArgumentParser(
        description="the authors' protocol on Dask (see this script's docstring)"
    )
    parser.add_argument("--protocol", choices=["authors"], required=True)
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds × 40 steps of batch 64, into a temporary dir"
    )
    parser.add_argument("--steps", type=int, help=f"steps per run (default {AUTHORS['steps']})")
    parser.add_argument("--batch", type=int, help=f"fresh examples per step (default {AUTHORS['batch']})")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds, the first runs first (default 61 … 65)")
    parser.add_argument("--models", nargs="+", choices=AUTHORS["models"], default=AUTHORS["models"])
    parser.add_argument("--semantics", nargs="+", choices=SEMANTICS, default=list(SEMANTICS))
    parser.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core)")
    parser.add_argument(
        "--scheduler", help="address of an existing Dask scheduler (instead of a LocalCluster)"
    )
    parser.add_argument(
        "--time-only", action="store_true", help="time one step of every model, project, stop"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="no training: rebuild the aggregate, the figures, the READMEs' results and solvability.md",
    )
    parser.add_argument("--out", type=Path, help="directory for results/ and the PNGs (default: here)")
    args = parser.parse_args(argv)
    mode = {**AUTHORS, "window": WINDOW, **(AUTHORS_QUICK if args.quick else {})}
    for key in ("steps", "batch", "seeds"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    out = args.out or (Path(tempfile.mkdtemp(prefix="polyth-authors-")) if args.quick else HERE)
    directory, aggregate = out / "results" / "authors_protocol", out / "results" / "training_authors.json"
    tasks = ordered_tasks(
        args.models, args.semantics, mode["seeds"], mode["steps"], mode["batch"], mode["window"], ["self-2L"]
    )
    workers = args.workers if args.scheduler is None else None
    if args.report:
        measured = json.loads((directory / "timing.json").read_text())
        previous = json.loads(aggregate.read_text()) if aggregate.exists() else None
        document = authors_document(
            tasks, directory, measured["timing"], measured["projection"], workers, previous
        )
        aggregate.write_text(json.dumps(document, indent=1) + "\n")
    else:
        timing = time_steps(args.models, args.semantics, batch=mode["batch"])
        slots = args.workers or os.cpu_count()  # with --scheduler: as if the cluster had as many
        projection = {**project(timing, tasks, slots), "workers": slots}
        print_timing(timing, projection)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "timing.json").write_text(
            json.dumps({"timing": timing, "projection": projection}, indent=1) + "\n"
        )
        if args.time_only:
            return

        def write(*_):
            document = authors_document(tasks, directory, timing, projection, workers)
            aggregate.write_text(json.dumps(document, indent=1) + "\n")
            plot_authors(document, out)
            return document

        try:
            run_sweep(tasks, directory, scheduler=args.scheduler, workers=workers, on_result=write)
        finally:
            document = write()
    for path in plot_authors(document, out):
        print(f"wrote {path}")
    print(f"wrote {aggregate}")
    if args.report:
        readmes = (out / "README.md", out.parent / "README.md", out / "solvability.md")
        for path in write_reports(document, out / "results", *readmes):
            print(f"wrote {path}")
    print(section(document))


def main() -> None:
    protocol = argparse.ArgumentParser(add_help=False)
    protocol.add_argument("--protocol", choices=["polyth", "authors"], default="polyth")
    chosen, rest = protocol.parse_known_args()
    if chosen.protocol == "authors":
        authors_main(sys.argv[1:])
        return
    sys.argv[1:] = rest
    args, mode = parse_mode(__doc__.split("\n\n")[0], MODELS, FULL, QUICK, HERE, variant_arguments)
    setting = {"lr": args.lr, "attention_scale": args.attention_scale, "d_model": args.d_model}
    variant = setting != PAPER
    config = {"experiment": "compose:2, paper format" + (f", variant {setting}" if variant else "")}
    document = load_or_run(
        args,
        args.models,
        "compose:2",
        mode,
        args.out / "results" / ("training_variant.json" if variant else "training.json"),
        config,
        timing_batch=mode["batch"] if mode["mode"] == "quick" else FULL["batch"],
        lr=args.lr,
        d_model=args.d_model,
        heads=1,
        attention_scale=None if args.attention_scale == "default" else args.attention_scale,
        progress=True,
    )
    scale = {"default": "1/head_dim", "sqrt": "1/sqrt(head_dim)"}.get(
        args.attention_scale, args.attention_scale
    )
    title = (
        f"2-fold composition (n = 25, m = 12), d_model {args.d_model}, 1 head, "
        f"batch {document['config']['batch']};\nlr {args.lr:g}, scale {scale}; "
        f"mean and min–max over {document['config']['seeds']} seeds"
    )
    stem = "composition_variant" if variant else "composition"
    for path in plot_curves(document, args.out, stem, title, chance=1 / 12):
        print(f"wrote {path}")
    print_tables(document)


if __name__ == "__main__":
    main()
