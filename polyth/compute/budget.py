"""The price of an attention call, from the plan its executor runs, checked before it allocates.

``polyth.attention`` calls :func:`check` once, after validating the inputs and before the
executor runs; a call over budget raises :class:`polyth.BudgetError` (:mod:`polyth.limits`)
within a second, with the estimate and the way out. The price of each executor
(:data:`PRICERS`):

* exact (``run_exact``): the exact plan's operation count
  (:func:`polyth.theory.cost.operation_count`) and peak entries
  (:func:`polyth.theory.cost.peak_memory_count`: every array the elimination holds at its
  peak, the live messages included), times the batch b and the dtype's bytes; a ``matmul``
  step adds the CPU GEMM's two column blocks (each the output with its channel, at most
  ``polyth_kernels.matmul.BLOCK_ELEMENTS`` entries, a constant of that kernel);
* approximate (``run_low_rank``, and ``run_elementwise``, whose fused kernel runs the same
  low-rank plan): the theory's :class:`~polyth.theory.approximation.Approximation` for these
  inputs, its low-rank plan counted at its own ranks;
* naive (``run_naive``): :func:`polyth.theory.cost.naive_operation_count`, every allowed tuple;
  the kernel streams over the tuples, holding the stacked inputs and the output; it also
  cannot count beyond ``polyth_kernels.naive.MAX_TUPLES`` tuples per query;
* feature maps (``run_linear``, ``run_quadratic``): the exact (low-rank, r = d_φ) plan's count;
  the linear kernel holds φ(Q), φ(K), [V, 1], its output and one state per chunk of 64
  positions, the quadratic form the n × n weights (twice: the product and its masked copy).

Every price adds the prepared inputs (a cast copies them). Example::

    >>> import numpy as np, polyth
    >>> from polyth.mechanism import zoo
    >>> Q = [np.zeros((8, 2))] * 2; V = {2: np.ones((8, 2))}
    >>> polyth.attention(zoo.self_attention(), Q, V, max_memory=10**9).shape   # fits
    (8, 2)
"""

from __future__ import annotations

import math

import polyth_kernels.matmul
import polyth_kernels.naive
from polyth import limits
from polyth.compute.elementwise import run_elementwise
from polyth.compute.exact import run_exact
from polyth.compute.feature_map import run_linear, run_quadratic
from polyth.compute.inputs import Inputs
from polyth.compute.low_rank import plan_for, run_low_rank
from polyth.compute.naive import run_naive
from polyth.errors import BudgetError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp, FeatureMap
from polyth.theory import cost
from polyth.theory.plan import cached_exact_plan

LINEAR_CHUNK = 64  # positions per state of the causal linear kernel (polyth_kernels.lowrank.CHUNK)


def _what(m: Mechanism, method: str, inputs: Inputs) -> str:
    causal = "" if inputs.causal is None else f', causal="{inputs.causal}"'
    return (
        f'{m.name or m.polynomial} with method="{method}"{causal} at b = {inputs.b}, n = {inputs.n:,}, '
        f"d = {inputs.d}, dv = {inputs.dv} ({inputs.dtype.name})"
    )


def _input_entries(m: Mechanism, inputs: Inputs) -> int:
    return inputs.b * inputs.n * (len(m.input_slots) * inputs.d + len(m.values) * inputs.dv)


def _ways_out(m: Mechanism, method: str, inputs: Inputs, entries: float, ops: int) -> list[tuple[str, str]]:
    """The remedies that change something for this call (``entries``, ``ops``: its peak and work
    per batch entry): a smaller n always; the approximate method for an exp similarity; a causal
    mask whose plan is cheaper (it is a different function)."""
    ways = [("a smaller n", "a smaller --n")]
    if method != "approx" and isinstance(m.similarity, Exp) and any(len(s) >= 2 for s, _ in m.support_groups):
        ways.append(
            ('method="approx" with B and eps (the low-rank plan: n·poly(rank) work)', "--method approx")
        )
    if method == "naive":
        ways.append(('method="exact" (the plan instead of every tuple)', "--method exact"))
    if method == "exact" and inputs.causal is None and not isinstance(m.similarity, FeatureMap):
        for mask in ("nested", "prefix") if m.is_tree and m.is_connected else ("prefix",):
            plan = cached_exact_plan(m, mask)
            args = (inputs.n, inputs.d, inputs.dv)
            if cost.peak_memory_count(plan, *args) < entries or cost.operation_count(plan, *args).total < ops:
                ways.append(
                    (
                        f'causal="{mask}" if that mask is what you mean (its plan is cheaper)',
                        f"--causal {mask}",
                    )
                )
                break
    if method == "approx":
        ways.append(
            ("a smaller B or a larger eps (a lower degree and rank)", "a smaller --B or a larger --eps")
        )
    return ways


