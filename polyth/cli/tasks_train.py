"""``polyth tasks train MODEL TASK``: train a small transformer on a polyadic task over several seeds.

Prints each seed's final held-out accuracy, the first step at which held-out accuracy
reached 99%, the operations (FLOPs) and the median wall-clock per training step, then the
mean ± standard deviation over seeds (:func:`polyth.tasks.training.train`). ``--json``
prints the runs in the schema of ``papers/poly-attention/results/training.json``; ``--out``
writes that JSON to a file. A tqdm progress bar runs on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

from polyth.cli.arguments import Deferred, did_you_mean, say, writable_file
from polyth.errors import InputError


def _models_help() -> str:
    from polyth.tasks.training import MODELS

    return f"one of {', '.join(MODELS)}"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a one- or two-layer model on a task (compose:R, match3, match2) over several seeds",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("model", metavar="MODEL", help=Deferred(_models_help))
    parser.add_argument(
        "task", metavar="TASK", help="compose:R (the paper's format, domain 12), match3 or match2"
    )
    parser.add_argument("--steps", type=int, default=1000, help="Adam steps per seed (default 1000)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds 0 … K−1 (default 1)")
    parser.add_argument("--batch", type=int, default=1024, help="fresh examples per step (default 1024)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--d-model", type=int, default=8, help="model width (default 8)")
    parser.add_argument("--heads", type=int, default=1, help="attention heads (default 1)")
    parser.add_argument("--n", type=int, default=None, help="sequence length (default: the task's own)")
    parser.add_argument("--eval-every", type=int, default=None, help="steps between held-out evaluations")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's setting)")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")
    parser.add_argument("--out", type=Path, default=None, help="also write the runs as JSON to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from polyth.tasks.training import MODELS, summarise, task_spec, train

    if args.model not in MODELS:
        hint = did_you_mean(args.model, MODELS)
        raise InputError(f"unknown model {args.model!r}{hint}: choose one of {', '.join(MODELS)}")

    if args.seeds < 1:
        raise InputError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.out is not None:  # checked before training, not after
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {str(args.out)!r}: cannot create its folder ({exc.strerror})") from None
        writable_file(str(args.out), "--out")
    task = task_spec(args.task, n=args.n)
    runs = [
        train(
            args.model,
            task,
            args.steps,
            seed=seed,
            batch=args.batch,
            lr=args.lr,
            d_model=args.d_model,
            heads=args.heads,
            eval_every=args.eval_every,
            progress=not args.no_progress,
            threads=args.threads,
        )
        for seed in range(args.seeds)
    ]
    summary = summarise(runs)
    document = {"runs": [r.to_dict() for r in runs], "summary": [summary], "config": runs[0].config}
    if args.out is not None:
        args.out.write_text(json.dumps(document, indent=1) + "\n")
    if args.json:
        print(json.dumps(document, indent=1))
        return 0
    config = runs[0].config
    say(
        f"{args.model} on {task.name} (n = {task.n}, domain {task.domain}, {task.fmt} format): "
        f"{args.steps} steps of batch {args.batch}, d_model {args.d_model}, {args.heads} head(s), "
        f"{config['parameters']} parameters"
    )
    say(f"{'seed':>4}  {'final acc':>9}  {'step to 99%':>11}  {'s/step':>8}")
    for r in runs:
        reached = r.steps_to(0.99)
        say(
            f"{r.seed:>4}  {r.final_accuracy:>9.4f}  {reached if reached is not None else '-':>11}  "
            f"{r.seconds_per_step:>8.4f}"
        )
    say(
        f"final accuracy {summary['final_accuracy_mean']:.4f} ± {summary['final_accuracy_sd']:.4f} "
        f"(min {summary['final_accuracy_min']:.4f}, max {summary['final_accuracy_max']:.4f}); "
        f"{summary['solved_seeds']}/{len(runs)} seeds ≥ 0.99"
    )
    say(
        f"operations per step {summary['flops_per_step']:.4g} (3 × batch × forward; attention "
        f"{config['attention_operations_per_example']} of "
        f"{config['forward_operations_per_example']} per example); "
        f"median {summary['seconds_per_step_median'] * 1e3:.1f} ms per step"
    )
    return 0
