"""Inputs that drive the approximate algorithm's error towards its bound (docs/design.md §6).

The bound 2δ/(1 − δ) · Π max|V(a)| (docs/design.md §3) is nearly attained when tuples of
comparable total weight carry weights with very different relative errors and values of
opposite sign. The Taylor polynomial's relative error is largest at the bottom of the range,
x = −R (for even g, T_g(−R) > e^{−R}), and small at the top, so an adversary needs score tables
at −R and elsewhere, with the row counts chosen so that neither group's weight swamps the other's.

Every instance of the family (:func:`adversarial_inputs`) has entries at ±B·{1, ½, 0} with the
signs aligned along each row, so that every table sits at a multiple of its range R, and −R is
attained:

* the query variable's rows cycle through the multipliers 1, −1, ½, −½, ¾, −¾, ¼, −¼ of B (each
  query row is its own experiment against the shared keys);
* a non-query variable's first ``n_A`` rows are a·B, the others b·B, for the level pairs
  (a, b) ∈ {(−1, 1), (−1, 0), (−1, −½), (0, 1)} and n_A ∈ {1, n/4, 3n/4, 15n/16, n − 1}: the
  count ratio lets the group of lower score weigh as much as the other while e^{R·|a − b|} ≲ n;
* either every non-query variable is split this way, or only the first (the others at +B);
* the first value variable is +1 on the first group's rows and −1 on the others; other value
  variables are 1.

That is 4 · 5 · 2 = 40 instances, run as one batch. At degree 6 and n = 64 the worst of them
reaches 0.08–0.4 of the bound for every zoo mechanism while the bound is finite (measured with
this module).

Example::

    >>> from polyth.mechanism import zoo
    >>> Q, V = adversarial_inputs(zoo.self_attention(), n=64, d=2, B=1.0)
    >>> len(Q), Q[0].shape, float(abs(Q[1]).max()), sorted(set(V[2].ravel().tolist()))
    (2, (40, 64, 2), 1.0, [-1.0, 1.0])
"""

from __future__ import annotations

import itertools

import numpy as np

from polyth.mechanism import Mechanism

QUERY_MULTIPLIERS = (1.0, -1.0, 0.5, -0.5, 0.75, -0.75, 0.25, -0.25)
LEVEL_PAIRS = ((-1.0, 1.0), (-1.0, 0.0), (-1.0, -0.5), (0.0, 1.0))
SPLITS = (1 / 64, 1 / 4, 3 / 4, 15 / 16, 63 / 64)  # fractions of n in the first group
MODES = ("every", "first")


def _split(n: int, fraction: float) -> int:
    return min(n - 1, max(1, round(fraction * n)))


def instances(n: int) -> list[tuple[tuple[float, float], int, str]]:
    """The (level pair, first-group size, mode) of every instance at size ``n``."""
    return list(itertools.product(LEVEL_PAIRS, sorted({_split(n, f) for f in SPLITS}), MODES))


def adversarial_inputs(m: Mechanism, n: int, d: int, B: float, dv: int | None = None):
    """The family of the module docstring as one batch: Q[slot] of shape (b, n, d), V of (b, n, dv)."""
    dv = d if m.per_channel or dv is None else dv
    rows = np.arange(n)
    query = np.array([QUERY_MULTIPLIERS[i % len(QUERY_MULTIPLIERS)] for i in rows])
    Qs, Vs = [], []
    for (a, b), first, mode in instances(n):
        grouped = np.where(rows < first, a, b)
        sign = np.where(rows < first, 1.0, -1.0)
        per_slot = []
        for _, variable in m.input_slots:  # (monomial or None, variable); x1 is variable 0
            if variable == 0:
                multiplier = query
            elif mode == "every" or variable == 1:
                multiplier = grouped
            else:
                multiplier = np.ones(n)
            per_slot.append(np.repeat(B * multiplier[:, None], d, axis=1))
        Qs.append(per_slot)
        Vs.append(
            {
                a_ + 1: np.repeat((sign if i == 0 else np.ones(n))[:, None], dv, axis=1)
                for i, a_ in enumerate(m.values)
            }
        )
    Q = [np.stack([q[s] for q in Qs]) for s in range(len(m.input_slots))]
    V = {key: np.stack([v[key] for v in Vs]) for key in Vs[0]}
    return Q, V
