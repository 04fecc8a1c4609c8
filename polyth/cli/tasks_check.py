"""``polyth tasks check MECH TASK [--n N] [--instances K] [--B B] [--seed S] [--json]``.

Runs polyth's explicit construction for (MECH, TASK) (:func:`polyth.tasks.find`)
through ``polyth.attention`` (exact method, cpu backend) on K random instances of
size n, and reports the accuracy (the fraction of instances answered entirely
right), the entry bound B used, the heads, the embedding dimension, the entry-bound
formula and the wall time. TASK is ``compose:R``, ``match3`` or ``match2``. Where
polyth has no construction for the pair, it says so on one line with exit status 3. A
progress bar over the batches of instances runs on stderr (``--quiet``: none). Every
attention call is priced before it runs: one predicted above ``--max-memory`` (default: the
free memory) or ``--max-seconds`` is refused with exit status 4.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time

from polyth import limits
from polyth.cli.arguments import add_budget_arguments, add_mechanism_argument, budget_of, did_you_mean, say
from polyth.errors import InputError

NO_CONSTRUCTION = 3
DEFAULT_N = 64
TASK_HELP = "compose:R (r-fold function composition, n = R·m + 1), match3 or match2"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run polyth's explicit construction for a mechanism and a task; report accuracy and B",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_mechanism_argument(parser)
    parser.add_argument("task", metavar="TASK", help=TASK_HELP)
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help=f"sequence length (default: the smallest valid n ≥ {DEFAULT_N}; compose:R needs n = R·m + 1)",
    )
    parser.add_argument("--instances", type=int, default=1000, help="random instances (default 1000)")
    parser.add_argument("--B", type=float, default=None, help="entry bound (default: the construction's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instances (default 0)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_budget_arguments(parser)
    parser.set_defaults(handler=run)


def parse_task(task: str) -> tuple[str, int | None]:
    """``(task, R)``: the canonical task name and R for compose:R (else None)."""
    text = str(task).strip().lower()
    compose = re.fullmatch(r"compose:(\d+)", text)
    if compose and int(compose.group(1)) >= 1:
        return f"compose:{int(compose.group(1))}", int(compose.group(1))
    if text in ("match3", "match2"):
        return text, None
    hint = did_you_mean(text, ["match3", "match2", "compose:2", "compose:3"])
    raise InputError(f"unknown task {task!r}{hint}: use {TASK_HELP}")


def default_n(folds: int | None) -> int:
    """The smallest valid sequence length ≥ DEFAULT_N (compose:R: R·m + 1)."""
    if folds is None:
        return DEFAULT_N
    return folds * math.ceil((DEFAULT_N - 1) / folds) + 1


def run(args) -> int:
    from polyth.tasks import find, generate

    task, folds = parse_task(args.task)
    if args.instances < 1:
        raise InputError(f"--instances must be ≥ 1, got {args.instances}")
    n = default_n(folds) if args.n is None else args.n
    construction = find(args.mechanism, task)
    if construction is None:
        print(f"polyth: no construction for {args.mechanism} on {task} (exit 3)", file=sys.stderr)
        return NO_CONSTRUCTION
    domain = generate(task, n, 1, seed=0).domain  # validates n for the task
    B = construction.default_B(n, domain) if args.B is None else args.B
    start = time.perf_counter()
    with limits.budget(*budget_of(args)):  # every attention call of the run is priced against these
        score = _accuracy(construction, task, n, args.instances, B, args.seed, progress=not args.quiet)
    seconds = time.perf_counter() - start
    report = {
        "mechanism": str(construction.mechanism.polynomial),
        "spec": args.mechanism,
        "task": task,
        "accuracy": score,
        "n": n,
        "domain": domain,
        "instances": args.instances,
        "seed": args.seed,
        "B": B,
        "default_B": construction.default_B(n, domain),
        "heads": construction.heads,
        "embedding_dim": construction.embedding_dim,
        "entry_bound": construction.entry_bound,
        "scale": construction.mechanism.scale,
        "source": construction.source,
        "seconds": seconds,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    scale = "1/d" if construction.mechanism.scale is None else f"{construction.mechanism.scale:g}"
    rows = [
        (
            "mechanism",
            f"{args.mechanism}  ({construction.mechanism.text()}, scale {scale})",
        ),
        ("task", f"{task}  (domain {domain})"),
        ("accuracy", f"{score:.4f}  ({round(score * args.instances)}/{args.instances} instances)"),
        ("n", str(n)),
        (
            "B used",
            f"{B:.4g}" + ("  (default)" if args.B is None else f"  (default {report['default_B']:.4g})"),
        ),
        ("entry bound", construction.entry_bound),
        ("heads", str(construction.heads)),
        ("embedding dim", construction.embedding_dim),
        ("source", construction.source),
        ("seconds", f"{seconds:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        say(f"{label:<{width}}  {value}")
    return 0


def _accuracy(construction, task: str, n: int, instances: int, B: float, seed: int, progress: bool) -> float:
    """:func:`polyth.tasks.accuracy` (the fraction of instances solved entirely), batch by batch
    under a progress bar on stderr."""
    from tqdm import tqdm

    from polyth.tasks.constructions import instance_batches, solved

    batches = instance_batches(task, n, instances, seed)
    bar = tqdm(
        batches, desc=f"{task}, n = {n}", unit="batch", file=sys.stderr, disable=not progress, leave=False
    )
    return sum(int(solved(construction, batch, B).sum()) for batch in bar) / instances
