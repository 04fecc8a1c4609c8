"""Shared driver of the learning experiments (train_composition.py, train_match3.py).

Runs every (model, seed) pair with :func:`polyth.tasks.training.train`, writes the JSON after
each run (a partial study survives an interruption), and draws the curves: the mean over
seeds with a min–max band, against training steps and against training operations (FLOPs:
multiply-adds + exps from the cost engine, 3 × forward; see polyth.tasks.training).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from polyth.tasks.training import summarise, time_training_step, train

PER_MODEL = (
    "layers",
    "eval_every",
    "parameters",
    "forward_operations_per_example",
    "attention_operations_per_example",
    "attention_scale",
)
COLOURS = {
    "tree-1L": "tab:green",
    "self-1L": "tab:blue",
    "self-2L": "tab:cyan",
    "self-torch-1L": "tab:gray",
    "self-torch-2L": "tab:olive",
    "strassen-1L": "tab:red",
    "tensor3-1L": "tab:purple",
}


def parse_mode(
    description: str, models: list[str], full: dict, quick: dict, default_out: Path, add_arguments=None
):
    """The command line shared by the scripts: --quick, overrides of the mode, --models, --out.

    A mode holds ``seeds``, ``batch`` and either ``steps`` (every model trains that many
    steps) or ``flop_budget`` (each model trains for the steps that spend that many
    operations: equal training compute; ``steps`` None). --quick writes to a temporary
    directory unless --out is given, so it never overwrites the committed results.
    ``add_arguments(parser)`` adds a script's own options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figures from the written JSON")
    parser.add_argument("--steps", type=int, help="train every model this many steps (no FLOP budget)")
    parser.add_argument("--flop-budget", type=float, help="train each model for this many operations")
    parser.add_argument("--seeds", type=int, help="override the mode's number of seeds")
    parser.add_argument("--batch", type=int, help="override the mode's batch size")
    parser.add_argument("--models", nargs="+", default=models, help=f"models (default {' '.join(models)})")
    parser.add_argument(
        "--out", type=Path, help="directory for results/ and the PNGs (default: here; --quick: a temp dir)"
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="polyth-quick-")) if args.quick else default_out
    mode = dict(quick if args.quick else full)
    for key in ("seeds", "batch", "steps", "flop_budget"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    if args.steps is not None:
        mode["flop_budget"] = None
    elif args.flop_budget is not None:
        mode["steps"] = None
    if (mode["steps"] is None) == (mode.get("flop_budget") is None):
        parser.error("give either --steps or --flop-budget")
    mode["mode"] = (
        "quick" if args.quick else ("full" if mode == full else "reduced (overrides of the full mode)")
    )
    return args, mode


def steps_per_model(mode: dict, timing: list[dict]) -> dict[str, int]:
    """Each model's steps: the mode's ``steps``, or the steps that spend its ``flop_budget`` at its batch."""
    steps = {}
    for row in timing:
        if mode["steps"] is not None:
            steps[row["model"]] = mode["steps"]
        else:
            per_step = 3 * mode["batch"] * row["forward_operations_per_example"]
            steps[row["model"]] = max(1, round(mode["flop_budget"] / per_step))
    return steps


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def load_or_run(args, *study, **options) -> dict:
    """The results document: read back from ``study``'s JSON path with --plot-only, else :func:`run_study`."""
    if args.plot_only:
        return json.loads(Path(study[3]).read_text())
    return run_study(*study, **options)


def run_study(models, task, mode: dict, out_json: Path, config: dict, timing_batch: int, **options):
    """Time one training step of every model at ``timing_batch`` (one table, one process), then
    train every model on every seed (:func:`steps_per_model`); keep writing the document."""
    timing = []
    for name in models:
        measured = time_training_step(
            name,
            task,
            timing_batch,
            options["d_model"],
            options["heads"],
            repeats=3,
            attention_scale=options.get("attention_scale"),
        )
        timing.append(asdict(measured))
        print(f"{name}: {measured.seconds * 1e3:.1f} ms per step at batch {timing_batch}", flush=True)
    steps = steps_per_model(mode, timing)
    seeds = mode["seeds"]
    print("steps per model:", steps, flush=True)
    runs, started = [], time.time()
    document = {}
    for name in models:
        for seed in range(seeds):
            run = train(name, task, steps[name], seed=seed, batch=mode["batch"], **options)
            runs.append(run)
            by_model = {
                m: [r for r in runs if r.model == m] for m in models if any(r.model == m for r in runs)
            }
            document = {
                "runs": [r.to_dict() for r in runs],
                "summary": [summarise(group) for group in by_model.values()],
                "timing": timing,
                "config": {
                    **{k: v for k, v in run.config.items() if k not in PER_MODEL},
                    **config,
                    **mode,
                    "steps": steps,
                    "models": list(models),
                },
                "machine": machine(),
                "date": time.strftime("%Y-%m-%d"),
                "wall_seconds": round(time.time() - started, 1),
            }
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(document, indent=1) + "\n")
            print(
                f"{name} seed {seed}: final accuracy {run.final_accuracy:.4f}, "
                f"{run.seconds_per_step * 1e3:.1f} ms/step, steps to 99%: {run.steps_to(0.99)}",
                flush=True,
            )
    return document


