"""Linear attention (Katharopoulos et al. 2020): a feature-map similarity, exact in linear time.

For the bilinear h = x1·x2 with sim(q, k) = φ(q)·φ(k) (:class:`~polyth.mechanism.similarity.FeatureMap`)

    out_i = φ(q_i) · (Σ_{j allowed} φ(k_j) [v_j, 1]ᵀ)  /  (its last column + eps),

j over every position, or j ≤ i under the prefix mask. The exact plan of such a mechanism *is*
this low-rank computation (r = d_φ, :func:`polyth.theory.plan.exact_plan`), run by
:func:`polyth_kernels.linear_attention` (causal: chunked prefix sums of the states).
``method="naive"`` forms the n × n weight matrix φ(Q)φ(K)ᵀ instead (n²·d work), here, with
numpy; it is not the reference, which has its own definition.

Example::

    >>> import numpy as np, polyth
    >>> from polyth.mechanism import zoo
    >>> q = k = np.zeros((3, 2)); v = np.arange(6.0).reshape(3, 2)
    >>> polyth.attention(zoo.linear(), [q, k], {2: v})[0]          # equal weights: the mean
    array([2., 3.])
"""

from __future__ import annotations

import numpy as np

import polyth_kernels
from polyth.compute.inputs import Inputs
from polyth.compute.records import timed_kernel
from polyth.mechanism import Mechanism


def run_linear(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """``method="exact"``: φ(Q)(φ(K)ᵀ[V, 1]) by the linear-attention kernel."""
    q, k = inputs.Q
    (v,) = inputs.V.values()
    causal = inputs.causal is not None  # t = 2: the nested mask is the prefix mask
    return timed_kernel(
        polyth_kernels.linear_attention,
        "linear_attention",
        q,
        k,
        v,
        causal,
        m.similarity.eps,
        backend=backend,
    )


def quadratic_form(similarity, q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """(φ(Q)φ(K)ᵀ ⊙ mask) [V, 1], normalised: the n × n form of linear attention."""
    weights = np.matmul(similarity.apply(q), similarity.apply(k).transpose(0, 2, 1))
    if causal:
        weights = np.tril(weights)
    den = weights.sum(axis=-1) + similarity.eps
    return np.matmul(weights, v) / den[..., None]


def run_quadratic(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """``method="naive"``: the n × n weight matrix (numpy)."""
    q, k = inputs.Q
    (v,) = inputs.V.values()
    return timed_kernel(quadratic_form, "quadratic_form", m.similarity, q, k, v, inputs.causal is not None)
