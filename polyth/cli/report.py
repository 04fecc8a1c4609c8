"""``polyth report [--quick] [--out DIR] [--backend cpu|auto|cuda] [--quiet]``: polyth's main job.

Runs, for every mechanism of the zoo it covers, the bounds table, the runtime verification
and the approximation check on this machine, and writes a self-contained Markdown report
(``report.md``, ``report.json`` and PNG figures) to a results folder
(default ``results/report-<date>-<time>``, a new folder every run), then prints where it
is. A ``--out`` folder that already holds a report is refused before any measurement: a
report is never overwritten. ``--quick`` is a CI-sized run of tens of seconds.
"""

from __future__ import annotations

import sys
import time

from polyth.cli.arguments import add_backend_argument


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

    start = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    report = write_report(args.out, quick=args.quick, backend=args.backend, progress=not args.quiet, log=log)
    print(f"report written to {report} ({time.perf_counter() - start:.0f} s)")
    return 0
