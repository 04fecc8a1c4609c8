"""Linear attention (Katharopoulos et al. 2020): feature map, parallel forms and the recurrent step.

With a feature map φ (here φ(x) = elu(x) + 1 > 0, element-wise, d_φ = d):

    out_i = φ(q_i)ᵀ S_i / (φ(q_i)ᵀ z_i + eps),   S_i = Σ_{j ∈ J(i)} φ(k_j) v_jᵀ,   z_i = Σ_{j ∈ J(i)} φ(k_j)

with J(i) every j (non-causal) or j ≤ i (causal). The parallel forms are
:func:`polyth_kernels.lowrank_pass` with Φ = φ(Q), Ψ = φ(K): two GEMMs through the (r × dv)
state when non-causal, chunked prefix sums of the states when causal; O(n·d·dv) time.
The recurrent form updates the state one token at a time (the paper's RNN view):

    S ← S + φ(k) vᵀ,   z ← z + φ(k),   out = φ(q)ᵀ S / (φ(q)ᵀ z + eps)

in O(r·dv) time and memory per token, whatever the position. Running the step over
a sequence gives exactly the causal parallel output.

CPU: numba ``njit(parallel=True)`` twins; cuda/cudasim: numba CUDA kernels (one block
per batch entry for the step, one thread per element for the feature map).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.finite import all_finite
from polyth_kernels.gemm import blocks
from polyth_kernels.lowrank import CHUNK, lowrank_cpu, lowrank_cuda, normalised, with_ones
from polyth_kernels.scalar import FASTMATH, softmax_exp
from polyth_kernels.threads import launch

THREADS = 128
STEP_THREADS = 64
FEATURE_MAPS = ("elu+1",)


def _check_backend(backend: str, what: str) -> None:
    if backend not in ("cpu", "cuda", "cudasim"):
        raise ValueError(f"{what}: unknown backend {backend!r} (cpu, cuda or cudasim)")


def _float_dtype(what: str, *arrays) -> np.dtype:
    dtype = arrays[0].dtype
    if dtype not in (np.float32, np.float64) or any(a.dtype != dtype for a in arrays):
        raise ValueError(
            f"{what} needs arrays of one float dtype (float32 or float64); "
            f"got {[str(a.dtype) for a in arrays]}"
        )
    return dtype


# ---------------------------------------------------------------- feature map φ = elu + 1


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _elu_plus_one_cpu(x, out):
    flat_x = x.reshape(-1)
    flat_out = out.reshape(-1)
    one = x.dtype.type(1)
    for i in prange(flat_x.size):
        v = flat_x[i]
        flat_out[i] = v + one if v > 0 else softmax_exp(v)


@functools.cache
def _elu_plus_one_kernel(dtype: np.dtype):
    one = dtype.type(1)

    @cuda.jit
    def elu(x, out):
        i = cuda.grid(1)
        if i < x.size:
            v = x[i]
            out[i] = v + one if v > 0 else math.exp(v)

    return elu


def feature_map(X, name: str = "elu+1", backend: str = "cpu") -> np.ndarray:
    """φ(X) element-wise, in X's dtype (float32/float64): ``elu+1`` is x + 1 for x > 0, e^x otherwise."""
    _check_backend(backend, "feature_map")
    if name not in FEATURE_MAPS:
        raise ValueError(
            f"feature_map: unknown feature map {name!r}; choose one of {', '.join(FEATURE_MAPS)}"
        )
    X = np.ascontiguousarray(X)
    dtype = _float_dtype("feature_map", X)
    if not all_finite(X):
        raise ValueError("feature_map: the input contains NaN or inf")
    out = np.empty_like(X)
    if backend == "cpu":
        launch(_elu_plus_one_cpu, X.size * 8, X, out)
        return out
    flat = to_device(X.reshape(-1))
    dout = cuda.device_array(X.size, dtype=dtype)
    _elu_plus_one_kernel(np.dtype(dtype))[blocks(X.size, THREADS), THREADS](flat, dout)
    return to_host(dout).reshape(X.shape)


# ---------------------------------------------------------------- parallel forms


def linear_attention(
    Q, K, V, causal: bool = False, eps: float = 1e-6, backend: str = "cpu", chunk: int | None = None
) -> np.ndarray:
    """Linear attention with φ = elu + 1: Q, K (b, n, d), V (b, n, dv) → out (b, n, dv).

    Non-causal: φ(Q) (φ(K)ᵀ [V, 1]); causal: chunked prefix sums of the states (``chunk`` rows per
    chunk), both by the passes of :func:`polyth_kernels.lowrank_pass` (on the CPU with φ applied
    tile by tile). ``eps`` is added to every denominator.
    """
    Q, K, V = (np.asarray(X) for X in (Q, K, V))
    if Q.ndim != 3 or K.shape != Q.shape or V.ndim != 3 or V.shape[:2] != Q.shape[:2]:
        raise ValueError(
            f"linear_attention needs Q, K (b, n, d) and V (b, n, dv); got {Q.shape}, {K.shape}, {V.shape}"
        )
    if not (eps >= 0 and math.isfinite(eps)):
        raise ValueError(f"linear_attention: eps must be a finite number ≥ 0, got {eps!r}")
    _check_backend(backend, "linear_attention")
    dtype = _float_dtype("linear_attention", Q, K, V)
    for name, X in (("Q", Q), ("K", K), ("V", V)):
        if not all_finite(X):
            raise ValueError(f"linear_attention: {name} contains NaN or inf")
    if chunk is None:
        chunk = max(CHUNK, V.shape[2])
    elif not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"linear_attention: chunk must be a positive integer, got {chunk!r}")
    Q, K, V = (np.ascontiguousarray(X) for X in (Q, K, V))
    if backend == "cpu":  # φ applied tile by tile inside the passes (no φ(Q), φ(K) arrays)
        _, out, bad = lowrank_cpu(Q, K, V, bool(causal), int(chunk), eps, feature=True)
    else:  # Q, K, [V, 1] copied in once, φ applied on the device, R copied out once
        R = lowrank_cuda(Q, K, with_ones(V), bool(causal), int(chunk), _elu_plus_one_kernel(np.dtype(dtype)))
        _, out, bad = normalised(R, eps)
    if bad:
        raise ValueError(
            f"linear_attention: {bad} of {Q.shape[0] * Q.shape[1]} outputs are not finite; rescale V"
        )
    return out


