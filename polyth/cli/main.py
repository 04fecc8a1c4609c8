"""The ``polyth`` command line: ``polyth <command> ...``.

Each command lives in its own module of :mod:`polyth.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). Adding a command is one entry
in :data:`COMMANDS`.

Every error prints one line ``polyth: error: <message>`` on stderr, never a traceback, and
exits with a status that says what happened (:func:`main`): 2 bad input, 3 not available
(a GPU, the torch extra, a construction), 4 refused by budget, 1 a numerical failure (or, by
the command, a failed check), 70 a bug in polyth. A mistyped command, option or choice gets a
"did you mean"; a library message that names a Python keyword argument (``causal="prefix"``)
is reworded with the command's flag (``--causal prefix``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from polyth.cli import bounds, demo, report, show, tasks, verify
from polyth.cli.arguments import did_you_mean
from polyth.errors import BudgetError, NotAvailableError, NumericalError
from polyth.version import __version__

COMMANDS = [show, bounds, demo, verify, report, tasks]

USAGE_ERROR = 2
NOT_AVAILABLE = 3
REFUSED_BY_BUDGET = 4
NUMERICAL_FAILURE = 1
INTERNAL_ERROR = 70  # EX_SOFTWARE of sysexits.h
INTERRUPTED = 130

EXAMPLES = """\
examples:
  polyth show strassen                 Strassen attention x1·x2 + x2·x3 + x3·x1
  polyth show 'x1*x2 + x2*x3 + x2*x4'  any polynomial in x1 (the query), x2, …
  polyth bounds path:4                 exact algorithm, cost and lower bounds
  polyth bounds self --B 1 --eps 1e-3  … and the approximate algorithm
  polyth verify runtime path:3         runtime exponent, measured vs predicted
  polyth tasks predict strassen        which polyadic tasks it can solve
  polyth report --quick                the main job, CI-sized: see results/

MECH is a zoo name or a quoted polynomial ('polyth show --help' lists the zoo);
'polyth COMMAND --help' shows a command's options.
"""


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<word>[^']*)' \(choose from (?P<choices>.*)\)")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<words>.*)")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2,
    with a "did you mean" for a mistyped command, choice or option."""

    def error(self, message: str):
        message = _one_line(message) + self._suggestion(message)
        self.exit(USAGE_ERROR, f"polyth: error: {message} (see '{self.prog} --help')\n")

    def _suggestion(self, message: str) -> str:
        choice = _INVALID_CHOICE.search(message)
        if choice:
            choices = [c.strip().strip("'") for c in choice["choices"].split(",")]
            return did_you_mean(choice["word"], choices)
        unknown = _UNRECOGNIZED.search(message)
        if unknown:
            word = unknown["words"].split()[0].split("=")[0]
            return did_you_mean(word, _flags(self)) if word.startswith("-") else ""
        return ""


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings of ``parser`` and of its subcommands (argparse reports an unknown option of
    a subcommand from the top-level parser)."""
    flags = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _flags(sub)
    return flags


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module in :data:`COMMANDS`."""
    parser = OneLineErrorParser(
        prog="polyth",
        description="Complexity and expressivity of attention mechanisms (poly-attention).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"polyth {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


# A parameter named in prose: "eps (the relative error ...)", "B and eps do not apply", "drop B",
# "repeats must be ...", "pass a larger B". Only these patterns, so that a word such as "task" in
# "unknown task" or "B" in "B = 1" is left alone.
_PARAMETER_AFTER = r"(?=\s\(|\smust\b|\sand\s|\sdo not\b|\sor\s|$)"
_PARAMETER_BEFORE = (
    "(?:" + "|".join(rf"(?<=\b{word} )" for word in ("drop", "and", "give", "larger", "smaller")) + ")"
)


def as_flags(message: str, args: argparse.Namespace, flags: set[str]) -> str:
    """``message`` with the Python parameters of this command written as its flags (``flags``):
    ``causal="prefix"`` becomes ``--causal prefix``, ``B=2`` becomes ``--B 2``, and "drop B and eps"
    becomes "drop --B and --eps"."""
    for dest in vars(args):
        flag = "--" + dest.replace("_", "-")
        if flag not in flags:
            continue
        name = re.escape(dest)
        message = re.sub(rf"(?<![\w-]){name}=(['\"]?)([^\s'\",;)]*)\1", rf"{flag} \2", message)
        message = re.sub(rf"(?<![\w-]){name}\b{_PARAMETER_AFTER}|{_PARAMETER_BEFORE}{name}\b", flag, message)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version and usage errors
        return done.code if isinstance(done.code, int) else 0

    def fail(message: object, status: int) -> int:
        print(f"polyth: error: {as_flags(_one_line(message), args, _flags(parser))}", file=sys.stderr)
        return status

    try:
        return args.handler(args)
    except BudgetError as exc:
        return fail(exc.cli_message, REFUSED_BY_BUDGET)
    except NotAvailableError as exc:
        return fail(exc, NOT_AVAILABLE)
    except NumericalError as exc:
        return fail(exc, NUMERICAL_FAILURE)
    except ValueError as exc:  # PolyError and InputError are ValueErrors
        return fail(exc, USAGE_ERROR)
    except MemoryError as exc:
        return fail(f"out of memory ({exc or 'no detail'}); use a smaller --n or retry", REFUSED_BY_BUDGET)
    except KeyboardInterrupt:
        return fail("interrupted", INTERRUPTED)
    except Exception as exc:  # a bug: still one line, with what to report
        return fail(
            f"internal error {type(exc).__name__}: {exc}; please report it with the command", INTERNAL_ERROR
        )


if __name__ == "__main__":
    sys.exit(main())
