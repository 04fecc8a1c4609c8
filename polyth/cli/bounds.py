"""``polyth bounds MECH [--B 2 --eps 1e-3 --d 4] [--causal prefix|nested] [--json]``.

Prints :func:`polyth.bounds`: the exact plan and its cost, the lower bounds that
apply, tight/gap/open, the approximation threshold, and with ``--B`` and ``--eps``
the approximate algorithm's degree, rank, error and crossover, at the head dimension ``--d``
(default :data:`polyth.verify.defaults.D`, the one every command shares).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from polyth.cli.arguments import add_mechanism_argument
from polyth.mechanism import zoo
from polyth.theory.bounds import Bounds, bounds
from polyth.verify.defaults import D


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bounds", help="exact algorithm and cost, lower bounds, approximation threshold of a mechanism"
    )
    add_mechanism_argument(parser)
    parser.add_argument("--B", type=float, default=None, help="bound on every entry of Q (with --eps)")
    parser.add_argument("--eps", type=float, default=None, help="relative error per factor (with --B)")
    parser.add_argument("--d", type=int, default=None, help=f"head dimension for --B/--eps (default {D})")
    parser.add_argument("--causal", choices=["prefix", "nested"], default=None, help="causal mask")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=run)


def table(report: Bounds) -> Table:
    """The report as a two-column rich table (field, value)."""
    out = Table(title=report.title, show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for key, value in report.rows():
        out.add_row(Text(key), Text(value))  # Text: brackets are not rich markup
    return out


def run(args) -> int:
    d = D if args.d is None and args.B is not None else args.d
    report = bounds(zoo.from_spec(args.mechanism), B=args.B, eps=args.eps, causal=args.causal, d=d)
    if args.json:
        print(report.to_json())
    else:
        Console(width=120).print(table(report))
    return 0
