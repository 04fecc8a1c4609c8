"""``polyth bounds MECH [--B 2 --eps 1e-3 --d 64] [--causal prefix|nested] [--json]``.

Prints :func:`polyth.bounds`: the exact plan and its cost, the lower bounds that
apply, tight/gap/open, the approximation threshold, and with ``--B`` and ``--eps``
the approximate algorithm's degree, rank, error and crossover.
"""

from __future__ import annotations

from polyth.cli.arguments import add_mechanism_argument
from polyth.mechanism import zoo
from polyth.theory.bounds import bounds


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bounds", help="exact algorithm and cost, lower bounds, approximation threshold of a mechanism"
    )
    add_mechanism_argument(parser)
    parser.add_argument("--B", type=float, default=None, help="bound on every entry of Q (with --eps)")
    parser.add_argument("--eps", type=float, default=None, help="relative error per factor (with --B)")
    parser.add_argument("--d", type=int, default=None, help="head dimension for --B/--eps (default 64)")
    parser.add_argument("--causal", choices=["prefix", "nested"], default=None, help="causal mask")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args) -> int:
    report = bounds(zoo.from_spec(args.mechanism), B=args.B, eps=args.eps, causal=args.causal, d=args.d)
    print(report.to_json() if args.json else str(report), end="" if not args.json else "\n")
    return 0