def _from_plan(m, method, inputs, plan, ranks=None, memory=None) -> limits.Price:
    """The price of running ``plan`` (at its ranks); ``memory``: the entries held at the peak
    for the whole batch, when the executor's differ from the plan's (default: the plan's, × b)."""
    args = (inputs.n, inputs.d, inputs.dv, ranks)
    count = cost.operation_count(plan, *args)
    entries = inputs.b * cost.peak_memory_count(plan, *args) if memory is None else memory
    b, itemsize = inputs.b, inputs.dtype.itemsize
    return limits.Price(
        _what(m, method, inputs),
        (entries + _input_entries(m, inputs)) * itemsize,
        b * count.madds,
        b * count.exps,
        lambda: _ways_out(m, method, inputs, entries / b, count.total),
    )


def _exact(m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    plan = cached_exact_plan(m, inputs.causal)
    sizes = {"n": inputs.n, "d": inputs.d, "dv": inputs.dv, "ranks": {}}
    peak = 0
    for step, held in zip(plan.steps, cost.memory_per_step(plan)):
        entries = inputs.b * int(held.evaluate(sizes))
        if step.kind == "matmul":  # the GEMM's blocks G and R, each at most the output with its channel
            output = inputs.b * inputs.n ** len(step.output.scope) * (inputs.dv + 1)
            entries += 2 * min(polyth_kernels.matmul.BLOCK_ELEMENTS, output)
        peak = max(peak, entries)
    return _from_plan(m, "exact", inputs, plan, memory=peak)


def _approx(m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    approximation = plan_for(m, inputs, **options)
    return _from_plan(m, "approx", inputs, approximation.plan, approximation.ranks)


def _linear(m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    r = int(m.similarity.rank(inputs.d))
    chunks = math.ceil(inputs.n / LINEAR_CHUNK)
    memory = inputs.n * (2 * r + 2 * (inputs.dv + 1)) + chunks * r * (inputs.dv + 1)
    return _from_plan(m, "exact", inputs, cached_exact_plan(m, inputs.causal), memory=inputs.b * memory)


def _quadratic(m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    n, d, dv, b = inputs.n, inputs.d, inputs.dv, inputs.b
    memory = 2 * n * n + n * (2 * d + dv + 1)
    return limits.Price(
        _what(m, "naive", inputs),
        (b * memory + _input_entries(m, inputs)) * inputs.dtype.itemsize,
        b * n * n * (d + dv + 1),
        0,
        lambda: (("a smaller n", "a smaller --n"), ('method="exact" (linear time)', "--method exact")),
    )


def _naive(m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    per_query = float(inputs.n) ** (m.t - 1)
    if per_query > polyth_kernels.naive.MAX_TUPLES:
        raise BudgetError(
            f"the naive kernel counts at most {polyth_kernels.naive.MAX_TUPLES:.0e} tuples per query; "
            f"{m.name or m.polynomial} at n = {inputs.n:,} has n^(t−1) = {per_query:.3g}. Way out: a smaller "
            'n, or method="exact" (the plan instead of every tuple)',
            cli_message=f"the naive kernel counts at most {polyth_kernels.naive.MAX_TUPLES:.0e} tuples per "
            f"query; n^(t−1) = {per_query:.3g} here. Way out: a smaller --n, or --method exact",
        )
    count = cost.naive_operation_count(m, inputs.n, inputs.d, inputs.dv, inputs.causal)
    entries = 2 * _input_entries(m, inputs) + inputs.b * inputs.n * inputs.dv  # stacked inputs, output
    return limits.Price(
        _what(m, "naive", inputs),
        entries * inputs.dtype.itemsize,
        inputs.b * count.madds,
        inputs.b * count.exps,
        lambda: _ways_out(m, "naive", inputs, entries / inputs.b, count.total),
    )


PRICERS = {
    run_exact: _exact,
    run_low_rank: _approx,
    run_elementwise: _approx,
    run_naive: _naive,
    run_linear: _linear,
    run_quadratic: _quadratic,
}


def price(run, m: Mechanism, inputs: Inputs, options: dict) -> limits.Price:
    """The price of running executor ``run`` on ``inputs``: peak bytes, multiply-adds, exps."""
    return PRICERS[run](m, inputs, options)


def check(run, m: Mechanism, inputs: Inputs, options: dict, max_memory=None, max_seconds=None) -> None:
    """Refuse (:class:`polyth.BudgetError`) a call whose price exceeds the machine or the limits."""
    limits.check(price(run, m, inputs, options), max_memory, max_seconds)
