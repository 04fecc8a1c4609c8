"""Verdicts: PASS, FAIL or INCONCLUSIVE, each with a one-line reason (docs/design.md §6).

A FAIL says that a prediction is refuted, so it is given only when the measurement could have
confirmed it: on a free core, above the overhead, with an interval narrower than the band.

Runtime (:func:`runtime_verdict`, on an :class:`~polyth.verify.fit.Estimate`), in this order:

1. INCONCLUSIVE when the check's threads shared their cores with other processes
   (:class:`~polyth.verify.load.Load`);
2. INCONCLUSIVE when the largest run's time above the overhead, T − a, is under 10× a;
3. INCONCLUSIVE when fewer than 3 sizes ran at least twice the overhead;
4. INCONCLUSIVE when the 95% interval of the exponent is wider than ±band;
5. PASS when the predicted exponent lies in the interval or within ±band of the measured one;
6. FAIL when the whole interval lies outside predicted ± band: refuted with confidence
   (INCONCLUSIVE in quick mode, whose sizes are chosen for seconds, not to refute);
7. INCONCLUSIVE otherwise: the interval reaches into the band, so some exponent it admits
   agrees with the prediction (on the shared 2-core machine, Strassen at n ≤ 2048 measured
   2.69 with interval 2.49–2.88 against 3 ± 0.25: lower-order n² work still weighs there).

Approximation (:func:`approx_verdict`, on a sweep of :class:`~polyth.verify.approx_check.ApproxCheck`):
FAIL when a measured error exceeds its bound by more than float64 rounding (10⁻¹²), PASS when
every finite bound held, INCONCLUSIVE when nothing with a finite bound ran. The reason gives the
adversarial error ÷ bound and says where the bound is more than 100× the worst case found.

Example::

    >>> Verdict(PASS, "measured 2.01").line()
    'PASS: measured 2.01'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
MIN_WORK_TO_OVERHEAD = 10.0
MIN_FITTED_SIZES = 3
# Differences below this are float64 rounding in the run and the oracle, not approximation error.
ROUNDOFF = 1e-12
# A bound more than this many times the worst error found is reported as not useful.
USEFUL_FACTOR = 100.0
# Ratios measured ÷ bound are quoted where the bound can be resolved above rounding.
RESOLVABLE_BOUND = 1e-10


@dataclass(frozen=True)
class Verdict:
    """A check's outcome and the one-line reason."""

    status: str
    reason: str

    @property
    def refuted(self) -> bool:
        return self.status == FAIL

    def line(self) -> str:
        return f"{self.status}: {self.reason}"

    def to_dict(self) -> dict:
        return asdict(self)


def _interval(estimate) -> str:
    low, high = estimate.interval
    return f"{estimate.exponent:.2f} (95% interval {low:.2f}–{high:.2f})"


def runtime_verdict(estimate, predicted: float, band: float, load=None, quick: bool = False, note: str = ""):
    """The verdict of a measured exponent (module docstring); ``note`` ends an overhead reason
    (e.g. that the time budget stopped the grid)."""
    if load is not None and load.shared:
        return Verdict(INCONCLUSIVE, f"the machine is busy: {load.describe()}; no core was free")
    ratio = estimate.work_to_overhead
    if ratio < MIN_WORK_TO_OVERHEAD:
        return Verdict(
            INCONCLUSIVE,
            f"overhead dominates: at n = {estimate.sizes[-1]} the work is {ratio:.2g}× the "
            f"fitted overhead of {1e3 * estimate.overhead:.3g} ms per call "
            f"(needs ≥ {MIN_WORK_TO_OVERHEAD:g}×){note}",
        )
    if not math.isfinite(estimate.exponent):
        return Verdict(
            INCONCLUSIVE,
            f"only {len(estimate.fitted_sizes)} size(s) ran at least twice the overhead; an exponent "
            f"needs {MIN_FITTED_SIZES}",
        )
    low, high = estimate.interval
    measured = f"measured {_interval(estimate)}, predicted {predicted:g} ± {band:g}"
    if not (estimate.half_width <= band):
        return Verdict(INCONCLUSIVE, f"too noisy: {measured}; the interval is wider than the band")
    if low <= predicted <= high or abs(estimate.exponent - predicted) <= band:
        return Verdict(PASS, measured)
    if quick:
        return Verdict(INCONCLUSIVE, f"{measured}; quick mode does not refute: run without --quick")
    if high < predicted - band or low > predicted + band:
        return Verdict(FAIL, f"refuted: {measured}; the whole interval is outside the band")
    return Verdict(
        INCONCLUSIVE,
        f"{measured}; the interval reaches into the band but not the prediction: neither confirmed "
        "nor refuted",
    )


def approx_verdict(checks: Sequence) -> Verdict:
    """The verdict of a sweep of approximation checks (module docstring)."""
    ran = [c for c in checks if c.measured_error is not None]
    if not ran:
        return Verdict(INCONCLUSIVE, "nothing ran: every rank is above the cap")
    bounded = [c for c in ran if math.isfinite(c.predicted_error)]
    if not bounded:
        return Verdict(INCONCLUSIVE, "no finite bound in the sweep (δ ≥ 1 at every B that ran)")
    broken = [c for c in bounded if c.measured_error > c.predicted_error + ROUNDOFF]
    if broken:
        c = broken[0]
        return Verdict(
            FAIL,
            f"refuted: at B = {c.B:g} the measured error {c.measured_error:.3g} exceeds the bound "
            f"{c.predicted_error:.3g}" + (f" (and at {len(broken) - 1} more B)" if len(broken) > 1 else ""),
        )
    reason = f"measured ≤ bound at all {len(bounded)} B with a finite bound"
    ratios = [(c.B, c.ratio) for c in bounded if c.ratio is not None]
    if ratios:
        tightest = max(ratios, key=lambda pair: pair[1])
        reason += (
            f"; adversarial ÷ bound {min(r for _, r in ratios):.2g}–{tightest[1]:.2g} "
            f"(tightest at B = {tightest[0]:g})"
        )
    loose = [B for B, r in ratios if r * USEFUL_FACTOR < 1]
    if loose:
        reason += f"; the bound is more than {USEFUL_FACTOR:g}× the worst case found at B = " + ", ".join(
            f"{B:g}" for B in loose
        )
    return Verdict(PASS, reason)
