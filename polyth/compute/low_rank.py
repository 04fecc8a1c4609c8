"""``method="approx"``: the low-rank plan of the theory's :class:`Approximation`, executed.

The theory (:func:`polyth.theory.approximation.approximate`) fixes, for every score table S of
support ≥ 2, the Taylor degree g_S and so its rank r_S = C(D_S + g_S, g_S), and gives the
low-rank plan that eliminates token variables (size n) and rank variables ρ_S (size r_S).
This module runs exactly that plan; it derives no degree, range or rank of its own.

Features. The table L_S = Σ_D Π_{a∈S} F_a[l_a, D] (:mod:`polyth.compute.tables`) has the
degree-g Taylor polynomial

    exp(L_S) ≈ Σ_{|α| ≤ g} Π_{a∈S} φ_{S,a}[l_a, α],   φ_{S,first}[l, α] = F^α / α!,  φ_{S,a} = F^α

(:mod:`polyth_kernels.features`; Alman & Song 2023, 2024; Chakrabarti, Pitassi, Alman 2026):
the plan's ``features`` factors Φ_a(l_a, ρ_S). Tables on one variable stay exact (their
exponential, shifted by its maximum). Values carry a ones column whose sum is the normaliser.

Steps. Every factor is a dense array over its scope (batch axis first, the channel last when
it carries one), in the linear domain: Taylor features can be negative, so there is no log.
Each plan step multiplies the factors holding the eliminated variable b and sums l_b out:

* ``contraction``: one einsum over the step's inputs (BLAS underneath);
* ``matmul``: the product of each operand group, then one (batched) matrix product over b;
* ``prefix_sum``: the product of the other inputs, then a cumulative sum along b read at the
  threshold's partner p (``[l_b ≤ l_p]``; reversed for ``[l_p ≤ l_b]``): no n × n mask;
* ``normalize``: the channel factors left on the query, multiplied, divided by the ones column.

A threshold factor inside a contraction or matmul enters as a 0/1 matrix, as the plan prices
it (its loop visits n² pairs). After every step the message is divided by its largest
magnitude per batch entry, a positive constant that cancels in the final ratio, so no
product of many messages overflows.

Example::

    >>> import numpy as np, polyth
    >>> from polyth.mechanism import zoo
    >>> rng = np.random.default_rng(0)
    >>> Q = [rng.uniform(-1, 1, (16, 2)) for _ in range(3)]
    >>> V = {2: rng.standard_normal((16, 2)), 3: rng.standard_normal((16, 2))}
    >>> run = polyth.attention(zoo.path(3), Q, V, method="approx", B=1, eps=1e-3, return_timings=True)
    >>> [(t["degree"], t["rank"]) for t in run.tables]
    [(6, 28), (6, 28)]
"""

from __future__ import annotations

import functools
import math
import string
import time
import warnings

import numpy as np

import polyth_kernels
from polyth.compute.inputs import Inputs, fold_channels, unfold_channels
from polyth.compute.records import StepRecord
from polyth.compute.tables import support_tables
from polyth.errors import AccuracyWarning, InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.theory.approximation import Approximation, approximate
from polyth.theory.plan import Plan, written_form

_BATCH, _CHANNEL = "Z", "Y"
_LETTERS = string.ascii_letters.replace(_BATCH, "").replace(_CHANNEL, "")


class _Dense:
    """A live factor: ``X`` of shape (b, *sizes of ``scope``, [C]) in the linear domain, or a
    threshold ``pair`` (child, parent), [l_child ≤ l_parent], materialised only where a step
    multiplies it in."""

    __slots__ = ("scope", "X", "channel", "pair")

    def __init__(self, scope: tuple[int, ...], X: np.ndarray | None, channel: bool, pair=None):
        self.scope, self.X, self.channel, self.pair = tuple(scope), X, channel, pair

    def subscript(self) -> str:
        return _BATCH + "".join(_LETTERS[v] for v in self.scope) + (_CHANNEL if self.channel else "")