def print_tables(document: dict) -> None:
    """The final accuracies and the per-step wall-clock, as Markdown tables."""
    print("| model | final accuracy (mean ± sd) | min–max | seeds ≥ 99% | steps to 99% |")
    print("|---|---|---|---|---|")
    for s in document["summary"]:
        reached = ", ".join("–" if x is None else str(x) for x in s["steps_to_99"])
        print(
            f"| {s['model']} | {s['final_accuracy_mean']:.4f} ± {s['final_accuracy_sd']:.4f} | "
            f"{s['final_accuracy_min']:.4f}–{s['final_accuracy_max']:.4f} | "
            f"{s['solved_seeds']}/{len(s['seeds'])} | {reached} |"
        )
    print()
    batch = document["timing"][0]["batch"]
    header = ["model", f"ms per training step (batch {batch})", "operations per step"]
    print("| " + " | ".join([*header, "attention ops per example", "parameters"]) + " |")
    print("|---|---|---|---|---|")
    for row in document["timing"]:
        print(
            f"| {row['model']} | {row['seconds'] * 1e3:.1f} | {row['flops_per_step']:.3g} | "
            f"{row['attention_operations_per_example']} | {row['parameters']} |"
        )


def plot_curves(
    document: dict, out_dir: Path, stem: str, title: str, chance: float | None = None, chance_label="chance"
) -> list[Path]:
    """Held-out accuracy (mean, min–max band over seeds) against steps and against FLOPs;
    ``chance``: the accuracy of a constant guess, drawn as a dotted line."""
    from matplotlib.figure import Figure

    paths = []
    for axis, label, log in (
        ("steps", "training steps", False),
        ("flops", "training operations (FLOPs)", True),
    ):
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for name in document["config"]["models"]:
            group = [r for r in document["runs"] if r["model"] == name]
            if not group:
                continue
            accuracy = np.array([r["accuracy"] for r in group])
            x = np.array(group[0][axis], dtype=float)
            colour = COLOURS.get(name)
            ax.plot(x, accuracy.mean(0), color=colour, label=f"{name} ({len(group)} seeds)")
            ax.fill_between(x, accuracy.min(0), accuracy.max(0), color=colour, alpha=0.2, linewidth=0)
        if chance is not None:
            ax.axhline(chance, color="black", linestyle=":", linewidth=1, label=chance_label)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{stem}_accuracy_vs_{axis}.png"
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths


# ----------------------------------------------------------------- the authors' protocol

AUTHORS_STYLE = {  # src/figure1.py: red, green, blue and these labels
    "tree-1L": ("red", "Tree-attention"),
    "self-1L": ("green", "1-layer self-attention"),
    "self-2L": ("blue", "2-layer self-attention"),
}
SEMANTICS_TITLE = {
    "authors": "the authors' code: tree values x1, x3, scale 1/(2√d), clamp ±20; self 1/√d",
    "definition-2.2": "Definition 2.2: tree values x2, x3, scale 1/d; self 1/d",
}
AXES = {
    "steps": ("Epochs (training steps, one fresh batch each)", False),
    "seconds": ("training wall-clock (s; one torch thread, niced, on a shared machine)", False),
    "flops": ("training operations (FLOPs: cost engine, 3 × forward)", True),
}


