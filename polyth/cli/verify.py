"""``polyth verify runtime|approx MECH ...``: check polyth's predictions on this machine.

``polyth verify runtime MECH [--method exact|naive|approx] [--n 256,512,...] [--backend cpu|cuda|auto]
[--band 0.25] [--repeats 5] [--d 32] [--json] [--plot FILE]`` times the computation over a
geometric grid of n (median of ≥ 5 runs after a warm-up), fits log time against log n and
time against the predicted operation count, and compares the fitted exponent with the
predicted one (ω = 3 for matrix products: what the kernels run). Exit status 1 when the
measured exponent is outside the band. With ``--n`` the largest size is priced before any
run: above the free memory (or ``--max-memory``), or above ``--max-seconds`` when given, it
is refused with exit status 4.

``polyth verify approx MECH --B 1,2 --eps 1e-3 [--n 64] [--d 2] [--json] [--plot FILE]``
measures the largest error of ``method="approx"`` over random inputs with entries in
[−B, B] against the predicted bound, for each B (degree, rank, crossover n, threshold
B* = (ln n)^(1/k)). Exit status 1 when a measured error exceeds its bound.
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
from polyth.errors import InputError

FAILED = 1


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
        "--n",
        default=None,
        help="comma-separated sizes, e.g. 256,512,1024 (default: a doubling grid chosen "
        "to fit --max-seconds)",
    )
    add_backend_argument(runtime)
    add_causal_argument(runtime)
    runtime.add_argument(
        "--band",
        type=float,
        default=None,
        help=Deferred(lambda: f"pass band on the fitted exponent (default {_default_band()})"),
    )
    runtime.add_argument("--repeats", type=int, default=5, help="timed runs per size, at least 5 (default 5)")
    runtime.add_argument("--d", type=int, default=None, help="head dimension (default 32; approx: 4)")
    runtime.add_argument("--dv", type=int, default=None, help="value width d_v (default: --d)")
    runtime.add_argument(
        "--B", type=float, default=None, help="approx: bound on the entries of Q (default 1)"
    )
    runtime.add_argument(
        "--eps", type=float, default=None, help="approx: relative error per factor (default 1e-3)"
    )
    runtime.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="longest single run: of the default grid (0.5 s), or predicted for --n (refused above it)",
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
    approx.add_argument("--eps", type=float, required=True, help="relative error per factor, in (0, 0.5)")
    approx.add_argument("--n", type=int, default=64, help="sequence length (default 64)")
    approx.add_argument("--d", type=int, default=2, help="head dimension (default 2: ranks stay small)")
    approx.add_argument("--dv", type=int, default=2, help="value width d_v (default 2)")
    approx.add_argument("--trials", type=int, default=3, help="random instances per B (default 3)")
    add_causal_argument(approx)
    add_backend_argument(approx)
    add_budget_arguments(approx)
    _common(approx)
    approx.set_defaults(handler=run_approx)


def _default_band() -> float:
    from polyth.verify.fit import DEFAULT_BAND

    return DEFAULT_BAND


def _common(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", default=None, metavar="FILE", help="also write a PNG figure to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def run_runtime(args) -> int:
    from polyth.mechanism import zoo
    from polyth.verify import plots
    from polyth.verify.runtime import verify_runtime

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
        repeats=args.repeats,
        band=_default_band() if args.band is None else args.band,
        B=args.B,
        eps=args.eps,
        max_seconds=args.max_seconds,
        progress=not args.quiet,
        label=args.mechanism,
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
    return 0 if result.passed else FAILED


def _print_runtime(result) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"polyth verify runtime: {result.mechanism} ({result.method}, {result.backend})")
    for column in ("n", "median ms", "predicted operations", "ns / op", "steps (median)"):
        table.add_column(column, justify="left" if column.startswith("steps") else "right")
    for row in result.rows():
        table.add_row(
            str(row["n"]),
            f"{row['median_ms']:.4g}",
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

    writable_file(args.plot, "--plot")
    m = zoo.from_spec(args.mechanism)
    Bs = _numbers(args.B, float, "--B")
    with limits.budget(*budget_of(args)):  # every attention and oracle call is priced against these
        checks = sweep_B(
            m,
            Bs,
            args.eps,
            n=args.n,
            d=args.d,
            dv=args.dv,
            trials=args.trials,
            causal=args.causal,
            backend=args.backend,
            label=args.mechanism,
        )
    if args.plot:
        plots.approx_figure(checks, args.plot)
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2, ensure_ascii=False))
    else:
        _print_approx(checks)
        if args.plot:
            print(f"plot: {args.plot}")
    return FAILED if any(c.passed is False for c in checks) else 0


def _print_approx(checks) -> None:
    from rich.table import Table

    first = checks[0]
    table = Table(
        title=f"polyth verify approx: {first.mechanism} (n = {first.n}, d = {first.d}, ε = {first.eps:g}, "
        f"B* = (ln n)^(1/{first.k}) = {first.threshold:.3g})"
    )
    for column in (
        "B",
        "degree",
        "rank",
        "ran g / r",
        "crossover n",
        "predicted bound",
        "measured",
        "within",
    ):
        table.add_column(column, justify="right")
    for c in checks:
        table.add_row(
            f"{c.B:g}",
            str(c.degree),
            str(c.rank),
            "—" if c.executed is None else f"{c.executed['degree']} / {c.executed['rank']}",
            "never" if c.crossover_n is None else str(c.crossover_n),
            f"{c.predicted_error:.3g}",
            "not run" if c.measured_error is None else f"{c.measured_error:.2e}",
            {True: "yes", False: "NO", None: "rank too large"}[c.passed],
        )
    console().print(table)
    say(f"error = max |approx − exact| / Π max|V| over {first.trials} trial(s); oracle: {first.oracle}")
