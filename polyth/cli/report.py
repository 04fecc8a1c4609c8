"""``polyth report [--quick] [--out DIR] [--backend cpu|auto|cuda] [--quiet]``: polyth's main job.

Runs, for every mechanism of the zoo it covers, the bounds table, the runtime checks and the
approximation check on this machine, writes a self-contained Markdown report (``report.md``,
``report.json`` and PNG figures) to a results folder (default ``results/report-<date>-<time>``,
a new folder every run; a ``--out`` folder that already holds a report is refused before any
measurement), and prints where it is and a table of every check: its verdict (PASS, FAIL,
INCONCLUSIVE) and the one-line reason. Exit status 1 when a prediction is refuted (a FAIL),
else 0. ``--quick`` is a CI-sized run of tens of seconds.
"""

from __future__ import annotations

import sys

from polyth.cli.arguments import add_backend_argument
from polyth.cli.verdicts import print_verdicts

REFUTED = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="measure the zoo's predicted exponents and errors on this machine; write a report",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--quick", action="store_true", help="a CI-sized run: tiny sizes, tens of seconds on 2 cores"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="a new results folder (default results/report-…); never overwritten",
    )
    add_backend_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from polyth.verify.report import write_report

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    report = write_report(args.out, quick=args.quick, backend=args.backend, progress=not args.quiet, log=log)
    print(f"report written to {report.path} ({report.seconds:.0f} s)")
    print_verdicts([(c.mechanism, c.name, c.verdict) for c in report.checks], "polyth report: verdicts")
    return REFUTED if report.refuted else 0
