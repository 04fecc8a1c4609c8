"""``polyth report``: the zoo's predictions checked on this machine, written to one folder.

For every mechanism of :data:`CASES` (self-attention, path-3, star-4, Strassen, 3-tensor,
and linear and element-wise attention when the zoo has them) the report holds

1. the bounds table of :func:`polyth.bounds` (exact plan, cost, exponent, lower bounds,
   approximation threshold; with the B and eps of the approximation check);
2. the runtime verification (:func:`polyth.verify.runtime.verify_runtime`): measured
   against predicted exponent, time against predicted operation count, with a figure;
3. the approximation check (:func:`polyth.verify.approx_check.sweep_B`): measured error
   against the predicted bound over a sweep of B, degree, rank and crossover n, the
   threshold B* = (ln n)^{1/k} marked;

and one figure of the Taylor degree needed against B for k = 2 and k = 3. Every figure is
measured in the run that writes the report; the machine, its load and the versions are
recorded. ``quick=True`` gives a CI-sized run (tiny sizes, a few B).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyth.errors import InputError, NumericalError, PolyError
from polyth.mechanism import zoo
from polyth.theory.bounds import bounds
from polyth.verify import plots
from polyth.verify.approx_check import ApproxCheck, degree_curve, sweep_B, threshold_B
from polyth.verify.runtime import RuntimeVerification, verify_runtime
from polyth.version import __version__

EPS = 1e-3
APPROX_D = 2


@dataclass(frozen=True)
class Case:
    """One mechanism of the report and the methods whose runtime is verified."""

    spec: str
    title: str
    methods: tuple[str, ...] = ("exact",)
    build: Callable | None = None  # overrides zoo.from_spec(spec)
    time_factor: float = 1.0  # times the settings' cap on one run (slow-growing costs need larger n)


CASES = (
    Case("self", "Self-attention", ("exact", "approx")),
    Case("path:3", "Path-3 (tree attention)", ("exact", "naive")),
    Case("star:4", "Star-4 (tree attention)"),
    Case("strassen", "Strassen attention", time_factor=6.0),
    Case("tensor:3", "3-tensor attention"),
)
OPTIONAL_CASES = (  # (zoo attribute, case): included when polyth.zoo has the builder
    ("linear", Case("linear", "Linear attention", build=lambda: zoo.linear())),
    ("elementwise", Case("elementwise", "Element-wise attention", build=lambda: zoo.elementwise())),
)


@dataclass(frozen=True)
class Settings:
    """Sizes of a run: full (the README's main job, minutes) or quick (CI, seconds)."""

    max_seconds: float
    points: int
    repeats: int
    Bs: tuple[float, ...]
    approx_n: int
    trials: int
    degree_Bs: tuple[float, ...]
    threshold_n: int

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        if quick:
            return cls(0.02, 3, 5, (0.5, 1.5), 12, 1, (0.5, 1.0, 2.0, 3.0), 4096)
        return cls(
            1.0,
            4,
            5,
            (0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
            64,
            3,
            tuple(np.round(np.arange(0.25, 4.01, 0.25), 2)),
            4096,
        )


@dataclass
class CaseResult:
    case: Case
    mechanism_name: str = ""
    bounds_markdown: str = ""
    bounds: dict | None = None
    runtime: list[RuntimeVerification] = field(default_factory=list)
    approx: list[ApproxCheck] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def machine() -> dict:
    """The machine, its load and the versions this report was measured with."""
    import numba
    import scipy
    import sympy

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": sys.version.split()[0],
        "polyth": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sympy": sympy.__version__,
        "numba": numba.__version__,
        "git_commit": _git_commit(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def cases() -> tuple[list[Case], list[str]]:
    """The cases of this version of polyth, and the optional mechanisms it does not have yet."""
    chosen, missing = list(CASES), []
    for attribute, case in OPTIONAL_CASES:
        (chosen.append(case) if hasattr(zoo, attribute) else missing.append(case.title))
    return chosen, missing


def _mechanism(case: Case):
    return case.build() if case.build else zoo.from_spec(case.spec)


def run_case(case: Case, settings: Settings, folder: Path, backend: str, progress: bool) -> CaseResult:
    """Bounds, runtime verification and approximation check of one mechanism (figures into ``folder``)."""
    result = CaseResult(case)
    slug = case.spec.replace(":", "")
    try:
        m = _mechanism(case)
        result.mechanism_name = m.name or str(m.polynomial)
        try:
            b = bounds(m, B=1.0, eps=EPS, d=APPROX_D)
        except PolyError as exc:  # e.g. a feature-map similarity: nothing to approximate
            result.problems.append(f"approximation bounds not applicable: {exc}")
            b = bounds(m)
        result.bounds_markdown = b.markdown()
        result.bounds = b.to_dict()
    except PolyError as exc:
        result.problems.append(f"bounds not available: {exc}")
        return result
    for method in case.methods:
        try:
            result.runtime.append(
                verify_runtime(
                    m,
                    method,
                    backend=backend,
                    repeats=settings.repeats,
                    max_seconds=settings.max_seconds * case.time_factor,
                    points=settings.points,
                    progress=progress,
                    label=case.title,
                )
            )
        except (PolyError, NumericalError) as exc:
            result.problems.append(f"runtime ({method}) not run: {exc}")
    if result.runtime:
        name = f"runtime-{slug}.png"
        plots.runtime_figure(result.runtime, folder / name, title=f"{case.title}: time against n")
        result.figures["runtime"] = name
    try:
        result.approx = sweep_B(
            m,
            settings.Bs,
            EPS,
            n=settings.approx_n,
            d=APPROX_D,
            trials=settings.trials,
            backend=backend,
            label=case.title,
        )
    except (PolyError, NumericalError) as exc:
        result.problems.append(f"approximation check not run: {exc}")
    if result.approx:
        name = f"approx-{slug}.png"
        plots.approx_figure(
            result.approx, folder / name, title=f"{case.title}: approximation error, eps = {EPS:g}"
        )
        result.figures["approx"] = name
    return result


def _fmt(value, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _runtime_markdown(r: RuntimeVerification) -> list[str]:
    lines = [
        f"**{r.method}** ({r.backend}, {r.dtype}, d = {r.d}, dv = {r.dv}): predicted exponent "
        f"**{r.predicted_exponent:g}** ({r.prediction.basis}); slope of the predicted operation count "
        f"on this grid {r.grid_exponent:.2f}; measured **{r.measured_exponent:.2f}** ± {r.fit.stderr:.2f} "
        f"(R² {r.fit.r_squared:.3f}), band ±{r.band:g}: **{'PASS' if r.passed else 'FAIL'}**. "
        f"Time against operation count: {1e9 * r.count_fit.seconds_per_operation:.3g} ns per operation, "
        f"overhead {1e3 * r.count_fit.overhead_seconds:.3g} ms, R² {r.count_fit.r_squared:.3f}.",
        "",
        "| n | median ms | min–max ms | predicted operations | ns / operation | steps (median) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for p, row in zip(r.points, r.rows()):
        lines.append(
            f"| {p.n} | {row['median_ms']:.3g} | {1e3 * min(p.repeats):.3g}–{1e3 * max(p.repeats):.3g} | "
            f"{p.operations:.3e} | {row['ns_per_operation']:.3g} | {row['steps']} |"
        )
    return lines + [""]


def _approx_markdown(checks: list[ApproxCheck]) -> list[str]:
    c0 = checks[0]
    lines = [
        f"Entries of Q uniform in [−B, B], V normal; n = {c0.n}, d = {c0.d}, dv = {c0.dv}, eps = {c0.eps:g} "
        f"per factor, {c0.trials} trial(s); oracle: {c0.oracle}. Threshold B* = (ln n)^(1/{c0.k}) = "
        f"{c0.threshold:.2f}. Error = max |approx − exact| / Π max|V|.",
        "",
        "| B | B / B* | degree g | rank r | crossover n | predicted bound | measured | within bound |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        within = {True: "yes", False: "**NO**", None: "not run (rank too large)"}[c.passed]
        lines.append(
            f"| {c.B:g} | {c.B / c.threshold:.2f} | {c.degree} | {c.rank} | {_fmt(c.crossover_n, 'd')} | "
            f"{c.predicted_error:.3g} | {_fmt(c.measured_error, '.2e')} | {within} |"
        )
    return lines + [""]


def _summary_markdown(results: list[CaseResult]) -> list[str]:
    lines = [
        "| mechanism | method | predicted exponent | measured exponent | R² | verdict | sizes n |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for res in results:
        for r in res.runtime:
            lines.append(
                f"| {res.case.title} | {r.method} | {r.predicted_exponent:g} | {r.measured_exponent:.2f} | "
                f"{r.fit.r_squared:.3f} | {'PASS' if r.passed else 'FAIL'} | {', '.join(map(str, r.sizes))} |"
            )
    lines += [
        "",
        "| mechanism | B | degree | rank | predicted error bound | measured error | within bound |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        ran = [c for c in res.approx if c.measured_error is not None]
        for c in ran[-1:]:  # the largest B that ran
            lines.append(
                f"| {res.case.title} | {c.B:g} | {c.degree} | {c.rank} | {c.predicted_error:.3g} | "
                f"{c.measured_error:.2e} | {'yes' if c.passed else 'NO'} |"
            )
    return lines + [""]


def write_markdown(
    path: Path,
    info: dict,
    results: list[CaseResult],
    missing: list[str],
    degree_png: str,
    settings: Settings,
    quick: bool,
) -> None:
    lines = [
        "# polyth report" + (" (quick)" if quick else ""),
        "",
        "Every figure below was measured in the run that wrote this file. Runtime: median of "
        f"{settings.repeats} runs after a warm-up per size (numba compiles in the warm-up), fitted by "
        "least squares in log-log; the predicted exponent is the leading power of n of the algorithm that "
        "runs, with ω = 3 for matrix products (classical GEMM, what the kernels run). Exponents measured on "
        "a loaded machine or at overhead-dominated sizes deviate: check R², the load average and the "
        "slope of the operation count over the same grid.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    lines += ["", "## Summary", ""] + _summary_markdown(results)
    for res in results:
        lines += [f"## {res.case.title}: `{res.case.spec}`", ""]
        if res.bounds_markdown:
            lines += ["### Bounds", "", res.bounds_markdown, ""]
        if res.runtime:
            lines += ["### Runtime", ""]
            for r in res.runtime:
                lines += _runtime_markdown(r)
            lines += [f"![runtime]({res.figures['runtime']})", ""]
        if res.approx:
            lines += ["### Approximation error", ""] + _approx_markdown(res.approx)
            lines += [f"![approximation]({res.figures['approx']})", ""]
        for problem in res.problems:
            lines += [f"- {problem}", ""]
    lines += [
        "## Approximation threshold",
        "",
        f"The Taylor degree needed for relative error {EPS:g} on [−R, R], R = B^k (scale 1/d), against B; "
        "the rank is C(D + g, g) and the almost-linear algorithm exists only while g = o(log n), i.e. "
        "B = o((log n)^(1/k)) (Alman & Song 2023, 2024; Chakrabarti, Pitassi, Alman 2026).",
        "",
        f"![degree against B]({degree_png})",
        "",
    ]
    if missing:
        lines += ["## Not available in this version", ""] + [f"- {title}" for title in missing] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _to_json(info: dict, results: list[CaseResult], missing: list[str], curves: dict) -> dict:
    return {
        "machine": info,
        "mechanisms": [
            {
                "spec": res.case.spec,
                "title": res.case.title,
                "bounds": res.bounds,
                "runtime": [r.to_dict() for r in res.runtime],
                "approx": [c.to_dict() for c in res.approx],
                "figures": res.figures,
                "problems": res.problems,
            }
            for res in results
        ],
        "degree_curves": {str(k): {"B": list(Bs), "degree": list(g)} for k, (Bs, g) in curves.items()},
        "not_available": missing,
    }


def default_folder() -> Path:
    """results/report-<date>-<time>, with -2, -3, … appended if a report of that second exists."""
    base = Path("results") / datetime.datetime.now().strftime("report-%Y%m%d-%H%M%S")
    folder, suffix = base, 1
    while folder.exists():
        suffix += 1
        folder = base.with_name(f"{base.name}-{suffix}")
    return folder


def claim_folder(folder: Path) -> None:
    """Create ``folder`` for a new report, before any work: refused if it already holds one
    (an earlier report is never overwritten) or cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"the results folder {str(folder)!r} is a file; pass --out DIR with a new folder")
    taken = [name for name in ("report.md", "report.json") if (folder / name).exists()]
    if taken:
        raise InputError(
            f"{str(folder)!r} already holds a report ({', '.join(taken)}); polyth never overwrites one: "
            "pass --out with a new folder, or leave --out out for a new results/report-<date>-<time>"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".polyth-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"cannot create the results folder {str(folder)!r}: {exc.strerror}; pass --out DIR"
        ) from None


def write_report(
    folder: Path | str | None = None,
    quick: bool = False,
    backend: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run every case, write ``report.md``, ``report.json`` and the PNGs into ``folder``; return report.md.

    The folder is claimed before any measurement (:func:`claim_folder`): a folder that holds a
    report already is refused, and the default folder is new for every run."""
    start = time.perf_counter()
    folder = Path(folder) if folder is not None else default_folder()
    claim_folder(folder)
    settings = Settings.for_mode(quick)
    info = machine()
    info["backend"] = backend
    info["mode"] = "quick" if quick else "full"
    chosen, missing = cases()
    results = []
    for case in chosen:
        if log:
            log(f"{case.title} …")
        case_start = time.perf_counter()
        results.append(run_case(case, settings, folder, backend, progress))
        if log:
            log(f"{case.title}: done in {time.perf_counter() - case_start:.1f} s")
    curves = {
        k: (list(settings.degree_Bs), degree_curve(k, settings.degree_Bs, EPS, APPROX_D)) for k in (2, 3)
    }
    degree_png = plots.degree_figure(curves, settings.threshold_n, EPS, folder / "degree-threshold.png").name
    info["thresholds"] = {f"k={k}": round(threshold_B(settings.threshold_n, k), 3) for k in (2, 3)}
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["wall_seconds"] = round(time.perf_counter() - start, 1)
    report = folder / "report.md"
    write_markdown(report, info, results, missing, degree_png, settings, quick)
    (folder / "report.json").write_text(
        json.dumps(_to_json(info, results, missing, curves), indent=2, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    return report
