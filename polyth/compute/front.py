"""``polyth.attention``: the one front door of the compute layer.

Every call goes the same way: check the mechanism, the method and its options; validate and
cast the arrays (:func:`polyth.compute.inputs.prepare`); resolve the backend; price the call
from the plan its executor runs and refuse it if it cannot fit (:mod:`polyth.compute.budget`:
:class:`polyth.BudgetError` before any allocation, also above ``max_memory`` or
``max_seconds``); run the executor registered for the (method, similarity) pair; time it;
refuse a non-finite output (:class:`polyth.NumericalError`); return the output in the inputs'
shape and dtype, or a :class:`~polyth.compute.records.Timed` record with every step.

The registry :data:`EXECUTORS` maps (method, similarity kind) to the executors that can run
it, each with the options it takes; the first whose ``accepts`` holds runs:

=======  ===========  ==========================================================  ===============
method   similarity   executor                                                    options
=======  ===========  ==========================================================  ===============
exact    exp, taylor  the exact plan, log domain (:mod:`.exact`)
naive    exp, taylor  all n^t tuples (:mod:`.naive`)
approx   exp          the theory's low-rank plan (:mod:`.low_rank`)               B, eps, degree
approx   taylor       element-wise kernel (:mod:`.elementwise`) or the low-rank   (the order)
                      plan at the similarity's order
exact    feature map  φ(Q)(φ(K)ᵀ[V, 1]) (:mod:`.feature_map`)
naive    feature map  the n × n weight matrix
=======  ===========  ==========================================================  ===============

A Taylor similarity's exact and naive methods compute the exp form it approximates.

Example::

    >>> import numpy as np, polyth
    >>> from polyth.mechanism import zoo
    >>> Q = [np.zeros((4, 2))] * 2; V = {2: np.eye(4, 2)}
    >>> polyth.attention(zoo.self_attention(), Q, V)[0]     # uniform weights over 4 keys
    array([0.25, 0.25])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from polyth.compute import budget, elementwise
from polyth.compute.backend import resolve as resolve_backend
from polyth.compute.exact import run_exact
from polyth.compute.feature_map import run_linear, run_quadratic
from polyth.compute.inputs import prepare
from polyth.compute.low_rank import run_low_rank
from polyth.compute.naive import run_naive
from polyth.compute.records import Timed
from polyth.errors import BudgetError, InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp, FeatureMap, Taylor

METHODS = ("exact", "naive", "approx")


@dataclass(frozen=True)
class Executor:
    """One way to run a method: ``run(m, inputs, backend, options) -> (output, records)``."""

    run: Callable
    options: frozenset[str] = frozenset()
    accepts: Callable[[Mechanism], bool] = lambda m: True
    fixed: Callable[[Mechanism, dict], dict] | None = None  # options the mechanism itself sets


def _taylor_order(m: Mechanism, options: dict) -> dict:
    order = m.similarity.order
    if options.get("B") is not None or options.get("eps") is not None:
        raise InputError(
            f"the Taylor order is fixed by the mechanism's similarity (order {order}); B and eps do not apply"
        )
    if options.get("degree") not in (None, order):
        raise InputError(f"degree={options['degree']} disagrees with the mechanism's Taylor order {order}")
    return {"degree": order}


_EXACT = Executor(run_exact)
_NAIVE = Executor(run_naive)

EXECUTORS: dict[tuple[str, type], tuple[Executor, ...]] = {
    ("exact", Exp): (_EXACT,),
    ("naive", Exp): (_NAIVE,),
    ("approx", Exp): (Executor(run_low_rank, frozenset({"B", "eps", "degree"})),),
    ("exact", Taylor): (_EXACT,),
    ("naive", Taylor): (_NAIVE,),
    ("approx", Taylor): (
        Executor(elementwise.run_elementwise, accepts=elementwise.accepts, fixed=_taylor_order),
        Executor(run_low_rank, fixed=_taylor_order),
    ),
    ("exact", FeatureMap): (Executor(run_linear),),
    ("naive", FeatureMap): (Executor(run_quadratic),),
}


def _executor(m: Mechanism, method: str) -> Executor:
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    candidates = EXECUTORS.get((method, type(m.similarity)), ())
    if not candidates and isinstance(m.similarity, FeatureMap):
        raise InputError(
            'a feature-map mechanism is exact in linear time: use method="exact" (nothing to approximate)'
        )
    return next(e for e in candidates if e.accepts(m))


def _options(m: Mechanism, method: str, executor: Executor, given: dict) -> dict:
    if executor.fixed is not None:
        return executor.fixed(m, given)
    unexpected = sorted(
        name for name, value in given.items() if value is not None and name not in executor.options
    )
    if unexpected:
        if isinstance(m.similarity, FeatureMap):
            raise InputError("a feature-map mechanism takes no B, eps or degree: it is computed exactly")
        raise InputError(f'{", ".join(unexpected)} only apply to method="approx", not method="{method}"')
    return {name: value for name, value in given.items() if name in executor.options}


def _admit(m, Q, V, method, backend, causal, given, dtype, max_memory, max_seconds):
    """Everything ``attention`` checks before it runs: the mechanism, method and options, the
    arrays, the backend, and the budget. Returns (executor, options, inputs, backend)."""
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth.Mechanism, got {type(m).__name__}")
    executor = _executor(m, method)
    options = _options(m, method, executor, given)
    inputs = prepare(m, Q, V, causal=causal, dtype=dtype)
    backend = resolve_backend(backend)
    budget.check(executor.run, m, inputs, options, max_memory, max_seconds)
    return executor, options, inputs, backend


def admit(
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
    max_memory: float | None = None,
    max_seconds: float | None = None,
) -> None:
    """Raise now what :func:`attention` with these arguments would raise before running (bad
    input, an unavailable backend, :class:`polyth.BudgetError`), without running it: for a
    caller about to start long work (a grid of sizes, many instances)."""
    _admit(
        m,
        Q,
        V,
        method,
        backend,
        causal,
        {"B": B, "eps": eps, "degree": degree},
        dtype,
        max_memory,
        max_seconds,
    )


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
    max_memory: float | None = None,
    max_seconds: float | None = None,
):
    """Poly-attention output ``Att[l1]`` for every query position (docs/design.md §1).

    ``Q``: one (n, d) or (b, n, d) array per input slot (``m.input_slots``: x1 … xt when
    tied); ``V``: value variable (1-based index or name) → (n, dv) or (b, n, dv) array.
    ``method``: ``"exact"`` (the plan), ``"naive"`` (all tuples) or ``"approx"`` (the theory's
    low-rank plan, with ``B`` and ``eps`` or an explicit ``degree``). ``backend``:
    ``auto|cpu|cuda|cudasim``. Returns the output in the inputs' dtype and shape, or a
    :class:`~polyth.compute.records.Timed` record (``return_timings=True``).

    Refused with :class:`polyth.BudgetError`, before anything is allocated, when the predicted
    peak memory exceeds the memory this process can still allocate or ``max_memory`` (bytes),
    or the predicted time at this machine's measured rate exceeds ``max_seconds``.
    """
    executor, options, inputs, backend = _admit(
        m,
        Q,
        V,
        method,
        backend,
        causal,
        {"B": B, "eps": eps, "degree": degree},
        dtype,
        max_memory,
        max_seconds,
    )
    start = time.perf_counter()
    try:
        out, steps = executor.run(m, inputs, backend, options)
    except MemoryError as exc:  # the estimate fitted, the machine did not (another process took it)
        raise BudgetError(
            f"the {method} attention ran out of memory ({exc}) although its predicted peak fitted when it "
            "started: another process may have taken the memory; retry, or use a smaller n"
        ) from None
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