def authors_document(
    tasks, directory: Path, timing: list[dict], projection: dict, workers, previous: dict | None = None
) -> dict:
    """Every finished run of ``tasks`` in ``directory`` with the summary, the timing and what is
    pending; an unfinished run's curves come from its checkpoint, or, where the checkpoint is
    gone, from the ``previous`` document's entry for it. Each carries ``steps_total``."""
    from polyth.tasks.authors_model import ARCHITECTURES
    from polyth.tasks.authors_protocol import MECHANISM_SPEC, progress_of, summarise_runs
    from polyth.tasks.sweep import checkpoint_path, finished_result

    found = {t: finished_result(directory, t) for t in tasks}
    runs = [r for r in found.values() if r is not None]
    pending = [t for t, r in found.items() if r is None]
    earlier = {(r["model"], r["semantics"], r["seed"]): r for r in (previous or {}).get("in_progress", [])}
    in_progress = []
    for t in pending:
        run = progress_of(checkpoint_path(directory, t))
        if run is None and (t.model, t.semantics, t.seed) in earlier:  # written before it named these
            mechanism = MECHANISM_SPEC[ARCHITECTURES[t.model][0]]
            run = {"mechanism": mechanism, "task": "compose:2", **earlier[(t.model, t.semantics, t.seed)]}
        if run is not None:
            in_progress.append({**run, "steps_total": t.steps})
    first = tasks[0]
    return {
        "runs": runs,
        "summary": summarise_runs(runs),
        "pending": [t.key for t in pending],
        "in_progress": in_progress,
        "timing": timing,
        "projection": projection,
        "config": {
            "protocol": "authors (sayaksc/tree_attention_simple, commit 0f9f6727)",
            "task": "compose:2",
            "n": 25,
            "domain": 12,
            "steps": first.steps,
            "batch": first.batch,
            "window": first.window,
            "models": list(dict.fromkeys(t.model for t in tasks)),
            "semantics": list(dict.fromkeys(t.semantics for t in tasks)),
            "seeds": list(dict.fromkeys(t.seed for t in tasks)),
            "workers": workers,
            "per_task_results": str(directory.name),
        },
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def plot_authors(document: dict, out_dir: Path, stem: str = "composition_authors") -> list[Path]:
    """figure1.py's plot (accuracy against steps, red/green/blue, legend lower right) with every
    seed drawn (the first seed thick, the others thin; dashed: a run still in progress, up to
    its last checkpoint), one panel per semantics; also against wall-clock and FLOPs."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    config = document["config"]
    first_seed, semantics = config["seeds"][0], config["semantics"]
    curves = document["runs"] + document.get("in_progress", [])
    paths = []
    for axis, (label, log) in AXES.items():
        fig = Figure(figsize=(7 * len(semantics), 5.5))
        for ax, s in zip(fig.subplots(1, len(semantics), squeeze=False)[0], semantics):
            handles = []
            for model, (colour, name) in AUTHORS_STYLE.items():
                mine = [r for r in curves if r["semantics"] == s and r["model"] == model]
                for run in mine:
                    thick = run["seed"] == first_seed
                    ax.plot(
                        run[axis],
                        run["accuracy"],
                        color=colour,
                        linestyle="--" if run.get("partial") else "-",
                        linewidth=2 if thick else 0.8,
                        alpha=1 if thick else 0.6,
                    )
                if mine:
                    seeds = ", ".join(
                        f"{r['seed']}" + (f" (to step {r['steps_done']})" if r.get("partial") else "")
                        for r in sorted(mine, key=lambda r: r["seed"])
                    )
                    handles.append(
                        Line2D([0], [0], color=colour, linewidth=2, label=f"{name}: seeds {seeds}")
                    )
            if not handles:
                ax.text(0.5, 0.5, "no run started yet", transform=ax.transAxes, ha="center", color="gray")
            if axis == "steps":
                ax.set_xlim(0, config["steps"] * 1.02)  # an unfinished run against the whole run
            ax.axhline(1 / 12, color="black", linestyle=":", linewidth=1)
            handles.append(Line2D([0], [0], color="black", linestyle=":", label="chance 1/12"))
            if log:
                ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(
                f"Accuracy (mean over {config['window']} steps of fresh batches of {config['batch']})"
            )
            ax.set_ylim(0, 1.02)
            ax.set_title(f"Accuracy vs {axis}: {SEMANTICS_TITLE[s]}", fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.legend(handles=handles, loc="lower right", fontsize=7)
        fig.suptitle(
            f"2-fold composition, n = 25, the authors' protocol: thick line seed {first_seed}, "
            "thin lines the other seeds, dashed: in progress",
            fontsize=10,
        )
        fig.tight_layout()
        path = out_dir / f"{stem}_accuracy_vs_{axis}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


def print_timing(timing: list[dict], projection: dict) -> None:
    print(
        "| model | semantics | wall-clock per step (median) | min–max | CPU per step (median) "
        "| FLOPs per step |"
    )
    print("|---|---|---|---|---|---|")
    for row in timing:
        print(
            f"| {row['model']} | {row['semantics']} | {row['seconds'] * 1e3:.1f} ms | "
            f"{row['seconds_min'] * 1e3:.1f}–{row['seconds_max'] * 1e3:.1f} ms "
            f"| {row['cpu_seconds'] * 1e3:.1f} ms | {row['flops_per_step']:.3g} |"
        )
    print(
        f"load average {timing[0]['load_average_start']} → {timing[0]['load_average_end']}; projected: "
        f"{projection['tasks']} runs, {projection['cpu_hours']:.1f} CPU-hours; on {projection['workers']} "
        f"worker(s) {projection['wall_hours']:.1f} h at this load, {projection['wall_hours_idle']:.1f} h "
        "with a core each",
        flush=True,
    )
