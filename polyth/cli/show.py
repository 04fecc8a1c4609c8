"""``polyth show MECH [--json]``: the structure of a mechanism (``Mechanism.describe()``).

Imports only the mechanism layer (sympy, networkx), so that it starts at once.
"""

from __future__ import annotations

import json
import shutil

from polyth.cli.arguments import add_mechanism_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="print a mechanism's polynomial, variables, monomials and hypergraph",
        description="The structure of a mechanism: its polynomial, variables, options, monomials "
        "and hyperedges.",
    )
    add_mechanism_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    parser.set_defaults(handler=run)


def as_dict(m) -> dict:
    """The mechanism's structure as JSON-ready data (variables by name, coefficients exact and float)."""
    names = m.variables
    return {
        "name": m.name,
        "polynomial": str(m.polynomial),
        "variables": list(names),
        "query": m.query,
        "values": [names[a] for a in m.values],
        "t": m.t,
        "k": m.k,
        "monomials": [
            {
                "coefficient": str(mono.coefficient),
                "value": mono.value,
                "powers": {names[a]: mono.powers[a] for a in mono.support},
            }
            for mono in m.monomials
        ],
        "hyperedges": [[names[a] for a in support] for support in m.supports],
        "is_tree": m.is_tree,
        "is_connected": m.is_connected,
        "is_multilinear": m.is_multilinear,
        "in_paper_class": m.in_paper_class,
        "untied": m.untied,
        "per_channel": m.per_channel,
        "scale": m.scale,
    }


def run(args) -> int:
    from polyth.mechanism import zoo

    m = zoo.from_spec(args.mechanism)
    source = zoo.source(args.mechanism)
    if args.json:
        print(json.dumps({**as_dict(m), "source": source}, indent=2))
    else:
        print(m.describe(width=shutil.get_terminal_size().columns))
        if source:
            print(f"source      {source}")
    return 0
