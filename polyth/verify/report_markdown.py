"""``report.md`` of ``polyth report``: the verdicts first, then how they were reached, then the
measurements of every mechanism (:func:`write_markdown`; the data comes from
:mod:`polyth.verify.report`)."""

from __future__ import annotations

import math
from pathlib import Path

from polyth.verify import fit, grid, load, verdict
from polyth.verify.adversarial import instances
from polyth.verify.approx_check import crossing_B, threshold_B


def _fmt(value, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _bound(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "none (δ ≥ 1)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def verdict_table(results) -> list[str]:
    lines = ["| mechanism | check | verdict | reason |", "|---|---|---|---|"]
    for res in results:
        for c in res.checks:
            lines.append(f"| {c.mechanism} | {c.name} | **{c.verdict.status}** | {_cell(c.verdict.reason)} |")
    return lines + [""]


METHOD = """\
**Runtime.** Each check has a time budget of {budget:g} s, and its sizes are chosen by it: n doubles
from 10⁵ predicted operations while the next probe and a grid topped there fit, then {points} sizes
n_max·2^(−j/2) are measured (n_max / 8 … n_max). Every size is run once to warm up (numba compiles
there), then {repeats} rounds run every size once, interleaved, so that a change of load hits all
sizes alike.

- *Estimator.* The time of a size is the **{statistic}** of its repeats: interference only adds
  time, so the fastest run is the least contaminated (a median is contaminated as soon as half the
  runs are). The overhead per call a comes from the free fit T = a + c·n^α, which uses no
  prediction, so that a wrong prediction cannot pull the measurement towards itself. The
  exponent α is the slope of log(T − a) against log n over the sizes with T ≥ {corrected:g}·a, and
  its {confidence:.0%} interval is the slope's t interval, which widens with the scatter of the
  minima about a power law, from noise or from a curve that is not one. Beside it, the count fit
  T = a′ + κ·N(n) against the plan's predicted operation count N gives the time per operation κ
  and, by R², how well the predicted count explains the times.
- *Verdict.* INCONCLUSIVE when the check's threads had to share a core with other processes, when
  the largest run's time above the overhead, T − a, is under {work:g}× a, when fewer than
  {fitted} sizes ran above 2a, or when the interval is wider than the band; otherwise PASS when the
  predicted exponent is in the interval or within the band of α, FAIL (refuted) when the whole
  interval lies outside the prediction ± band, and INCONCLUSIVE when the interval reaches into the
  band without holding the prediction.{quick}
- *Load.* Before a check the runnable tasks of other processes are sampled, and the check runs
  on one thread (numba and BLAS alike) unless more were asked for: parallel efficiency that
  grows with n would bend the slope. The samples continue between runs; the check is
  INCONCLUSIVE when their median plus the threads exceeds the usable cores by more than
  {slack:g}.

**Approximation.** At the fixed Taylor degree the theory picks for B = 1 and ε = {eps:g} (a
Taylor(g) mechanism: its own g), over B = {Bs} at n = {n}, d = {d}: the largest error
max |approx − exact| / Π max|V| on {trials} random instance(s) (Q uniform in [−B, B]) and on
{instances} adversarial ones (entries at ±B·{{1, ½, 0}} with aligned signs, so that every table
reaches −R), against the bound 2δ/(1 − δ). FAIL when an error exceeds its bound by more than
{roundoff:g} (float64 rounding); the ratio adversarial ÷ bound says how sharp the bound is, and a
bound more than {useful:g}× the worst case found is called out.
"""

THRESHOLD = """\
The theory's Taylor degree g for relative error {eps:g} per table, the rank C(D + g, g) and the
crossover n (from which the low-rank plan's operation count is below the exact plan's) against B,
at d = {d}, with B* = (ln n)^(1/k) at the sweep's n = {n}. The almost-linear algorithm exists only
while g = o(log n), i.e. B = o((log n)^(1/k)) (Alman & Song 2023, 2024; Chakrabarti, Pitassi,
Alman 2026).
"""


def method_text(settings) -> list[str]:
    """How the verdicts are reached: the estimator, the thresholds and why."""
    text = METHOD.format(
        budget=settings.budget,
        points=grid.GRID_POINTS,
        repeats=settings.repeats,
        statistic=fit.STATISTIC,
        corrected=fit.CORRECTED_FROM,
        confidence=fit.CONFIDENCE,
        work=verdict.MIN_WORK_TO_OVERHEAD,
        fitted=verdict.MIN_FITTED_SIZES,
        quick=" Quick mode never refutes." if settings.quick else "",
        slack=load.SHARING_SLACK,
        eps=settings.eps,
        Bs=", ".join(f"{B:g}" for B in settings.Bs),
        n=settings.n,
        d=settings.d,
        trials=settings.trials,
        instances=len(instances(settings.n)),
        roundoff=verdict.ROUNDOFF,
        useful=verdict.USEFUL_FACTOR,
    )
    return text.splitlines() + [""]


def runtime_markdown(r) -> list[str]:
    e = r.estimate
    low, high = e.interval
    g = r.grid
    grid_text = (
        f"sizes chosen by the budget ({g.stopped_by}; probes at n = {', '.join(str(n) for n, _ in g.probes)})"
        if g
        else "sizes given"
    )
    lines = [
        f"**{r.method}**: **{r.verdict.status}**, {r.verdict.reason}.",
        "",
        f"- predicted exponent {r.predicted_exponent:g}: {r.prediction.basis}; the operation count's slope "
        f"over these sizes is {r.grid_exponent:.2f}",
        f"- measured α = {_fmt(e.exponent, '.3f')}, {fit.CONFIDENCE:.0%} interval {_fmt(low, '.3f')} … "
        f"{_fmt(high, '.3f')}, over n = {', '.join(map(str, e.fitted_sizes)) or '—'}; "
        f"uncorrected log-log slope {r.fit.exponent:.3f}",
        f"- overhead a = {1e3 * e.overhead:.3g} ms per call (free fit a + c·n^α); at the largest n the "
        f"time above it is {_fmt(e.work_to_overhead, '.3g')}× a",
        f"- time against the predicted operation count, T = a′ + κ·N(n): a′ = "
        f"{1e3 * e.count.overhead_seconds:.3g} ms, κ = {1e9 * e.count.seconds_per_operation:.3g} ns per "
        f"operation, R² {e.count.r_squared:.4f}",
        f"- {grid_text}; {r.backend}, {r.dtype}, d = {r.d}, dv = {r.dv}",
        f"- conditions: {r.load.describe() if r.load else 'not recorded'}",
        "",
        "| n | fastest ms | slowest ms | predicted operations | ns / operation | steps (fastest) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for row in r.rows():
        lines.append(
            f"| {row['n']} | {row['min_ms']:.4g} | {row['max_ms']:.4g} | {row['operations']:.3e} | "
            f"{row['ns_per_operation']:.3g} | {row['steps']} |"
        )
    return lines + [""]


def approx_markdown(checks, eps: float) -> list[str]:
    c0 = checks[0]
    Bs = [c.B for c in checks]
    theory = crossing_B(Bs, [c.predicted_error for c in checks], eps)
    measured = crossing_B(Bs, [c.measured_adversarial for c in checks], eps)
    lines = [
        f"Fixed degree g = {c0.degree} (rank {c0.rank} per table); n = {c0.n}, d = {c0.d}, dv = {c0.dv}; "
        f"{c0.trials} random and {c0.instances} adversarial instance(s); oracle: {c0.oracle}. "
        f"B* = (ln n)^(1/{c0.k}) = {threshold_B(c0.n, c0.k):.2f}. The bound reaches ε = {eps:g} at "
        f"B ≈ {_fmt(theory, '.2f')}, the adversarial error at B ≈ {_fmt(measured, '.2f')}.",
        "",
        "| B | B / B* | largest R | bound | adversarial | random | adversarial ÷ bound | within |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        R = max((t["R"] for t in c.predicted["tables"]), default=0.0)
        within = {True: "yes", False: "**NO**", None: "not run"}[c.passed]
        if c.passed and not math.isfinite(c.predicted_error):
            within = "no bound to hold"
        lines.append(
            f"| {c.B:g} | {c.B / c.threshold:.2f} | {R:.3g} | {_bound(c.predicted_error)} | "
            f"{_fmt(c.measured_adversarial, '.2e')} | {_fmt(c.measured_random, '.2e')} | "
            f"{_fmt(c.ratio, '.2g')} | {within} |"
        )
    return lines + [""]


def write_markdown(path: Path, info: dict, settings, results, missing: list[str], threshold_png: str) -> None:
    lines = [
        "# polyth report" + (" (quick)" if settings.quick else ""),
        "",
        "Every figure below was measured in the run that wrote this file.",
        "",
        "## Verdicts",
        "",
        *verdict_table(results),
        "## How the verdicts are reached",
        "",
        *method_text(settings),
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    lines.append("")
    for res in results:
        lines += [f"## {res.case.title}: `{res.case.spec}`", ""]
        if res.bounds_markdown:
            lines += ["### Bounds", "", res.bounds_markdown, ""]
        if res.runtime:
            lines += ["### Runtime", ""]
            for r in res.runtime:
                lines += runtime_markdown(r)
            lines += [f"![runtime]({res.figures['runtime']})", ""]
        if res.approx:
            lines += ["### Approximation error", "", *approx_markdown(res.approx, settings.eps)]
            lines += [f"![approximation]({res.figures['approx']})", ""]
        for check in res.checks:
            if check.verdict.reason.startswith("not run"):
                lines += [f"- {check.name}: {check.verdict.line()}", ""]
        for problem in res.problems:
            lines += [f"- {problem}", ""]
    lines += [
        "## Approximation threshold",
        "",
        *THRESHOLD.format(eps=settings.eps, d=settings.d, n=settings.n).splitlines(),
        "",
        f"![degree, rank and crossover against B]({threshold_png})",
        "",
    ]
    if missing:
        lines += ["## Not available in this version", ""] + [f"- {title}" for title in missing] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
