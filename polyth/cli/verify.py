"""``polyth verify runtime|approx MECH ...``: check polyth's predictions on this machine.

``polyth verify runtime MECH [--method exact|naive|approx] [--n 256,512,...] [--budget 30]
[--backend cpu|cuda|auto] [--band 0.25] [--repeats 5] [--d 4] [--threads K] [--json] [--plot FILE]``
times the computation over sizes chosen by a time budget (or given), keeps the fastest of the
repeats, fits T = a + κ·N(n) against the predicted operation count and the overhead-corrected
exponent with a 95% interval, and prints the verdict (PASS, FAIL, INCONCLUSIVE) with its reason
(docs/design.md §6). With ``--n`` the largest size is priced before any run: above the free
memory (or ``--max-memory``), or above ``--max-seconds`` when given, it is refused with exit
status 4.

``polyth verify approx MECH --B 0.5,1,2 (--eps 1e-3 | --degree 6) [--n 64] [--d 4] [--json]
[--plot FILE]`` measures the largest error of ``method="approx"`` on random and adversarial
inputs with entries in [−B, B] against the predicted bound, for each B (degree, rank, crossover
n, measured ÷ bound, B* = (ln n)^{1/k}).

Both exit with status 1 only when a prediction is refuted (a FAIL); an INCONCLUSIVE exits 0.
"""

from __future__ import annotations

import json

from polyth import limits
from polyth.cli.arguments import (
    Deferred,
    add_backend_argument,
    add_budget_arguments,
    add_causal_argument,
    add_mechanism_argument,
    budget_of,
    console,
    say,
    writable_file,
)
from polyth.cli.verdicts import print_verdicts
from polyth.errors import InputError

REFUTED = 1


def _numbers(text: str, kind, what: str) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what} must be a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise InputError(f"{what} must list at least one number, got {text!r}")
    return values


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check predicted runtime exponents and approximation errors by measurement",
        description=__doc__.split("\n\n")[0],
    )
    checks = parser.add_subparsers(dest="check", metavar="CHECK", required=True)

    runtime = checks.add_parser(
        "runtime",
        help="measured against predicted runtime exponent",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_mechanism_argument(runtime)
    runtime.add_argument(
        "--method",
        choices=["exact", "naive", "approx"],
        default="exact",
        help="the algorithm to time: exact (the plan, default), naive (every tuple) or approx "
        "(the low-rank plan of the polynomial method)",
    )
    runtime.add_argument(
        "--n", default=None, help="comma-separated sizes, e.g. 256,512,1024 (default: chosen by --budget)"
    )
    runtime.add_argument(
        "--budget",
        type=float,
        default=None,
        help=Deferred(
            lambda: f"seconds of measurement that choose the sizes (default {_defaults().BUDGET_SECONDS:g})"
        ),
    )
    add_backend_argument(runtime)
    add_causal_argument(runtime)
    runtime.add_argument(
        "--band",
        type=float,
        default=None,
        help=Deferred(lambda: f"pass band on the fitted exponent (default {_defaults().BAND:g})"),
    )
    runtime.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=Deferred(lambda: f"timed runs per size, at least 5 (default {_defaults().REPEATS})"),
    )
    runtime.add_argument(
        "--d", type=int, default=None, help=Deferred(lambda: f"head dimension (default {_defaults().D})")
    )
    runtime.add_argument("--dv", type=int, default=None, help="value width d_v (default: --d)")
    runtime.add_argument(
        "--B", type=float, default=None, help="approx: bound on the entries of Q (default 1)"
    )
    runtime.add_argument(
        "--eps",
        type=float,
        default=None,
        help=Deferred(lambda: f"approx: relative error per table (default {_defaults().EPS:g})"),
    )
    runtime.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads to run with (default 1: a slope measured on one thread)",
    )
    runtime.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="refuse sizes --n whose largest run is predicted to take longer (exit status 4)",
    )
    add_budget_arguments(runtime, seconds=False)
    _common(runtime)
    runtime.set_defaults(handler=run_runtime)

    approx = checks.add_parser(
        "approx",
        help="measured approximation error against the predicted bound",
        description=__doc__.split("\n\n")[2].replace("\n", " "),
    )
    add_mechanism_argument(approx)
    approx.add_argument("--B", required=True, help="entry bound(s) of Q, comma-separated, e.g. 0.5,1,2")
    degree = approx.add_mutually_exclusive_group(required=True)
    degree.add_argument("--eps", type=float, help="relative error per table, in (0, 0.5): the degree follows")
    degree.add_argument("--degree", type=int, help="a fixed Taylor degree for every table")
    approx.add_argument(
        "--n",
        type=int,
        default=None,
        help=Deferred(lambda: f"sequence length (default {_defaults().SWEEP_N})"),
    )
    approx.add_argument(
        "--d", type=int, default=None, help=Deferred(lambda: f"head dimension (default {_defaults().D})")
    )
    approx.add_argument("--dv", type=int, default=None, help="value width d_v (default: --d)")
    approx.add_argument("--trials", type=int, default=3, help="random instances per B (default 3)")
    add_causal_argument(approx)
    add_backend_argument(approx)
    add_budget_arguments(approx)
    _common(approx)
    approx.set_defaults(handler=run_approx)


