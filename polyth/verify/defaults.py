"""The settings every command shares, in one place (docs/design.md §6).

``polyth bounds``, ``polyth verify runtime``, ``polyth verify approx``, ``polyth report`` and
the notebooks take their defaults from here, so that a figure of one can be held against a
figure of another.

* ``D = 4``, the head dimension (and value width) when none is given. The approximate
  algorithm's rank is C(D + g, g) (docs/design.md §3): at D = 4 the degree g = 6 that B = 1
  and ε = 10⁻³ need is rank 210, and Strassen's r³ step over three such tables runs at n = 64 in
  about a second; at the old bounds default D = 64 the same rank is 1.3·10⁸, beyond any run.
  The exponent in n of an exact plan does not depend on D, and D = 4 > 1 keeps the feature width
  of the rank formula visible.
* ``EPS = 1e-3``, the relative error per approximated table.
* ``SWEEP_N = 64`` and ``SWEEP_B``: every B sweep of the report (measured error, degree, rank,
  crossover) runs at this n and d = D, where B* = (ln n)^{1/k} is 2.04 for k = 2 and 1.61 for
  k = 3, inside the sweep. At n = 64 the brute-force oracle reaches every zoo mechanism up to
  t = 4 variables (n^t·d ≤ 10⁸).
* ``REFERENCE_B = 1``: the approximation checks run at the fixed Taylor degree the theory picks
  for B = 1 and ε = EPS (g = 6 for a table of range R = B^k), so that the measured error rises
  with B and crosses ε near B = 1.

Example::

    >>> D, EPS, SWEEP_N, SWEEP_B[0], SWEEP_B[-1]
    (4, 0.001, 64, 0.25, 3.0)
"""

from __future__ import annotations

D = 4
EPS = 1e-3
SWEEP_N = 64
SWEEP_B = tuple(0.25 * i for i in range(1, 13))
REFERENCE_B = 1.0
# Runtime checks: timed runs per size and the pass band on the exponent.
REPEATS = 5
BAND = 0.25
# Seconds of measurement (probing included) per runtime check: full report, quick report.
BUDGET_SECONDS = 30.0
QUICK_BUDGET_SECONDS = 1.5