# ---------------------------------------------------------------- recurrent step


@numba.njit(parallel=True, cache=True)
def _step_cpu(S, z, q, k, v, eps, out):
    b, r, dv = S.shape
    for bb in prange(b):
        den = eps
        for rho in range(r):
            z[bb, rho] += k[bb, rho]
            den += q[bb, rho] * z[bb, rho]
        for c in range(dv):
            out[bb, c] = 0
        for rho in range(r):
            krho = k[bb, rho]
            qrho = q[bb, rho]
            for c in range(dv):
                S[bb, rho, c] += krho * v[bb, c]
                out[bb, c] += qrho * S[bb, rho, c]
        for c in range(dv):
            out[bb, c] /= den


@functools.cache
def _step_kernel(dtype: np.dtype):
    zero = dtype.type(0)

    @cuda.jit
    def step(S, z, q, k, v, eps, out):
        """Block bb owns batch entry bb; its threads stride over the value columns c."""
        bb = cuda.blockIdx.x
        r = S.shape[1]
        dv = S.shape[2]
        den = eps
        for rho in range(r):  # every thread reads the old z before any thread writes it
            den += q[bb, rho] * (z[bb, rho] + k[bb, rho])
        cuda.syncthreads()
        for rho in range(cuda.threadIdx.x, r, cuda.blockDim.x):
            z[bb, rho] += k[bb, rho]
        for c in range(cuda.threadIdx.x, dv, cuda.blockDim.x):
            acc = zero
            vc = v[bb, c]
            for rho in range(r):
                s = S[bb, rho, c] + k[bb, rho] * vc
                S[bb, rho, c] = s
                acc += q[bb, rho] * s
            out[bb, c] = acc / den

    return step


def linear_state(b: int, r: int, dv: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The empty recurrent state: S (b, r, dv) and z (b, r), zeros."""
    return np.zeros((b, r, dv), dtype=dtype), np.zeros((b, r), dtype=dtype)


def linear_step(S, z, q_feat, k_feat, v, eps: float = 0.0, backend: str = "cpu"):
    """One token of causal linear attention: (out (b, dv), new S (b, r, dv), new z (b, r)).

    S, z: the state after the previous tokens (:func:`linear_state` at the start); q_feat, k_feat
    (b, r): the token's query and key *features* φ(q), φ(k); v (b, dv). The state arrays are
    updated in place on the CPU (and returned); the step costs O(r·dv) whatever the position.
    Raises ValueError if the denominator is ≤ 0 or a result is not finite.
    """
    _check_backend(backend, "linear_step")
    S, z, q_feat, k_feat, v = (np.asarray(X) for X in (S, z, q_feat, k_feat, v))
    dtype = _float_dtype("linear_step", S, z, q_feat, k_feat, v)
    if S.ndim != 3 or z.shape != S.shape[:2] or q_feat.shape != z.shape or k_feat.shape != z.shape:
        raise ValueError(
            f"linear_step needs S (b, r, dv), z, q_feat, k_feat (b, r); got {S.shape}, {z.shape}, "
            f"{q_feat.shape}, {k_feat.shape}"
        )
    if v.shape != (S.shape[0], S.shape[2]):
        raise ValueError(f"linear_step needs v of shape (b, dv) = {(S.shape[0], S.shape[2])}, got {v.shape}")
    if not (eps >= 0 and math.isfinite(eps)):
        raise ValueError(f"linear_step: eps must be a finite number ≥ 0, got {eps!r}")
    eps = dtype.type(eps)
    out = np.empty((S.shape[0], S.shape[2]), dtype=dtype)
    if backend == "cpu":
        S, z = np.ascontiguousarray(S), np.ascontiguousarray(z)
        launch(_step_cpu, S.size * 2, S, z, q_feat, k_feat, v, eps, out)
    else:
        dS, dz = to_device(np.ascontiguousarray(S)), to_device(np.ascontiguousarray(z))
        dout = cuda.device_array_like(out)
        args = (to_device(np.ascontiguousarray(X)) for X in (q_feat, k_feat, v))
        _step_kernel(np.dtype(dtype))[S.shape[0], STEP_THREADS](dS, dz, *args, eps, dout)
        S, z, out = to_host(dS), to_host(dz), to_host(dout)
    if not np.isfinite(out).all():
        raise ValueError(
            "linear_step: the output is not finite (a denominator φ(q)·z + eps is 0, or the state overflowed)"
        )
    return out, S, z


__all__ = ["FEATURE_MAPS", "feature_map", "linear_attention", "linear_state", "linear_step"]
