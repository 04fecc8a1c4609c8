"""Linear and element-wise attention, run by their own kernels (parallel and recurrent forms).

:func:`polyth.attention` hands a mechanism here when its similarity kernel is not exp
(:mod:`polyth.similarity`):

* a feature map (linear attention, Katharopoulos et al. 2020): ``method="exact"`` *is*
  the low-rank computation φ(Q)(φ(K)ᵀ[V, 1]) (causal: chunked prefix sums of the
  states), :func:`polyth_kernels.linear_attention`; ``method="naive"`` forms the n × n weight
  matrix of the definition; there is no ``"approx"`` (nothing is approximated);
* a Taylor(g) similarity with ``method="approx"``: element-wise attention (Feng 2025,
  per-channel h = −(x1 − x2)², scale 1) runs :func:`polyth_kernels.elementwise_attention`
  (exp(−k²) exact, exp(2qk) to order g, O(g·n·D)); any other Taylor mechanism runs the
  generic polynomial-method path (:mod:`polyth.approximate`) at degree g.
  ``method="exact"`` and ``"naive"`` of a Taylor mechanism compute its exact exp form
  and stay with :mod:`polyth.dispatch`.

:class:`Decoder` is the recurrent form: one token at a time from a constant-size state
(r·dv + r numbers for linear attention, 2(g + 1)·D + D for element-wise attention),
equal to the causal parallel output.
"""

from __future__ import annotations

import time

import numpy as np
import polyth_kernels

from polyth.compute.exact import StepRecord
from polyth.compute.inputs import Inputs, prepare
from polyth.errors import InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp, FeatureMap, Taylor, feature_map_reference

METHODS = ("exact", "naive", "approx")
_ELEMENTWISE = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)


def handles(m: Mechanism, method: str) -> bool:
    """Whether this module computes ``m`` with ``method`` (feature maps; Taylor mechanisms' approx)."""
    return isinstance(m.similarity, FeatureMap) or (isinstance(m.similarity, Taylor) and method == "approx")


def is_elementwise(m: Mechanism) -> bool:
    """h = −(x1 − x2)² per channel with scale 1 and value x2 (up to renaming), any similarity."""
    return m.replace(similarity=Exp(), name=None) == _ELEMENTWISE


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
    """The output of a feature-map or Taylor mechanism (arguments as :func:`polyth.attention`)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not handles(m, method):
        raise InputError(f"polyth.efficient does not compute {m!r} with method={method!r}")
    inputs = prepare(m, Q, V, causal=causal, dtype=dtype)
    if inputs.causal == "nested":  # t = 2: x2 ≤ x1 is the prefix mask
        inputs = prepare(m, Q, V, causal="prefix", dtype=dtype)
    try:
        backend = polyth_kernels.resolve_backend(backend)
    except polyth_kernels.BackendError as exc:
        raise InputError(str(exc)) from None
    start = time.perf_counter()
    if isinstance(m.similarity, FeatureMap):
        if B is not None or eps is not None or degree is not None:
            raise InputError("a feature-map mechanism takes no B, eps or degree: it is computed exactly")
        if method == "approx":
            raise InputError(
                'a feature-map mechanism is exact in linear time: use method="exact" (nothing to approximate)'
            )
        out, steps = _linear(m, inputs, backend, method)
    else:
        out, steps = _taylor(m, inputs, backend, B, eps, degree)
    seconds = time.perf_counter() - start
    if not np.isfinite(out).all():
        raise NumericalError(
            f"{int((~np.isfinite(out)).sum())} outputs are not finite; rescale Q and V or use float64"
        )
    out = inputs.user_shape(out.astype(inputs.dtype, copy=False))
    if return_timings:
        from polyth.compute.front import Timed

        return Timed(out, tuple(steps), seconds, backend, method)
    return out


def _run(kernel, name: str, *args, **kwargs):
    start = time.perf_counter()
    try:
        out = kernel(*args, **kwargs)
    except ValueError as exc:
        raise NumericalError(str(exc)) from None
    return out, StepRecord(-1, name, kernel.__name__, time.perf_counter() - start, (0,))


def _linear(m: Mechanism, inputs: Inputs, backend: str, method: str):
    q, k = inputs.Q
    (v,) = inputs.V.values()
    causal = inputs.causal == "prefix"
    if method == "naive":
        out, record = _run(feature_map_reference, "quadratic_form", m.similarity, q, k, v, inputs.causal)
        return out, [record]
    out, record = _run(
        polyth_kernels.linear_attention,
        "linear_attention",
        q,
        k,
        v,
        causal,
        m.similarity.eps,
        backend=backend,
    )
    return out, [record]


def _taylor(m: Mechanism, inputs: Inputs, backend: str, B, eps, degree):
    order = m.similarity.order
    if B is not None or eps is not None:
        raise InputError(
            f"the Taylor order is fixed by the mechanism's similarity (order {order}); B and eps do not apply"
        )
    if degree is not None and degree != order:
        raise InputError(f"degree={degree} disagrees with the mechanism's Taylor order {order}")
    if not is_elementwise(m):
        from polyth.compute.low_rank import approximate_attention

        return approximate_attention(m, inputs, backend, degree=order)
    q, k = inputs.Q
    (v,) = inputs.V.values()
    out, record = _run(
        polyth_kernels.elementwise_attention,
        "elementwise_taylor",
        q,
        k,
        v,
        order,
        causal=inputs.causal == "prefix",
        backend=backend,
    )
    return out, [record]


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
        try:
            self.backend = polyth_kernels.resolve_backend(backend)
        except polyth_kernels.BackendError as exc:
            raise InputError(str(exc)) from None
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


__all__ = ["Decoder", "attention", "handles", "is_elementwise"]
