"""The ``polyth`` command line: ``polyth <command> ...``.

Each command lives in its own module of :mod:`polyth.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). Adding a command is one entry
in :data:`COMMANDS`.

Every error prints one line ``polyth: error: <message>`` on stderr, never a traceback, and
exits with a status that says what happened (:func:`main`): 2 bad input, 3 not available
(a GPU, the torch extra, a construction), 4 refused by budget, 1 a numerical failure (or, by
the command, a failed check), 70 a bug in polyth.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from polyth.cli import bounds, demo, report, show, tasks, verify
from polyth.errors import BudgetError, NotAvailableError, NumericalError
from polyth.version import __version__

COMMANDS = [show, bounds, demo, verify, report, tasks]

USAGE_ERROR = 2
NOT_AVAILABLE = 3
REFUSED_BY_BUDGET = 4
NUMERICAL_FAILURE = 1
INTERNAL_ERROR = 70  # EX_SOFTWARE of sysexits.h
INTERRUPTED = 130


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
    except BudgetError as exc:
        return _fail(exc.cli_message, REFUSED_BY_BUDGET)
    except NotAvailableError as exc:
        return _fail(exc, NOT_AVAILABLE)
    except NumericalError as exc:
        return _fail(exc, NUMERICAL_FAILURE)
    except ValueError as exc:  # PolyError and InputError are ValueErrors
        return _fail(exc, USAGE_ERROR)
    except MemoryError as exc:
        return _fail(f"out of memory ({exc or 'no detail'}); use a smaller --n or retry", REFUSED_BY_BUDGET)
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)
    except Exception as exc:  # a bug: still one line, with what to report
        return _fail(
            f"internal error {type(exc).__name__}: {exc}; please report it with the command", INTERNAL_ERROR
        )


def _fail(message: object, status: int) -> int:
    print(f"polyth: error: {_one_line(message)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
