"""PNG figures of the verifications (matplotlib's Agg canvas; pyplot and its global state unused).

* :func:`runtime_figure`: log-log time against n, the measured medians (bars from the
  fastest to the slowest repeat), the fitted line ``T = c·n^α`` and a line of the
  predicted slope through the largest measured point;
* :func:`approx_figure`: measured error and predicted bound against B (log scale), with
  the threshold B* = (ln n)^{1/k} marked;
* :func:`degree_figure`: the Taylor degree needed against B for k = 2 and k = 3, with each
  threshold B* marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _save(figure: Figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def runtime_figure(results: Sequence, path: Path | str, title: str | None = None) -> Path:
    """Time against n on log-log axes for one or more :class:`RuntimeVerification` results."""
    figure = Figure(figsize=(6.0, 4.2))
    axes = figure.add_subplot()
    for colour, result in zip(_COLOURS, results):
        n = np.array(result.sizes, dtype=float)
        median = np.array([p.seconds for p in result.points])
        low = median - np.array([min(p.repeats) for p in result.points])
        high = np.array([max(p.repeats) for p in result.points]) - median
        axes.errorbar(
            n,
            median,
            yerr=[low, high],
            fmt="o",
            color=colour,
            capsize=3,
            label=f"{result.method}: measured (median of {len(result.points[0].repeats)})",
        )
        grid = np.geomspace(n.min(), n.max(), 50)
        axes.plot(
            grid,
            result.fit.predict(grid),
            "-",
            color=colour,
            label=f"fit: slope {result.measured_exponent:.2f} (R² {result.fit.r_squared:.3f})",
        )
        anchor = median[-1] / n[-1] ** result.predicted_exponent
        axes.plot(
            grid,
            anchor * grid**result.predicted_exponent,
            "--",
            color=colour,
            alpha=0.7,
            label=f"predicted slope {result.predicted_exponent:g}",
        )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("n (sequence length)")
    axes.set_ylabel("seconds")
    first = results[0]
    axes.set_title(title or f"{first.mechanism} on {first.backend}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    return _save(figure, path)


def approx_figure(checks: Sequence, path: Path | str, title: str | None = None) -> Path:
    """Measured error and predicted bound against B, with B* = (ln n)^{1/k} marked."""
    figure = Figure(figsize=(6.0, 4.2))
    axes = figure.add_subplot()
    Bs = [c.B for c in checks]
    axes.plot(Bs, [c.predicted_error for c in checks], "s--", color="tab:red", label="predicted bound")
    ran = [c for c in checks if c.measured_error is not None]
    if ran:
        floor = 1e-17  # an exact agreement is drawn at the bottom of the log axis
        axes.plot(
            [c.B for c in ran],
            [max(c.measured_error, floor) for c in ran],
            "o-",
            color="tab:blue",
            label=f"measured max (|approx − exact| / Π max|V|), n = {ran[0].n}",
        )
    threshold = checks[0].threshold
    axes.axvline(
        threshold, color="grey", linestyle=":", label=f"B* = (ln n)^(1/{checks[0].k}) = {threshold:.2f}"
    )
    axes.set_yscale("log")
    axes.set_xlabel("B (bound on every entry of Q)")
    axes.set_ylabel("output error / Π max|V|")
    axes.set_title(title or f"{checks[0].mechanism}: approximation error, eps = {checks[0].eps:g}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
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
