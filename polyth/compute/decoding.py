"""The recurrent form: causal decoding one token at a time from a constant-size state.

A causal mechanism whose factors are low rank has a state of constant size: for linear
attention (Katharopoulos et al. 2020) S = Σ_{j ≤ i} φ(k_j) v_jᵀ and z = Σ_{j ≤ i} φ(k_j)
(r·dv + r numbers), for element-wise attention (Feng 2025) the order-g moments per channel
(2(g + 1)·D + D numbers). Each step adds one token and reads its output: the same as row i of
``polyth.attention(m, …, causal="prefix")``, at a cost per token that does not grow with i
(:func:`polyth.theory.cost.recurrent_form` predicts it from the plan).

Example::

    >>> import numpy as np
    >>> from polyth.mechanism import zoo
    >>> dec = Decoder(zoo.linear(), d=2)
    >>> dec.step(np.zeros(2), np.zeros(2), np.ones(2))   # the first token attends to itself
    array([[1., 1.]])
"""

from __future__ import annotations

import numpy as np

import polyth_kernels
from polyth.compute.backend import resolve as resolve_backend
from polyth.compute.elementwise import is_elementwise
from polyth.errors import InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import FeatureMap, Taylor


class Decoder:
    """Causal decoding one token at a time from a constant-size state (the recurrent form).

    ``m``: a feature-map mechanism (linear attention) or element-wise attention with a Taylor
    similarity. :meth:`step` takes the new token's q, k (b, d) and v (b, dv) and returns its
    output (b, dv): the same as row i of ``polyth.attention(m, …, causal="prefix")``.
    """

    def __init__(
        self,
        m: Mechanism,
        d: int,
        dv: int | None = None,
        batch: int = 1,
        dtype=np.float64,
        backend: str = "auto",
    ):
        if not isinstance(m, Mechanism):
            raise InputError(f"expected a polyth.Mechanism, got {type(m).__name__}")
        for name, value in (("d", d), ("batch", batch)) + ((("dv", dv),) if dv is not None else ()):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise InputError(f"dtype must be float32 or float64, got {self.dtype}")
        self.backend = resolve_backend(backend)
        self.mechanism, self.batch, self.d = m, batch, d
        if isinstance(m.similarity, FeatureMap):
            self.dv = d if dv is None else dv
            self._state = polyth_kernels.linear_state(batch, d, self.dv, self.dtype)
        elif isinstance(m.similarity, Taylor) and is_elementwise(m):
            if dv not in (None, d):
                raise InputError(f"element-wise attention is per channel: dv = d = {d}, got dv = {dv}")
            self.dv = d
            self._state = polyth_kernels.elementwise_state(batch, d, m.similarity.order, self.dtype)
        else:
            raise InputError(
                "a recurrent form exists here for linear attention (a feature map) and element-wise "
                f"attention (a Taylor similarity); got {m!r}"
            )
        self.position = 0

    @property
    def state_size(self) -> int:
        """Numbers held in the state (per batch entry): constant in the position."""
        return sum(int(np.prod(s.shape[1:])) for s in self._state)

    def _vector(self, name: str, x, width: int) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.shape == (width,) and self.batch == 1:
            x = x[None]
        if x.shape != (self.batch, width):
            raise InputError(f"{name} must have shape ({self.batch}, {width}), got {x.shape}")
        if not np.isfinite(x).all():
            raise InputError(f"{name} contains NaN or inf")
        return x

    def step(self, q, k, v) -> np.ndarray:
        """Add the token (q, k, v) to the state and return its output (b, dv)."""
        q, k = self._vector("q", q, self.d), self._vector("k", k, self.d)
        v = self._vector("v", v, self.dv)
        try:
            if isinstance(self.mechanism.similarity, FeatureMap):
                S, z = self._state
                q_feat = polyth_kernels.feature_map(q, self.mechanism.similarity.name, backend=self.backend)
                k_feat = polyth_kernels.feature_map(k, self.mechanism.similarity.name, backend=self.backend)
                out, S, z = polyth_kernels.linear_step(
                    S, z, q_feat, k_feat, v, self.mechanism.similarity.eps, backend=self.backend
                )
                self._state = (S, z)
            else:
                M, N, shift = self._state
                out, M, N, shift = polyth_kernels.elementwise_step(
                    M, N, shift, q, k, v, self.mechanism.similarity.order, backend=self.backend
                )
                self._state = (M, N, shift)
        except ValueError as exc:
            raise NumericalError(str(exc)) from None
        self.position += 1
        return out
