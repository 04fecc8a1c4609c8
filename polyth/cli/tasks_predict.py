"""``polyth tasks predict MECH [--task TASK ...] [--json]``: which tasks can the mechanism solve?

Prints :func:`polyth.tasks.predict.predict`: for Match2, Match3 and r-fold composition
(r ≤ 4), the answer ("yes", "no" or "unknown") derived from the mechanism's structure, with
the reason, the number of heads the deciding result uses (one head unless the row says
otherwise) and its source.
"""

from __future__ import annotations

import json

from polyth.cli.arguments import Deferred, add_mechanism_argument, console, did_you_mean
from polyth.errors import InputError


def _tasks_help() -> str:
    from polyth.tasks.predict import TASKS

    return f"only this task (repeatable): {', '.join(TASKS)}"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict from the structure which polyadic tasks the mechanism solves, with sources",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_mechanism_argument(parser)
    parser.add_argument("--task", action="append", default=None, metavar="TASK", help=Deferred(_tasks_help))
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from polyth.mechanism import zoo
    from polyth.tasks.predict import TASKS, normalise_task, predict

    for task in args.task or ():
        try:
            normalise_task(task)
        except InputError as exc:
            raise InputError(f"{exc}{did_you_mean(str(task).lower(), TASKS)}") from None
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
    _print_table(m, predictions)
    return 0


def _print_table(m, predictions) -> None:
    from rich.table import Table

    from polyth.tasks.predict import task_label

    polynomial = m.text()
    title = (
        f"polyth tasks predict: {m.name} ({polynomial})" if m.name else f"polyth tasks predict: {polynomial}"
    )
    table = Table(title=title, show_lines=True)
    table.add_column("task", no_wrap=True)
    table.add_column("answer", no_wrap=True)
    table.add_column("heads", ratio=1, overflow="fold")
    table.add_column("reason", ratio=3, overflow="fold")
    table.add_column("source", ratio=2, overflow="fold")
    styles = {"yes": "bold green", "no": "bold red", "unknown": "yellow"}
    for p in predictions:
        table.add_row(
            task_label(p.task),
            f"[{styles[p.answer]}]{p.answer}[/]",
            p.heads_note or "—",
            p.reason,
            p.source or "—",
        )
    console().print(table)
