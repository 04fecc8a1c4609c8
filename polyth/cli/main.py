"""The ``polyth`` command line: ``polyth <command> ...``.

Each command lives in its own module of :mod:`polyth.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). Adding a command is one entry
in :data:`COMMANDS`.

Errors a user causes (a bad mechanism spec, bad options) print one line
``polyth: error: <message>`` on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from polyth.cli import atlas, bounds, demo, report, show, tasks, verify
from polyth.errors import NumericalError
from polyth.version import __version__

COMMANDS = [show, bounds, demo, verify, report, tasks, atlas]

USAGE_ERROR = 2
NUMERICAL_FAILURE = 1


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"polyth: error: {_one_line(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module in :data:`COMMANDS`."""
    parser = OneLineErrorParser(
        prog="polyth",
        description="Complexity and expressivity of attention mechanisms (poly-attention).",
    )
    parser.add_argument("--version", action="version", version=f"polyth {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version and usage errors
        return done.code if isinstance(done.code, int) else 0
    try:
        return args.handler(args)
    except NumericalError as exc:
        print(f"polyth: error: {_one_line(exc)}", file=sys.stderr)
        return NUMERICAL_FAILURE
    except ValueError as exc:  # PolyError and InputError are ValueErrors
        print(f"polyth: error: {_one_line(exc)}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
