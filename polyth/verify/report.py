"""``polyth report``: the zoo's predictions checked on this machine, written to one folder.

For every mechanism of :data:`CASES` (self-attention, path-3, star-4, Strassen, 3-tensor,
and linear and element-wise attention when the zoo has them) the report holds

1. the bounds table of :func:`polyth.bounds` at B = 1, ε = 10⁻³, d = D;
2. each runtime check (:func:`polyth.verify.runtime.verify_runtime`): sizes chosen by a time
   budget, the fastest of the repeats, the count fit T = a + κ·N(n), the overhead-corrected
   exponent with its 95% interval, the load it ran under, and a figure of time against n and
   against the predicted operation count;
3. the approximation check (:func:`polyth.verify.approx_check.sweep_B`) at the fixed degree the
   theory picks for B = 1: measured error on random and adversarial inputs against the bound
   over the B sweep, measured ÷ bound, where the error crosses ε;
4. the theory's degree, rank and crossover n against B (for ε), B* = (ln n)^{1/k} marked.

Every B sweep runs at one n and d (:mod:`polyth.verify.defaults`). Each check ends in a
verdict (:mod:`polyth.verify.verdict`): :class:`Report` lists them, and ``polyth report``
prints them and exits with status 1 when a prediction is refuted. A check the computation
refuses (a :class:`polyth.PolyError`, e.g. a budget gate) is INCONCLUSIVE with the refusal as
its reason. ``quick=True`` gives a CI-sized run (tiny sizes, a few B), which never refutes a
runtime prediction.
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
from polyth.verify import defaults, plots
from polyth.verify.approx_check import ApproxCheck, exp_form, reference_degree, sweep_B, threshold_curves
from polyth.verify.load import load_average, usable_cpus
from polyth.verify.report_markdown import write_markdown
from polyth.verify.runtime import RuntimeVerification, verify_runtime
from polyth.verify.verdict import INCONCLUSIVE, Verdict, approx_verdict
from polyth.version import __version__


@dataclass(frozen=True)
class Case:
    """One mechanism of the report and the methods whose runtime is verified."""

    spec: str
    title: str
    methods: tuple[str, ...] = ("exact",)
    build: Callable | None = None  # overrides zoo.from_spec(spec)


CASES = (
    Case("self", "Self-attention", ("exact", "approx")),
    Case("path:3", "Path-3 (tree attention)", ("exact", "naive")),
    Case("star:4", "Star-4 (tree attention)"),
    Case("strassen", "Strassen attention"),
    Case("tensor:3", "3-tensor attention"),
)
OPTIONAL_CASES = (  # (zoo attribute, case): included when polyth.zoo has the builder
    ("linear", Case("linear", "Linear attention", build=lambda: zoo.linear())),
    ("elementwise", Case("elementwise", "Element-wise attention", build=lambda: zoo.elementwise())),
)


@dataclass(frozen=True)
class Settings:
    """Sizes of a run: full (the README's main job, minutes) or quick (CI, seconds)."""

    budget: float  # seconds per runtime check
    repeats: int
    Bs: tuple[float, ...]
    n: int  # of every B sweep
    d: int
    trials: int
    eps: float
    quick: bool

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        d, eps, repeats = defaults.D, defaults.EPS, defaults.REPEATS
        if quick:
            return cls(defaults.QUICK_BUDGET_SECONDS, repeats, (0.5, 1.0, 1.5), 16, d, 1, eps, quick=True)
        return cls(
            defaults.BUDGET_SECONDS, repeats, defaults.SWEEP_B, defaults.SWEEP_N, d, 3, eps, quick=False
        )


@dataclass(frozen=True)
class Check:
    """One line of the summary: which check, of which mechanism, and its verdict."""

    mechanism: str
    name: str
    verdict: Verdict

    def to_dict(self) -> dict:
        return {"mechanism": self.mechanism, "check": self.name, "verdict": self.verdict.status,
                "reason": self.verdict.reason}  # fmt: skip


@dataclass
class CaseResult:
    case: Case
    bounds_markdown: str = ""
    bounds: dict | None = None
    runtime: list[RuntimeVerification] = field(default_factory=list)
    approx: list[ApproxCheck] = field(default_factory=list)
    k: int | None = None  # the mechanism's total degree
    degree: int | None = None  # the fixed degree of the approximation check
    curves: list[dict] = field(default_factory=list)  # the theory's degree, rank, crossover against B
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """The written report: where it is and every check's verdict."""

    path: Path
    checks: tuple[Check, ...]
    seconds: float

    @property
    def refuted(self) -> bool:
        return any(c.verdict.refuted for c in self.checks)


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
        "usable_cpus": usable_cpus(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": sys.version.split()[0],
        "polyth": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sympy": sympy.__version__,
        "numba": numba.__version__,
        "git_commit": _git_commit(),
    }
    average = load_average()
    if average:
        info["load_average_at_start"] = list(average)
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


def _not_run(result: CaseResult, name: str, exc: Exception) -> None:
    """A check the computation refused (a budget gate, a numerical refusal): INCONCLUSIVE, with why."""
    result.checks.append(Check(result.case.title, name, Verdict(INCONCLUSIVE, f"not run: {exc}")))


def run_case(case: Case, settings: Settings, folder: Path, backend: str, progress: bool) -> CaseResult:
    """Bounds, runtime checks and the approximation check of one mechanism (figures into ``folder``)."""
    result = CaseResult(case)
    slug = case.spec.replace(":", "")
    try:
        m = _mechanism(case)
        result.k = m.k
        try:
            b = bounds(m, B=defaults.REFERENCE_B, eps=settings.eps, d=settings.d)
        except PolyError:  # a feature-map similarity: nothing to approximate (said below)
            b = bounds(m)
        result.bounds_markdown = b.markdown()
        result.bounds = b.to_dict()
    except PolyError as exc:
        result.problems.append(f"bounds not available: {exc}")
        return result
    for method in case.methods:
        name = f"runtime, {method}"
        try:
            r = verify_runtime(
                m,
                method,
                d=settings.d,
                backend=backend,
                repeats=settings.repeats,
                budget=settings.budget,
                progress=progress,
                label=case.title,
                quick=settings.quick,
            )
        except (PolyError, NumericalError) as exc:
            _not_run(result, name, exc)
            continue
        result.runtime.append(r)
        result.checks.append(Check(case.title, name, r.verdict))
    if result.runtime:
        result.figures["runtime"] = f"runtime-{slug}.png"
        plots.runtime_figure(result.runtime, folder / result.figures["runtime"], title=case.title)
    try:
        exp_form(m)
    except InputError as exc:
        result.problems.append(f"approximation check not applicable: {exc}")
        return result
    try:
        result.degree = reference_degree(m, settings.d)
        result.curves = threshold_curves(m, settings.Bs, settings.eps, settings.d)
        result.approx = sweep_B(
            m,
            settings.Bs,
            degree=result.degree,
            n=settings.n,
            d=settings.d,
            trials=settings.trials,
            backend=backend,
            label=case.title,
        )
    except (PolyError, NumericalError) as exc:
        _not_run(result, "approximation", exc)
        return result
    result.checks.append(
        Check(case.title, f"approximation, degree {result.degree}", approx_verdict(result.approx))
    )
    result.figures["approx"] = f"approx-{slug}.png"
    plots.approx_figure(
        result.approx,
        folder / result.figures["approx"],
        title=f"{case.title}: fixed degree g = {result.degree}, n = {settings.n}, d = {settings.d}",
        eps=settings.eps,
    )
    return result


def _to_json(info: dict, settings: Settings, results: list[CaseResult], missing: list[str]) -> dict:
    return {
        "machine": info,
        "settings": {
            "budget_seconds": settings.budget,
            "repeats": settings.repeats,
            "sweep": {"n": settings.n, "d": settings.d, "B": list(settings.Bs), "eps": settings.eps},
            "quick": settings.quick,
        },
        "checks": [c.to_dict() for res in results for c in res.checks],
        "mechanisms": [
            {
                "spec": res.case.spec,
                "title": res.case.title,
                "bounds": res.bounds,
                "runtime": [r.to_dict() for r in res.runtime],
                "approx_degree": res.degree,
                "approx": [c.to_dict() for c in res.approx],
                "threshold_curves": res.curves,
                "figures": res.figures,
                "problems": res.problems,
            }
            for res in results
        ],
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
) -> Report:
    """Run every case, write ``report.md``, ``report.json`` and the PNGs into ``folder``.

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
    curves = {res.case.title: (res.k, res.curves) for res in results if res.curves}
    threshold_png = plots.threshold_figure(
        curves, settings.n, settings.eps, settings.d, folder / "threshold.png"
    )
    average = load_average()
    if average:
        info["load_average_at_end"] = list(average)
    info["wall_seconds"] = round(time.perf_counter() - start, 1)
    report = folder / "report.md"
    write_markdown(report, info, settings, results, missing, threshold_png.name)
    (folder / "report.json").write_text(
        json.dumps(_to_json(info, settings, results, missing), indent=2, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    checks = tuple(c for res in results for c in res.checks)
    return Report(report, checks, time.perf_counter() - start)
