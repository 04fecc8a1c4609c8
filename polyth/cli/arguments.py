"""Subcommands of the ``polyth`` command line, one module each.

A command module exposes ``register(subparsers)``: it adds its parser with
``subparsers.add_parser(name, help=...)`` and sets ``handler=<function(args) -> int>``
with ``set_defaults``. :func:`add_mechanism_argument` gives every command the same
``MECH`` argument, read with :func:`polyth.zoo.from_spec`.
"""

from __future__ import annotations

import argparse

from polyth.mechanism import zoo

MECHANISM_HELP = "a zoo name ({}) or an attention polynomial in x1 (the query), x2, … such as 'x1*x2 + x2*x3'"


def add_mechanism_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional ``MECH`` argument (a zoo spec or a polynomial string)."""
    parser.add_argument("mechanism", metavar="MECH", help=MECHANISM_HELP.format(", ".join(zoo.examples())))
