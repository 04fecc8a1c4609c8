"""``method="naive"``: every allowed tuple of positions, one kernel call.

The naive kernel evaluates the score of each of the n^t tuples (the causal mask keeping
only the allowed ones), exponentiates it with a running maximum per query and accumulates
the product of the value rows: the definition, at n^t work, run by
:func:`polyth_kernels.naive_attention`. Its cost is :func:`polyth.theory.cost.naive_cost`.
"""

from __future__ import annotations

import time

import numpy as np

import polyth_kernels
from polyth.compute.inputs import Inputs, nested_parents
from polyth.compute.records import StepRecord
from polyth.errors import NumericalError
from polyth.mechanism import Mechanism


def _causal_code(m: Mechanism, causal: str | None) -> tuple[int, np.ndarray]:
    parent = np.full(m.t, -1, dtype=np.int64)
    if causal == "nested":
        for child, par in nested_parents(m).items():
            parent[child] = par
        return 2, parent
    return (1 if causal == "prefix" else 0), parent


def run_naive(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """The naive kernel over all n^t tuples."""
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
