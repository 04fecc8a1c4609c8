"""``polyth atlas build | query | summary``: the atlas of small mechanisms (docs/design.md §9).

- ``build --t 6 [--hyperedges 3] [--scheduler ADDRESS | --workers N | --serial] [--out DIR]``
  classifies every mechanism of the families up to t (:func:`polyth.atlas.build`), one Parquet
  partition per task, and prints progress with the estimated time left; a build into a folder
  that holds finished partitions computes only the others.
- ``query [--solves TASK] [--exponent X] [--gap] [--simulates MECH] [--t T] [--hyperedges E]
  [--cheapest] [--atlas DIR] [--json]`` prints the matching rows (:func:`polyth.atlas.select`).
- ``summary [--atlas DIR]`` counts the rows per family and checks "only trees are quadratic".

dask, pandas, pyarrow, sympy and rich are imported inside the handlers (``polyth --help``
starts without them).
"""

from __future__ import annotations

import json
import math

from polyth.cli.arguments import Deferred, console

DEFAULT_OUT = "atlas"
# The least width a field's column needs before a query's table turns into one record per mechanism.
COLUMN_WIDTH = 18


def _tasks_help() -> str:
    from polyth.tasks.predict import TASKS

    return f"predicted to solve TASK: {', '.join(TASKS)}"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "atlas", help="every small mechanism classified: build the atlas, query it"
    )
    inner = parser.add_subparsers(dest="atlas_command", metavar="ATLAS_COMMAND", required=True)

    make = inner.add_parser("build", help="classify every mechanism up to t variables on Dask")
    make.add_argument("--t", type=int, required=True, help="the largest number of variables")
    make.add_argument(
        "--hyperedges",
        type=int,
        choices=[2, 3],
        default=2,
        help="largest monomial degree: 2 graphs, 3 hypergraphs",
    )
    make.add_argument("--out", default=DEFAULT_OUT, help=f"the atlas folder (default ./{DEFAULT_OUT})")
    where = make.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="address of a running dask.distributed scheduler")
    where.add_argument(
        "--workers", type=int, default=1, help="worker processes of the LocalCluster (default 1)"
    )
    where.add_argument("--serial", action="store_true", help="no Dask: classify in this process")
    make.set_defaults(handler=run_build)

    ask = inner.add_parser("query", help="the mechanisms that match every filter, as a table or JSON")
    ask.add_argument("--solves", metavar="TASK", default=None, help=Deferred(_tasks_help))
    ask.add_argument(
        "--exponent", default=None, help="exact exponent: a number (at the best ω) or 'omega + 1'"
    )
    ask.add_argument("--gap", action="store_true", help="best algorithm and best lower bound differ")
    ask.add_argument("--simulates", metavar="MECH", default=None, help="simulates this mechanism")
    ask.add_argument("--t", type=int, default=None, help="only this many variables")
    ask.add_argument("--hyperedges", type=int, choices=[2, 3], default=None, help="only this largest degree")
    ask.add_argument("--cheapest", action="store_true", help="only the cheapest of the matches (ties kept)")
    ask.add_argument("--atlas", default=None, help="an atlas folder (default: the atlas shipped with polyth)")
    ask.add_argument("--limit", type=int, default=50, help="rows shown in the table (default 50; JSON: all)")
    ask.add_argument("--json", action="store_true", help="print JSON records (every column)")
    ask.set_defaults(handler=run_query)

    count = inner.add_parser("summary", help="rows per family and 'only trees are quadratic' over the atlas")
    count.add_argument(
        "--atlas", default=None, help="an atlas folder (default: the atlas shipped with polyth)"
    )
    count.add_argument("--json", action="store_true", help="print JSON")
    count.set_defaults(handler=run_summary)


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _print_progress(p) -> None:
    print(
        f"{p.partition}  {p.done}/{p.total} partitions  {p.computed_mechanisms} classified, "
        f"{p.rate:.2f}/s  elapsed {_duration(p.elapsed_s)}  left ~{_duration(p.eta_s)}",
        flush=True,
    )


def run_build(args) -> int:
    from polyth.atlas import build
    from polyth.atlas.enumeration import families

    families(args.t, args.hyperedges)  # refuses an out-of-reach t before anything starts
    where = "serial" if args.serial else args.scheduler or f"LocalCluster, {args.workers} worker(s)"
    print(f"polyth atlas build: t ≤ {args.t}, hyperedges ≤ {args.hyperedges}, into {args.out} ({where})")
    report = build(
        args.t,
        args.hyperedges,
        out=args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        serial=args.serial,
        progress=_print_progress,
    )
    print(
        f"done: {len(report.computed)} partitions computed ({report.mechanisms} mechanisms in "
        f"{_duration(report.seconds)}, {report.rate:.2f}/s), {len(report.skipped)} found finished"
    )
    return 0


def run_query(args) -> int:
    from rich.table import Table
    from rich.text import Text

    from polyth.atlas import load, select
    from polyth.atlas.columns import task_column
    from polyth.tasks.predict import normalise_task

    frame = load(args.atlas)
    found = select(
        frame,
        solves=args.solves,
        exponent=args.exponent,
        gap=args.gap,
        simulates=args.simulates,
        t=args.t,
        hyperedges=args.hyperedges,
        cheapest=args.cheapest,
    )
    if args.json:
        print(json.dumps(json.loads(found.to_json(orient="records")), indent=2, ensure_ascii=False))
        return 0
    columns = ["mechanism", "t", "exponent", "exponent_best", "lower_exponent", "lower_hypothesis", "verdict"]
    if args.solves:
        task = task_column(normalise_task(args.solves))
        columns += [f"{task}_reason", f"{task}_construction"]
    if args.simulates:
        columns.append("simulation")
    title = f"polyth atlas query: {len(found)} of {len(frame)} mechanisms"
    if len(found) > args.limit:
        title += f" (first {args.limit}; --limit or --json for more)"
    out = console()
    rows = found.head(args.limit)
    if out.width >= COLUMN_WIDTH * len(columns):
        table = Table(title=title, show_lines=True)
        for column in columns:
            table.add_column(column.replace("_", " "), overflow="fold")
        for _, row in rows.iterrows():
            table.add_row(*(Text(_cell(row[c])) for c in columns))
        out.print(table)
        return 0
    # A terminal too narrow for one column per field: one two-column table per mechanism.
    out.print(title)
    for _, row in rows.iterrows():
        table = Table(show_header=False, show_lines=True)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for column in columns:
            table.add_row(column.replace("_", " "), Text(_cell(row[column])))
        out.print(table)
    return 0


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value) or "—"


def run_summary(args) -> int:
    from rich.table import Table

    from polyth.atlas import load, theorem_check

    frame = load(args.atlas)
    families = frame.groupby(["t", "hyperedges"]).size().reset_index(name="mechanisms")
    check = theorem_check(frame)
    if args.json:
        data = {
            "mechanisms": len(frame),
            "families": json.loads(families.to_json(orient="records")),
            "only_trees_are_quadratic": json.loads(check.to_json(orient="records")),
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    out = console()
    table = Table(title=f"polyth atlas: {len(frame)} mechanisms")
    for column in ("t", "hyperedges", "mechanisms"):
        table.add_column(column, justify="right")
    for _, row in families.iterrows():
        table.add_row(*(str(row[c]) for c in ("t", "hyperedges", "mechanisms")))
    out.print(table)
    table = Table(title="only trees are quadratic [CPA26]")
    for column in check.columns:
        table.add_column(str(column))
    for _, row in check.iterrows():
        table.add_row(*(str(v) for v in row))
    out.print(table)
    return 0
