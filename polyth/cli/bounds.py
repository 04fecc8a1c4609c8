"""``polyth bounds MECH [--B 2 --eps 1e-3 --d 4] [--causal prefix|nested] [--json]``.

Prints :func:`polyth.bounds`: the exact plan and its cost, the lower bounds that
apply, tight/gap/open, the approximation threshold, and with ``--B`` and ``--eps``
the approximate algorithm's degree, rank, error and crossover, as a table as wide as the
terminal in the notation of :mod:`polyth.mechanism.notation` (n²·(2d + 2d_v + 5), n^ω), at
the head dimension ``--d`` (default :data:`polyth.verify.defaults.D`, the one every command
shares).
"""

from __future__ import annotations

from polyth.cli.arguments import Deferred, add_causal_argument, add_mechanism_argument, console
from polyth.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bounds",
        help="exact algorithm and cost, lower bounds, approximation threshold of a mechanism",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_mechanism_argument(parser)
    parser.add_argument(
        "--B",
        type=float,
        default=None,
        help="bound on every entry of Q, for the approximate algorithm (with --eps)",
    )
    parser.add_argument(
        "--eps", type=float, default=None, help="relative error allowed per approximated factor (with --B)"
    )
    parser.add_argument(
        "--d",
        type=int,
        default=None,
        help=Deferred(lambda: f"head dimension for --B and --eps (default {_default_d()})"),
    )
    add_causal_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=run)


def table(report):
    """The report as a two-column rich table (field, value), values in terminal notation."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=report.title, show_header=False, expand=False)
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")
    for key, value in report.rows():
        out.add_row(Text(key), Text(str(value)))  # Text: brackets are not rich markup
    return out


def run(args) -> int:
    from polyth.mechanism import zoo
    from polyth.theory.bounds import bounds

    if (args.B is None) != (args.eps is None):
        raise InputError("give --B and --eps together (or neither)")
    if args.d is not None and args.B is None:
        raise InputError("--d is the head dimension of the approximate algorithm: give it with --B and --eps")
    d = _default_d() if args.d is None and args.B is not None else args.d
    report = bounds(zoo.from_spec(args.mechanism), B=args.B, eps=args.eps, causal=args.causal, d=d)
    if args.json:
        print(report.to_json())
    else:
        console().print(table(report))
    return 0


def _default_d() -> int:
    from polyth.verify.defaults import D

    return D
