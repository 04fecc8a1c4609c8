"""Subcommands of the ``polyth`` command line, one module each.

A command module exposes ``register(subparsers)``: it adds its parser with
``subparsers.add_parser(name, help=...)`` and sets ``handler=<function(args) -> int>``
with ``set_defaults``. :func:`add_mechanism_argument` gives every command the same
``MECH`` argument, read with :func:`polyth.zoo.from_spec`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from polyth.errors import InputError
from polyth.mechanism import zoo

MECHANISM_HELP = "a zoo name ({}) or an attention polynomial in x1 (the query), x2, … such as 'x1*x2 + x2*x3'"


def add_mechanism_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional ``MECH`` argument (a zoo spec or a polynomial string)."""
    parser.add_argument("mechanism", metavar="MECH", help=MECHANISM_HELP.format(", ".join(zoo.examples())))


_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_size(text: str) -> int:
    """Bytes from ``8G``, ``512M``, ``1.5T`` or a plain number (binary units)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"--max-memory takes a positive size such as 8G, 512M or 1e9, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def add_budget_arguments(parser: argparse.ArgumentParser, seconds: bool = True) -> None:
    """``--max-memory SIZE`` and (unless the command has its own) ``--max-seconds S``: a call
    predicted above them is refused before it starts (exit status 4)."""
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="refuse a computation predicted to need more memory (8G, 512M, bytes; default: what is free)",
    )
    if seconds:
        parser.add_argument(
            "--max-seconds",
            type=float,
            default=None,
            metavar="S",
            help="refuse a computation predicted to take longer at this machine's measured rate",
        )


def budget_of(args) -> tuple[int | None, float | None]:
    """(max_memory in bytes, max_seconds) from the parsed budget arguments."""
    memory = None if args.max_memory is None else memory_size(args.max_memory)
    return memory, getattr(args, "max_seconds", None)


def writable_file(path: str | None, flag: str) -> None:
    """Refuse, before any long work, an output file (``flag``) whose folder is missing or not
    writable, or that names a folder."""
    if path is None:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise InputError(
            f"{flag} {path!r} is a folder; give a file name such as {path.rstrip('/')}/figure.png"
        )
    if not folder.is_dir():
        raise InputError(f"{flag} {path!r}: the folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"{flag} {path!r} cannot be written (permission denied); choose another path")
