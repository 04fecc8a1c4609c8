"""PNG figures of the verifications (matplotlib's Agg canvas; pyplot and its global state unused).

* :func:`runtime_figure`: left, time against n on log-log axes (every repeat faint, the fastest
  bold), the count fit a′ + κ·N(n), the free fit a + c·n^α of the measured exponent and a line of
  the predicted slope through the largest size; right, time against the predicted operation
  count N with the count fit, the overhead a and the 11a (work 10a above it) that the verdict
  asks the largest run to reach;
* :func:`approx_figure`: measured error (adversarial and random inputs) and the predicted bound
  against B, with ε, the B where each crosses ε and B* = (ln n)^{1/k} marked;
* :func:`threshold_figure`: the theory's degree, rank and crossover n against B, B* marked;
* :func:`degree_figure`: the Taylor degree needed against B for several k.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from polyth.verify.approx_check import crossing_B, threshold_B
from polyth.verify.verdict import MIN_WORK_TO_OVERHEAD

_COLOURS = tuple(
    f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")
)


def _save(figure: Figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def runtime_figure(results: Sequence, path: Path | str, title: str | None = None) -> Path:
    """Time against n and against the predicted operation count, for :class:`RuntimeVerification` s."""
    figure = Figure(figsize=(11.0, 4.2))
    by_n, by_count = figure.subplots(1, 2)
    for colour, r in zip(_COLOURS, results):
        n = np.array(r.sizes, dtype=float)
        fastest = np.array([p.seconds for p in r.points])
        operations = np.array([p.operations for p in r.points], dtype=float)
        every = [(p.n, p.operations, t) for p in r.points for t in p.repeats]
        by_n.plot([e[0] for e in every], [e[2] for e in every], ".", color=colour, alpha=0.25)
        by_n.plot(n, fastest, "o", color=colour, label=f"{r.method}: fastest of {len(r.points[0].repeats)}")
        grid = np.geomspace(n.min(), n.max(), 50)
        overhead = r.estimate.overhead  # of the free fit a + c·n^α, which the verdict uses
        counts = [r.prediction.count(int(x)) for x in grid]
        by_n.plot(grid, r.count_fit.predict(counts), "-", color=colour, alpha=0.5, label="a′ + κ·N(n)")
        if math.isfinite(r.measured_exponent):
            scale = (fastest[-1] - overhead) / n[-1] ** r.measured_exponent
            by_n.plot(
                grid,
                overhead + scale * grid**r.measured_exponent,
                ":",
                color=colour,
                label=f"measured α = {r.measured_exponent:.2f}: a + c·n^α",
            )
        anchor = fastest[-1] / n[-1] ** r.predicted_exponent
        by_n.plot(
            grid,
            anchor * grid**r.predicted_exponent,
            "--",
            color=colour,
            alpha=0.7,
            label=f"predicted slope {r.predicted_exponent:g}",
        )
        by_count.plot([e[1] for e in every], [e[2] for e in every], ".", color=colour, alpha=0.25)
        by_count.plot(operations, fastest, "o", color=colour, label=f"{r.method}: {r.verdict.status}")
        line = np.geomspace(operations.min(), operations.max(), 50)
        by_count.plot(
            line,
            r.count_fit.predict(line),
            "-",
            color=colour,
            label=f"a′ + κ·N: a′ = {1e3 * r.count_fit.overhead_seconds:.3g} ms, "
            f"κ = {1e9 * r.count_fit.seconds_per_operation:.3g} ns/op",
        )
        if overhead > 0:
            by_count.axhline(overhead, color=colour, linestyle=":", alpha=0.6)
            by_count.axhline((1 + MIN_WORK_TO_OVERHEAD) * overhead, color=colour, linestyle="-.", alpha=0.4)
    by_n.set_xscale("log", base=2)
    by_n.set_xlabel("n (sequence length)")
    by_count.set_xscale("log")
    by_count.set_xlabel("predicted operations N(n) (dotted: overhead a of the free fit; dash-dot: 11a)")
    for axes in (by_n, by_count):
        axes.set_yscale("log")
        axes.set_ylabel("seconds")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=7)
    first = results[0]
    figure.suptitle(title or f"{first.mechanism} on {first.backend}")
    return _save(figure, path)


def approx_figure(
    checks: Sequence, path: Path | str, title: str | None = None, eps: float | None = None
) -> Path:
    """Measured errors and the predicted bound against B; ``eps``: mark where each crosses it."""
    figure = Figure(figsize=(6.4, 4.4))
    axes = figure.add_subplot()
    Bs = [c.B for c in checks]
    floor = 1e-17  # an exact agreement is drawn at the bottom of the log axis
    bounded = [c for c in checks if math.isfinite(c.predicted_error)]
    axes.plot(
        [c.B for c in bounded],
        [max(c.predicted_error, floor) for c in bounded],
        "s--",
        color="tab:red",
        label="predicted bound 2δ/(1 − δ) (absent: δ ≥ 1)",
    )
    for attribute, style, colour, name in (
        ("measured_adversarial", "o-", "tab:blue", "adversarial inputs"),
        ("measured_random", "x:", "tab:green", "random inputs"),
    ):
        ran = [c for c in checks if getattr(c, attribute) is not None]
        if ran:
            axes.plot(
                [c.B for c in ran],
                [max(getattr(c, attribute), floor) for c in ran],
                style,
                color=colour,
                label=f"measured, {name}",
            )
    first = checks[0]
    if eps is not None:
        axes.axhline(eps, color="black", linewidth=0.8, label=f"ε = {eps:g}")
        theory = crossing_B(Bs, [c.predicted_error for c in checks], eps)
        measured = crossing_B(Bs, [c.measured_adversarial for c in checks], eps)
        for B, style, name in ((theory, "--", "bound"), (measured, "-", "measured")):
            if B is not None:
                axes.axvline(
                    B,
                    color="tab:purple",
                    linestyle=style,
                    alpha=0.6,
                    label=f"{name} reaches ε at B ≈ {B:.2f}",
                )
    star = threshold_B(first.n, first.k)
    axes.axvline(star, color="grey", linestyle=":", label=f"B* = (ln {first.n})^(1/{first.k}) = {star:.2f}")
    axes.set_yscale("log")
    axes.set_xlabel("B (bound on every entry of Q)")
    axes.set_ylabel("max |approx − exact| / Π max|V|")
    fixed = f"degree g = {first.degree}" if first.eps is None else f"ε = {first.eps:g} per table"
    axes.set_title(title or f"{first.mechanism}: {fixed}, n = {first.n}, d = {first.d}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    return _save(figure, path)


def threshold_figure(curves: Mapping[str, tuple[int, list[dict]]], n: int, eps: float, d: int, path) -> Path:
    """Degree, rank and crossover n against B for each mechanism (title → (k, rows of
    :func:`~polyth.verify.approx_check.threshold_curves`)), with B* = (ln n)^{1/k} marked."""
    figure = Figure(figsize=(13.0, 4.0))
    panels = figure.subplots(1, 3)
    for colour, (name, (k, rows)) in zip(_COLOURS, curves.items()):
        Bs = [row["B"] for row in rows]
        for axes, key in zip(panels, ("degree", "rank", "crossover_n")):
            points = [(B, row[key]) for B, row in zip(Bs, rows) if row[key] is not None]
            axes.plot(*zip(*points), "o-", color=colour, markersize=3, label=f"{name} (k = {k})")
    for k, style in ((2, ":"), (3, "-.")):
        if any(k == kk for kk, _ in curves.values()):
            for axes in panels:
                axes.axvline(threshold_B(n, k), color="grey", linestyle=style, label=f"B* = (ln {n})^(1/{k})")
    for axes, label in zip(panels, ("Taylor degree g", "rank r = C(D + g, g)", "crossover n (ω = 3)")):
        axes.set_yscale("log")
        axes.set_xlabel("B (bound on every entry of Q)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
    panels[0].legend(fontsize=7)
    figure.suptitle(f"The approximation's cost against B at ε = {eps:g} per table, d = {d}; B* at n = {n}")
    return _save(figure, path)


def degree_figure(
    curves: Mapping[int, tuple[Sequence[float], Sequence[int]]],
    n: int,
    eps: float,
    path: Path | str,
) -> Path:
    """Needed Taylor degree against B for each k, thresholds B* = (ln n)^{1/k} marked."""
    figure = Figure(figsize=(6.0, 4.2))
    axes = figure.add_subplot()
    for colour, (k, (Bs, degrees)) in zip(_COLOURS, sorted(curves.items())):
        axes.plot(Bs, degrees, "o-", color=colour, label=f"k = {k}: degree g")
        threshold = np.log(n) ** (1.0 / k)
        axes.axvline(
            threshold, color=colour, linestyle=":", label=f"k = {k}: B* = (ln n)^(1/{k}) = {threshold:.2f}"
        )
    axes.set_yscale("log")
    axes.set_xlabel("B (bound on every entry of Q)")
    axes.set_ylabel("Taylor degree g for relative error eps")
    axes.set_title(f"Degree blow-up past the threshold (n = {n}, eps = {eps:g})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    return _save(figure, path)