def _defaults():
    """polyth.verify.defaults, imported when a command needs it (not at the CLI's start)."""
    from polyth.verify import defaults

    return defaults


def _common(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", default=None, metavar="FILE", help="also write a PNG figure to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def run_runtime(args) -> int:
    from polyth.mechanism import zoo
    from polyth.verify import plots
    from polyth.verify.runtime import verify_runtime

    defaults = _defaults()
    writable_file(args.plot, "--plot")
    m = zoo.from_spec(args.mechanism)
    sizes = _numbers(args.n, int, "--n") if args.n else None
    result = verify_runtime(
        m,
        args.method,
        sizes=sizes,
        d=args.d,
        dv=args.dv,
        backend=args.backend,
        causal=args.causal,
        repeats=defaults.REPEATS if args.repeats is None else args.repeats,
        band=defaults.BAND if args.band is None else args.band,
        B=args.B,
        eps=args.eps,
        budget=defaults.BUDGET_SECONDS if args.budget is None else args.budget,
        threads=args.threads,
        progress=not args.quiet,
        label=args.mechanism,
        max_seconds=args.max_seconds,
        max_memory=budget_of(args)[0],
    )
    if args.plot:
        plots.runtime_figure([result], args.plot)
    if args.json:
        print(result.to_json())
    else:
        _print_runtime(result)
        if args.plot:
            print(f"plot: {args.plot}")
    return REFUTED if result.verdict.refuted else 0


def _print_runtime(result) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"polyth verify runtime: {result.mechanism} ({result.method}, {result.backend})")
    for column in ("n", "fastest ms", "slowest ms", "predicted operations", "ns / op", "steps (fastest)"):
        table.add_column(column, justify="left" if column.startswith("steps") else "right", overflow="fold")
    for row in result.rows():
        table.add_row(
            str(row["n"]),
            f"{row['min_ms']:.4g}",
            f"{row['max_ms']:.4g}",
            f"{row['operations']:.3e}",
            f"{row['ns_per_operation']:.3g}",
            Text(row["steps"]),
        )
    console().print(table)
    say(f"predicted: {result.prediction.basis}")
    say(result.summary())


def run_approx(args) -> int:
    from polyth.mechanism import zoo
    from polyth.verify import plots
    from polyth.verify.approx_check import sweep_B
    from polyth.verify.verdict import approx_verdict

    defaults = _defaults()
    writable_file(args.plot, "--plot")
    m = zoo.from_spec(args.mechanism)
    Bs = _numbers(args.B, float, "--B")
    with limits.budget(*budget_of(args)):  # every attention and oracle call is priced against these
        checks = sweep_B(
            m,
            Bs,
            args.eps,
            degree=args.degree,
            n=defaults.SWEEP_N if args.n is None else args.n,
            d=defaults.D if args.d is None else args.d,
            dv=args.dv,
            trials=args.trials,
            causal=args.causal,
            backend=args.backend,
            label=args.mechanism,
        )
    verdict = approx_verdict(checks)
    if args.plot:
        plots.approx_figure(checks, args.plot, eps=args.eps)
    if args.json:
        print(
            json.dumps(
                {"verdict": verdict.to_dict(), "checks": [c.to_dict() for c in checks]},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_approx(checks)
        print_verdicts([(args.mechanism, "approximation", verdict)], "polyth verify approx: verdict")
        if args.plot:
            print(f"plot: {args.plot}")
    return REFUTED if verdict.refuted else 0


def _print_approx(checks) -> None:
    from rich import box
    from rich.table import Table

    first = checks[0]
    fixed = f"degree {first.degree}" if first.eps is None else f"ε = {first.eps:g}"
    table = Table(
        title=f"polyth verify approx: {first.mechanism} (n = {first.n}, d = {first.d}, {fixed}, "
        f"B* = (ln n)^(1/{first.k}) = {first.threshold:.3g})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("B", "g", "r", "ran g/r", "n₀", "bound", "adv.", "random", "adv÷bound"):
        # never "…": headers keep their width, numbers fold rather than lose digits
        table.add_column(column, justify="right", overflow="fold", min_width=len(column))
    for c in checks:
        table.add_row(
            f"{c.B:g}",
            str(c.degree),
            str(c.rank),
            "—" if c.executed is None else f"{c.executed['degree']}/{c.executed['rank']}",
            "never" if c.crossover_n is None else str(c.crossover_n),
            f"{c.predicted_error:.2e}",
            "not run" if c.measured_adversarial is None else f"{c.measured_adversarial:.2e}",
            "not run" if c.measured_random is None else f"{c.measured_random:.2e}",
            "—" if c.ratio is None else f"{c.ratio:.2g}",
        )
    console().print(table)
    say(
        "g: Taylor degree, r: rank, ran: what the executor ran, n₀: crossover n, adv.: adversarial; "
        f"error = max |approx − exact| / Π max|V| over {first.trials} random and {first.instances} "
        f"adversarial instance(s); oracle: {first.oracle}"
    )
