"""Feature-map (linear) attention by its definition: the full n × n weight matrix, in float64.

For a feature map φ (``similarity.apply``) and ``eps = similarity.eps`` the output for query i is

    out[i] = Σ_{j allowed} (φ(q_i)·φ(k_j)) v_j / (Σ_{j allowed} φ(q_i)·φ(k_j) + eps),

allowed = every j (``causal=None``) or j ≤ i (``causal="prefix"``): Katharopoulos et al.
2020, the oracle against which the linear-time forms are checked.

>>> import numpy as np
>>> from polyth.mechanism.similarity import FeatureMap
>>> q = k = np.zeros((2, 1))          # φ = elu + 1 is 1 at 0: every weight is 1
>>> v = np.array([[1.0], [3.0]])
>>> feature_map_attention(FeatureMap(eps=0.0), q, k, v, causal="prefix")
array([[1.],
       [2.]])
"""

from __future__ import annotations

import numpy as np

import polyth.limits as limits
from polyth.errors import InputError, NumericalError
from polyth.mechanism.similarity import FeatureMap


def feature_map_attention(
    similarity: FeatureMap, q, k, v, causal: str | None = None, max_memory=None, max_seconds=None
) -> np.ndarray:
    """Feature-map attention of ``q, k: (…, n, d)`` over ``v: (…, n, dv)``; returns ``(…, n, dv)``.

    ``…`` is nothing or a batch axis ``b``; the arrays are cast to float64. Raises
    :class:`~polyth.errors.InputError` for a similarity that is not a
    :class:`~polyth.mechanism.similarity.FeatureMap`, a ``causal`` other than ``None`` or
    ``"prefix"``, or shapes that do not fit; :class:`~polyth.errors.BudgetError` before
    allocating when its arrays (the n × n weights, twice under the mask, φ(q), φ(k) and the
    output, in float64) exceed the free memory or ``max_memory``, or its n²·(d_φ + dv + 1)
    multiply-adds at this machine's rate exceed ``max_seconds``;
    :class:`~polyth.errors.NumericalError` when the output is not finite.
    """
    if not isinstance(similarity, FeatureMap):
        raise InputError(f"feature_map_attention needs a FeatureMap similarity, got {similarity!r}")
    if not (causal is None or (isinstance(causal, str) and causal == "prefix")):
        raise InputError(f'feature-map attention takes causal=None or "prefix", got {causal!r}')
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    if not (
        q.ndim == k.ndim == v.ndim
        and q.ndim in (2, 3)
        and q.shape == k.shape
        and v.shape[:-1] == q.shape[:-1]
    ):
        raise InputError(
            f"feature-map attention needs q, k of shape (…, n, d) and v of shape (…, n, dv), "
            f"… empty or one batch axis; got q {q.shape}, k {k.shape}, v {v.shape}"
        )
    n, batch = q.shape[-2], (q.shape[0] if q.ndim == 3 else 1)
    d, dv = q.shape[-1], v.shape[-1]
    entries = batch * (2 * n * n + n * (2 * d + 2 * dv))
    madds = batch * n * n * (d + dv + 1)
    ways = (("polyth.attention (linear time)", "a smaller --n"), ("a smaller n", "a smaller --n"))
    price = limits.Price(
        f"the feature-map reference at b = {batch}, n = {n:,} (float64)", 8 * entries, madds, 0, lambda: ways
    )
    limits.check(price, max_memory, max_seconds)
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.einsum("...id,...jd->...ij", similarity.apply(q), similarity.apply(k))
        if causal == "prefix":
            weights = np.where(np.arange(n)[None, :] <= np.arange(n)[:, None], weights, 0.0)
        out = np.einsum("...ij,...jc->...ic", weights, v) / (weights.sum(axis=-1) + similarity.eps)[..., None]
    if not np.isfinite(out).all():
        raise NumericalError(
            "feature-map attention is not finite in float64: φ(q)·φ(k) overflows; rescale q and k"
        )
    return out
