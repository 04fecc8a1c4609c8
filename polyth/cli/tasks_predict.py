"""``polyth tasks predict MECH [--task TASK ...] [--json]``: which tasks can one head solve?

Prints :func:`polyth.tasks.predict.predict`: for Match2, Match3 and r-fold composition
(r ≤ 4), the answer ("yes", "no" or "unknown") derived from the mechanism's structure, with
the reason, the head count and the source of the known result that decides it.
"""

from __future__ import annotations

import json
import sys

from polyth.cli.arguments import add_mechanism_argument
from polyth.mechanism import zoo
from polyth.tasks.predict import TASKS, predict, task_label


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict from the structure which polyadic tasks one head can solve, with sources"
    )
    add_mechanism_argument(parser)
    parser.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TASK",
        help=f"only this task (repeatable): {', '.join(TASKS)}",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args) -> int:
    m = zoo.from_spec(args.mechanism)
    predictions = predict(m, tuple(args.task) if args.task else TASKS)
    if args.json:
        data = {
            "mechanism": args.mechanism,
            "polynomial": str(m.polynomial),
            "predictions": [p.to_dict() for p in predictions],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    _print_table(args.mechanism, m, predictions)
    return 0


def _print_table(spec: str, m, predictions) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"polyth tasks predict: {spec} (h = {m.polynomial}), one head", show_lines=True)
    table.add_column("task", no_wrap=True)
    table.add_column("answer", no_wrap=True)
    table.add_column("heads")
    table.add_column("reason", ratio=3)
    table.add_column("source", ratio=2)
    styles = {"yes": "bold green", "no": "bold red", "unknown": "yellow"}
    for p in predictions:
        table.add_row(
            task_label(p.task),
            f"[{styles[p.answer]}]{p.answer}[/]",
            p.heads_note or "—",
            p.reason,
            p.source or "—",
        )
    Console(file=sys.stdout, width=160).print(table)
