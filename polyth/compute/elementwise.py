"""Element-wise attention (Feng 2025) with a Taylor similarity: its own kernel.

h = −(x1 − x2)² per channel with scale 1: exp(−(q − k)²) = exp(−q²) · exp(2qk) · exp(−k²), the
two unary factors exact and exp(2qk) replaced by its Taylor polynomial of order g, a rank
g + 1 factor per channel. That is the low-rank plan of the mechanism
(:func:`polyth.theory.approximation.approximate` with ``degree = g``) for this one shape,
run fused by :func:`polyth_kernels.elementwise_attention` in O(g·n·D) (causal: prefix sums).
The step record holds the degree and rank that ran, as for every approximate run, and the
range R of the scores at the inputs and the relative error of T_g there against the exp
form it approximates (infinite when R ≥ g + 1).

Example::

    >>> from polyth.mechanism import zoo
    >>> is_elementwise(zoo.elementwise(6)), is_elementwise(zoo.self_attention())
    (True, False)
"""

from __future__ import annotations

import polyth_kernels
from polyth.compute.inputs import Inputs
from polyth.compute.low_rank import plan_for, table_records
from polyth.compute.records import timed_kernel
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp, Taylor

_ELEMENTWISE = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)


def is_elementwise(m: Mechanism) -> bool:
    """h = −(x1 − x2)² per channel with scale 1 and value x2 (up to renaming), any similarity."""
    return m.replace(similarity=Exp(), name=None) == _ELEMENTWISE


def accepts(m: Mechanism) -> bool:
    return isinstance(m.similarity, Taylor) and is_elementwise(m)


def run_elementwise(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """The fused element-wise kernel at the theory's degree (the similarity's order)."""
    approximation = plan_for(m, inputs, **options)
    (table,) = approximation.factors
    q, k = inputs.Q
    (v,) = inputs.V.values()
    out, records = timed_kernel(
        polyth_kernels.elementwise_attention,
        "elementwise_taylor",
        q,
        k,
        v,
        table.degree,
        causal=inputs.causal is not None,
        backend=backend,
    )
    records[0].extra["tables"] = table_records(approximation, inputs.dtype)
    records[0].extra["output_error"] = approximation.output_error
    return out, records
