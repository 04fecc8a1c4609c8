"""``polyth.attention`` (module ``polyth.dispatch``): compute any mechanism with the kernels.

``method="exact"`` executes the cost engine's elimination plan step by step
(:mod:`polyth.execute`): the flash pass along tree edges, online reduction of hyperedges,
prefix scans for causal thresholds, stabilised matrix products, general contraction.
``method="naive"`` runs the naive kernel over all n^(t−1) tuples. ``method="approx"``
replaces every score table by its degree-g Taylor expansion (low rank,
:mod:`polyth.approximate`). The result is checked: NaN or overflow raises
:class:`polyth.NumericalError` instead of being returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polyth_kernels

from polyth.compute import efficient
from polyth.compute.exact import Elimination, Factor, StepRecord
from polyth.compute.inputs import Inputs, nested_parents, prepare
from polyth.compute.tables import support_tables
from polyth.errors import InputError, NumericalError, PolyError
from polyth.mechanism import Mechanism
from polyth.theory.plan import cached_exact_plan

METHODS = ("exact", "naive", "approx")


@dataclass(frozen=True)
class Timed:
    """The output with the wall time of every step (``return_timings=True``)."""

    output: np.ndarray
    steps: tuple[StepRecord, ...]
    seconds: float
    backend: str
    method: str


def attention(
    m: Mechanism,
    Q,
    V,
    method: str = "exact",
    backend: str = "auto",
    causal: str | None = None,
    B: float | None = None,
    eps: float | None = None,
    degree: int | None = None,
    dtype=None,
    return_timings: bool = False,
):
    """Poly-attention output ``Att[l1]`` for every query position (DESIGN.md §1).

    ``Q``: one (n, d) or (b, n, d) array per input slot (``m.input_slots``: x1 … xt when
    tied); ``V``: value variable (1-based index or name) → (n, dv) or (b, n, dv) array.
    ``method``: ``"exact"`` (the plan), ``"naive"`` (all tuples) or ``"approx"`` (Taylor,
    with ``B`` and ``eps`` or an explicit ``degree``). ``backend``: ``auto|cpu|cuda|cudasim``.
    Returns the output in the inputs' dtype and shape, or a :class:`Timed` record.
    """
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth.Mechanism, got {type(m).__name__}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if efficient.handles(m, method):  # feature maps, Taylor similarities: their own kernels
        return efficient.attention(m, Q, V, method, backend, causal, B, eps, degree, dtype, return_timings)
    inputs = prepare(m, Q, V, causal=causal, dtype=dtype)
    try:
        backend = polyth_kernels.resolve_backend(backend)
    except polyth_kernels.BackendError as exc:
        raise InputError(str(exc)) from None
    start = time.perf_counter()
    if method == "naive":
        out, steps = _naive(m, inputs, backend)
    elif method == "exact":
        out, steps = _exact(m, inputs, backend)
    else:
        from polyth.compute.low_rank import approximate_attention

        out, steps = approximate_attention(m, inputs, backend, B=B, eps=eps, degree=degree)
    seconds = time.perf_counter() - start
    if not np.isfinite(out).all():
        raise NumericalError(
            f"the {method} attention produced {int((~np.isfinite(out)).sum())} non-finite outputs; "
            "the values' product overflowed — rescale V or use float64"
        )
    out = inputs.user_shape(out.astype(inputs.dtype, copy=False))
    if return_timings:
        return Timed(out, tuple(steps), seconds, backend, method)
    return out


def _causal_code(m: Mechanism, causal: str | None) -> tuple[int, np.ndarray]:
    parent = np.full(m.t, -1, dtype=np.int64)
    if causal == "nested":
        for child, par in nested_parents(m).items():
            parent[child] = par
        return 2, parent
    return (1 if causal == "prefix" else 0), parent


def _naive(m: Mechanism, inputs: Inputs, backend: str):
    slots = m.input_slots
    slot_var = np.array([a for _, a in slots], dtype=np.int64)
    slot_power = np.zeros((len(m.monomials), len(slots)), dtype=np.int64)
    for s, (mono_index, a) in enumerate(slots):
        for j, mono in enumerate(m.monomials):
            if (mono_index is None or mono_index == j) and mono.powers[a]:
                slot_power[j, s] = mono.powers[a]
    coef = np.array([mono.value for mono in m.monomials], dtype=np.float64)
    value_var = np.array(sorted(inputs.V), dtype=np.int64)
    code, parent = _causal_code(m, inputs.causal)
    start = time.perf_counter()
    try:
        out = polyth_kernels.naive_attention(
            np.stack(inputs.Q),
            slot_var,
            slot_power,
            coef,
            np.stack([inputs.V[a] for a in value_var]),
            value_var,
            m.scale_for(inputs.d),
            per_channel=m.per_channel,
            parent=parent,
            causal=code,
            backend=backend,
        )
    except FloatingPointError as exc:
        raise NumericalError(str(exc)) from None
    record = StepRecord(-1, "naive", "naive_attention", time.perf_counter() - start, (0,))
    return out, [record]


def fold_channels(inputs: Inputs) -> tuple[tuple[np.ndarray, ...], dict[int, np.ndarray]]:
    """Per-channel mode as an ordinary problem: channel c becomes batch entry (b, c), d = dv = 1."""

    def fold(x: np.ndarray) -> np.ndarray:
        b, n, d = x.shape
        return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(b * d, n, 1))

    return tuple(fold(q) for q in inputs.Q), {a: fold(v) for a, v in inputs.V.items()}


def initial_factors(
    plan, Q: tuple[np.ndarray, ...], V: dict[int, np.ndarray], scale: float
) -> dict[int, Factor]:
    """The plan's initial factors as arrays: lazy score tables (features), values, thresholds.

    Per-channel mechanisms must have been folded (:func:`fold_channels`) first.
    """
    tables = {t.support: t for t in support_tables(plan.mechanism, Q, scale, per_channel=False)}
    factors = {}
    for f in plan.factors:
        if f.kind == "scores":
            table = tables[tuple(f.scope)]
            if len(f.scope) == 1:
                factors[f.id] = Factor(f.scope, L=table.features[f.scope[0]].sum(axis=-1))
            else:
                factors[f.id] = Factor(f.scope, table=table, threshold=f.mask[0] if f.mask else None)
        elif f.kind == "value":
            (a,) = f.scope
            factors[f.id] = Factor(f.scope, L=np.zeros(V[a].shape[:2], dtype=V[a].dtype), W=V[a])
        elif f.kind == "threshold":
            factors[f.id] = Factor(f.scope, threshold=f.threshold)
        else:
            raise AssertionError(f"an exact plan has no initial {f.kind} factor")
    return factors


def _exact(m: Mechanism, inputs: Inputs, backend: str):
    plan = cached_exact_plan(m, inputs.causal)
    Q, V = (inputs.Q, dict(inputs.V))
    if m.per_channel:
        Q, V = fold_channels(inputs)
    run = Elimination(initial_factors(plan, Q, V, m.scale_for(inputs.d)), inputs.n, backend, inputs.dtype)
    try:
        out = run.run(plan)
    except FloatingPointError as exc:
        raise NumericalError(str(exc)) from None
    except ValueError as exc:  # a kernel refusing its arrays is a bug here, not bad user input
        raise PolyError(f"kernel refused the plan's arrays: {exc}") from exc
    if m.per_channel:
        bd, n, _ = out.shape
        out = out.reshape(inputs.b, inputs.d, n).transpose(0, 2, 1)
    return out, run.records