def entry_bound(inputs: Inputs, B: float | None, degree: int | None = None) -> float:
    """The entry bound the approximation is built for: B (checked against the inputs) or, when a
    degree is given, the inputs' actual largest |entry|, so that the error it reports is the
    bound at the inputs' range."""
    if B is not None and (isinstance(B, bool) or not isinstance(B, (int, float)) or not 0 < B < math.inf):
        raise InputError(f"B (the bound on every entry of Q) must be a positive finite number, got {B!r}")
    peak = max(float(np.abs(q).max()) for q in inputs.Q)
    if B is not None and peak > B:
        raise InputError(
            f"an entry of Q has magnitude {peak:.4g} > B = {B}: the error bound assumes every "
            "entry lies in [−B, B]; pass a larger B"
        )
    if B is None or degree is not None:
        return peak if peak > 0 else 1.0
    return float(B)


def plan_for(m: Mechanism, inputs: Inputs, B=None, eps=None, degree=None) -> Approximation:
    """The theory's approximation for these inputs: the degrees for ``eps`` at entry bound B,
    or ``degree`` for every table (a Taylor similarity fixes it to its order), its errors then
    at the inputs' actual range and held against ``eps`` if given."""
    if degree is None and (B is None or eps is None):
        raise InputError('method="approx" needs B and eps (entry bound and relative error) or degree=')
    bound = entry_bound(inputs, B, degree)
    return _approximation(written_form(m), m, bound, eps, inputs.d, inputs.causal, inputs.dv, degree)


@functools.lru_cache(maxsize=64)
def _approximation(form, m, bound, eps, d, causal, dv, degree) -> Approximation:
    """:func:`approximate`, once per mechanism as written and sizes: the budget and the executor
    of one call ask for the same one (``form`` keeps renamed mechanisms apart)."""
    return approximate(m, bound, eps=eps, d=d, causal=causal, dv=dv, degree=degree)


def rounding(R: float, dtype) -> float:
    """The relative rounding error of an accurate Taylor sum for e^x at x = −R, about u·e^{2R}: its
    terms reach e^R in magnitude (Σ_p R^p/p!) while the sum is e^{−R} (u the dtype's epsilon).
    The error bound of the theory is for exact arithmetic; this is what floating point adds."""
    return float(np.finfo(dtype).eps) * math.exp(min(2 * R, 700.0))


def table_records(approximation: Approximation, dtype) -> list[dict]:
    """What each approximated table runs with and the error it gives: support, degree, rank, the
    range R of its scores, its relative error ε at that range (inf: no useful bound) and the
    rounding :func:`rounding` adds in ``dtype``."""
    return [
        {
            "support": f.support,
            "symbol": f.symbol,
            "degree": f.degree,
            "rank": f.rank,
            "R": f.R,
            "error": f.error,
            "rounding": rounding(f.R, dtype),
        }
        for f in approximation.factors
    ]


def warn_accuracy(approximation: Approximation, dtype) -> None:
    """An :class:`polyth.AccuracyWarning` for each table whose error at the range exceeds eps (a
    degree given beside eps) or is infinite (R ≥ degree + 1), or whose rounding in ``dtype``
    exceeds eps; the figures are in the record too."""
    if approximation.eps is None:
        return
    for f in approximation.factors:
        if rounding(f.R, dtype) > approximation.eps:
            warnings.warn(
                f"the Taylor sum of the table {'·'.join(f.support)} cancels: its terms reach e^R with R = "
                f"{f.R:.4g} where exp is e^−R, so {np.dtype(dtype).name} rounding can reach "
                f"{rounding(f.R, dtype):.3g} relative, above eps = {approximation.eps:g}, whatever the "
                "degree; use float64 or a smaller B",
                AccuracyWarning,
                stacklevel=4,
            )
    for f in approximation.over_eps:
        warnings.warn(
            f"Taylor degree {f.degree} on the table {'·'.join(f.support)} has relative error "
            f"{f.error:.3g} at the inputs' range R = {f.R:.4g}, above eps = {approximation.eps:g}"
            f"{' (no useful bound: R ≥ degree + 1)' if math.isinf(f.error) else ''}; the output bound is "
            f"{approximation.output_error:.3g} × Π max|V|: raise the degree, or drop it to choose one from "
            "eps",
            AccuracyWarning,
            stacklevel=4,
        )


