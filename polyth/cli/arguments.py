"""What every subcommand of the ``polyth`` command line shares.

A command module exposes ``register(subparsers)``: it adds its parser with
``subparsers.add_parser(name, help=...)`` and sets ``handler=<function(args) -> int>``
with ``set_defaults``. It imports its heavy dependencies (sympy, numba, torch, rich) inside
its handler, so that ``polyth --help`` and ``polyth show`` start at once; a help text that
needs them is a :class:`Deferred`, computed only when it is printed.

* :func:`add_mechanism_argument`: the positional ``MECH`` of every command, read with
  :func:`polyth.zoo.from_spec`; :func:`add_causal_argument` and :func:`add_backend_argument`,
  the options several commands share;
* :func:`did_you_mean`: the suggestion for a typo, from difflib;
* :func:`console` and :func:`say`: output that fits the terminal (rich measures it; 80 columns
  when the output is not a terminal, or ``COLUMNS``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from polyth.errors import InputError


class Deferred(str):
    """A help text computed when argparse prints it (argparse formats a help with ``%``).

    ``Deferred(lambda: f"one of {', '.join(MODELS)}")`` keeps the import of ``MODELS`` out of
    the start of every command.
    """

    def __new__(cls, build: Callable[[], str]):
        text = super().__new__(cls, "…")  # argparse only tests that a help is non-empty
        text._build = build
        return text

    def __mod__(self, params) -> str:
        return self._build() % params


def _mechanism_help() -> str:
    from polyth.mechanism import zoo

    return (
        f"a zoo name ({', '.join(zoo.examples())}) or an attention polynomial in x1 (the query), "
        "x2, …, quoted, such as 'x1*x2 + x2*x3'"
    ).replace("%", "%%")


def add_mechanism_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional ``MECH`` argument (a zoo spec or a polynomial string)."""
    parser.add_argument("mechanism", metavar="MECH", help=Deferred(_mechanism_help))


def add_causal_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--causal prefix|nested`` (docs/design.md §1)."""
    parser.add_argument(
        "--causal",
        choices=["prefix", "nested"],
        default=None,
        help="causal mask: prefix (every position ≤ the query's) or nested (along a tree's edges)",
    )


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend cpu|auto|cuda|cudasim`` (docs/design.md §5), default cpu."""
    parser.add_argument(
        "--backend",
        choices=["cpu", "auto", "cuda", "cudasim"],
        default="cpu",
        help="where the kernels run: cpu (numba, default), cuda (an NVIDIA GPU), auto (cuda when "
        "present, else cpu) or cudasim (the CUDA kernels simulated on the CPU; slow)",
    )


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'strassen'?)"`` for the closest of ``choices``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def console():
    """A rich console on stdout as wide as the terminal (80 columns when stdout is not one)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False)


def say(text: str = "") -> None:
    """Print ``text`` wrapped at the terminal's width (rich markup is not interpreted)."""
    console().print(text, markup=False, emoji=False)


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
