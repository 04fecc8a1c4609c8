"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``).

Ratios are taken between timings of the same run; a warm-up call absorbs JIT compilation.
"""

from __future__ import annotations

import statistics
import time


def run_times(fn, repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn, repeats: int = 5) -> float:
    return statistics.median(run_times(fn, repeats))


def best_time(fn, repeats: int = 5) -> float:
    """The fastest run: robust to other load on a shared machine."""
    return min(run_times(fn, repeats))


def plot_decode_per_token(path, series: dict, window: int = 64) -> None:
    """Per-token decoding time (µs, moving mean of ``window`` tokens) of each labelled series."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    smooth = np.ones(window) / window
    for label, seconds in series.items():
        ax.semilogy(np.convolve(seconds, smooth, "valid") * 1e6, label=label)
    ax.set_xlabel("token position")
    ax.set_ylabel(f"µs per token (moving mean of {window})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