def run_low_rank(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """Execute the low-rank plan of ``plan_for(m, inputs, **options)``; records hold what ran."""
    approximation = plan_for(m, inputs, **options)
    warn_accuracy(approximation, inputs.dtype)
    Q, V = inputs.Q, dict(inputs.V)
    if m.per_channel:
        Q, V = fold_channels(inputs)
    start = time.perf_counter()
    live = _initial(approximation.plan, approximation, Q, V, m.scale_for(inputs.d), backend)
    extra = {"tables": table_records(approximation, inputs.dtype), "output_error": approximation.output_error}
    records = [StepRecord(-1, "taylor_features", "monomial_features", time.perf_counter() - start, (), extra)]
    out = _Elimination(live, inputs.n, inputs.dtype, records).run(approximation.plan)
    if m.per_channel:
        out = unfold_channels(out, inputs)
    return out, records


def _initial(plan: Plan, approximation: Approximation, Q, V, scale: float, backend: str):
    """The plan's initial factors as dense arrays (each table's rank as the theory gave it)."""
    by_support = {t.support: t for t in support_tables(plan.mechanism, Q, scale, per_channel=False)}
    chosen = {f.monomials: f for f in approximation.factors}
    features: dict[tuple[int, ...], dict[int, np.ndarray]] = {}
    live: dict[int, _Dense] = {}
    for f in plan.factors:
        if f.kind == "features":
            table = by_support[plan.mechanism.monomials[f.monomials[0]].support]
            if f.monomials not in features:
                factor = chosen[f.monomials]
                features[f.monomials] = _taylor_features(table, factor.degree, backend)
                rank = next(iter(features[f.monomials].values())).shape[-1]
                if rank != factor.rank:
                    raise AssertionError(f"the features have rank {rank}, the theory {factor.rank}")
            live[f.id] = _Dense(f.scope, features[f.monomials][f.scope[0]], False)
        elif f.kind == "scores":  # a table on one variable stays exact
            (a,) = f.scope
            L = by_support[f.scope].features[a].sum(axis=-1)
            live[f.id] = _Dense(f.scope, np.exp(L - L.max(axis=1, keepdims=True)), False)
        elif f.kind == "value":
            (a,) = f.scope
            ones = np.ones(V[a].shape[:2] + (1,), dtype=V[a].dtype)
            live[f.id] = _Dense(f.scope, np.concatenate([V[a], ones], axis=-1), True)
        elif f.kind == "threshold":
            live[f.id] = _Dense(f.scope, None, False, pair=f.threshold)
        else:
            raise AssertionError(f"a low-rank plan has no initial {f.kind} factor")
    return live


def _taylor_features(table, g: int, backend: str) -> dict[int, np.ndarray]:
    """Per-variable Taylor features φ_{S,a} (b, n, r) of one table; the 1/α! on its first variable."""
    alphas = polyth_kernels.multi_indices(table.width, g)
    weights = polyth_kernels.taylor_weights(alphas)
    feats = {}
    for position, a in enumerate(table.support):
        F = table.features[a]
        try:
            feats[a] = polyth_kernels.monomial_features(
                F, alphas, weights if position == 0 else None, backend
            )
        except FloatingPointError as exc:
            raise NumericalError(str(exc)) from None
    return feats


class _Elimination:
    """Run a low-rank plan's steps over dense linear-domain factors (keyed by the plan's ids)."""

    def __init__(self, live: dict[int, _Dense], n: int, dtype, records: list[StepRecord]):
        self.live, self.n, self.dtype, self.records = live, n, dtype, records

    def run(self, plan: Plan) -> np.ndarray:
        for step in plan.steps:
            inputs = [self.live.pop(i) for i in step.inputs]
            if step.kind == "normalize":
                return self._normalize(inputs)
            start = time.perf_counter()
            if step.kind == "prefix_sum":
                result, kernel = self._prefix(step, inputs), "cumsum"
            elif step.kind == "matmul":
                result, kernel = self._matmul(step, inputs), "matmul"
            else:
                result, kernel = self._contract(step.eliminated, inputs), "einsum"
            self.live[step.output.id] = _rescaled(result)
            self.records.append(
                StepRecord(step.eliminated, step.kind, kernel, time.perf_counter() - start, result.scope)
            )
        raise AssertionError("a plan ends with its normalize step")

    def _einsum(self, factors: list[_Dense], scope: tuple[int, ...], channel: bool) -> _Dense:
        out = _BATCH + "".join(_LETTERS[v] for v in scope) + (_CHANNEL if channel else "")
        expression = ",".join(f.subscript() for f in factors) + "->" + out
        arrays = [self._mask(f) if f.pair else f.X for f in factors]
        return _Dense(scope, np.einsum(expression, *arrays, optimize="greedy"), channel)

    def _mask(self, f: _Dense) -> np.ndarray:
        """[l_child ≤ l_parent] as a (1, n, n) 0/1 array laid out along ``f.scope``."""
        idx = np.arange(self.n)
        child, parent = f.pair
        allowed = idx[:, None] <= idx[None, :]  # axes (child, parent)
        if f.scope.index(child) > f.scope.index(parent):
            allowed = allowed.T
        return allowed.astype(self.dtype)[None]

    def _contract(self, b: int, inputs: list[_Dense]) -> _Dense:
        scope = tuple(sorted({v for f in inputs for v in f.scope} - {b}))
        return self._einsum(inputs, scope, any(f.channel for f in inputs))

    def _matmul(self, step, inputs: list[_Dense]) -> _Dense:
        by_id = dict(zip(step.inputs, inputs))
        b = step.eliminated
        unary = [f for f in inputs if f.scope == (b,)]
        sides = []
        for k, group in enumerate(step.groups):
            members = [by_id[i] for i in group] + (unary if k == 0 else [])
            scope = tuple(sorted({v for f in members for v in f.scope}))
            sides.append(self._einsum(members, scope, any(f.channel for f in members)))
        return self._contract(b, sides)

    def _prefix(self, step, inputs: list[_Dense]) -> _Dense:
        b, p = step.eliminated, step.partner
        threshold = next(f for f in inputs if f.pair is not None and set(f.pair) == {b, p})
        rest = [f for f in inputs if f is not threshold]
        scope = tuple(sorted({v for f in rest for v in f.scope}))
        product = self._einsum(rest, scope, any(f.channel for f in rest))
        X = np.moveaxis(product.X, 1 + scope.index(b), 1)
        if threshold.pair == (p, b):  # [l_p ≤ l_b]: sum over l_b ≥ l_p, a scan from the end
            X = X[:, ::-1]
            np.cumsum(X, axis=1, out=X)
            X = X[:, ::-1]
        else:
            np.cumsum(X, axis=1, out=X)  # in place: the step holds one array of its size
        # the scanned axis, now indexed by l_p, takes p's sorted place in the output scope
        out_scope = tuple(sorted(tuple(v for v in scope if v != b) + (p,)))
        X = np.moveaxis(X, 1, 1 + out_scope.index(p))
        return _Dense(out_scope, np.ascontiguousarray(X), product.channel)

    def _normalize(self, factors: list[_Dense]) -> np.ndarray:
        result = None
        for f in factors:
            if not f.channel:
                continue  # a scalar factor on the query cancels in the ratio
            if f.scope not in ((0,), ()):
                raise AssertionError(f"factor on {f.scope} left after elimination")
            X = f.X if f.scope == (0,) else f.X[:, None, :]  # a component apart from the query
            result = X if result is None else result * X
        result = np.broadcast_to(result, (result.shape[0], self.n, result.shape[-1]))
        den = result[..., -1]
        if not (np.isfinite(result).all() and (den > 0).all()):
            raise NumericalError(
                "the approximate normaliser is not positive and finite for some query "
                f"({int((~(den > 0)).sum())} of {den.size}); use an even Taylor degree or a smaller B"
            )
        return result[..., :-1] / den[..., None]


def _rescaled(f: _Dense) -> _Dense:
    """``f`` divided by its largest magnitude per batch entry (a positive constant per batch,
    which cancels in the final ratio)."""
    axes = tuple(range(1, f.X.ndim))
    peak = np.abs(f.X).max(axis=axes, keepdims=True) if axes else np.abs(f.X)
    if not np.isfinite(peak).all():
        raise NumericalError("an approximate message overflowed; use a smaller B or a lower degree")
    scale = np.where(peak > 0, peak, 1)
    return _Dense(f.scope, f.X / scale, f.channel)
