"""Low-rank contraction of one factor: attention whose weights are w[i, j] = Φ[i]·Ψ[j].

With Φ (b, nq, r), Ψ (b, nk, r) and values W (b, nk, C):

    z[i]      = Σ_j w[i, j] = Φ[i] · (Σ_j Ψ[j])
    out[i, :] = Σ_j w[i, j] W[j, :] / z[i] = Φ[i] · (Ψᵀ W) / z[i]

in O((nq + nk) · r · C) time and never an nq × nk matrix (Katharopoulos et al. 2020 for
a feature map φ; the polynomial method's Taylor factors, polyth_kernels.features, for exp). A
column of ones appended to W gives z as the last channel of the same product
Φ (Ψᵀ [W, 1]).

causal=True keeps j ≤ i (nq = nk = n): the rows are cut into chunks of T, and for the
chunk c holding row i

    Φ[i] · S_c  +  Σ_{j in chunk c, j ≤ i} (Φ[i]·Ψ[j]) [W, 1][j],     S_c = Σ_{c' < c} Ψ_{c'}ᵀ [W, 1]_{c'}

where the state S_c (r × (C+1)) is the exclusive prefix sum of the chunks' Ψᵀ[W, 1]
and the second term is the masked T × T product inside the chunk. All chunks are
processed at once as a batch of small GEMMs (T ≥ C + 1 keeps the stored states no
larger than Φ). Approximate weights can be negative (odd Taylor orders), so a
denominator z[i] ≤ 0, or any non-finite result, raises ValueError naming how many rows.

CPU: numpy's BLAS matmul; cuda/cudasim: polyth_kernels.gemm's tiled kernel and a scan kernel.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from polyth_kernels.gemm import blocks, gemm_on_device

CHUNK = 64
THREADS = 128


def _with_ones(W: np.ndarray) -> np.ndarray:
    return np.concatenate([W, np.ones(W.shape[:2] + (1,), dtype=W.dtype)], axis=2)


def _chunked(X: np.ndarray, chunk: int) -> np.ndarray:
    """(b, n, m) → (b·nc, chunk, m), zero-padded to nc·chunk rows."""
    nb, n, m = X.shape
    nc = -(-n // chunk)
    padded = np.zeros((nb, nc * chunk, m), dtype=X.dtype)
    padded[:, :n] = X
    return padded.reshape(nb * nc, chunk, m)


# ---------------------------------------------------------------- CPU twin


def _lowrank_cpu(Phi, Psi, W1, causal, chunk):
    if not causal:
        return np.matmul(Phi, np.matmul(Psi.transpose(0, 2, 1), W1))
    nb, n, _ = Phi.shape
    phi, psi, w1 = (_chunked(X, chunk) for X in (Phi, Psi, W1))
    nc = phi.shape[0] // nb
    local = np.matmul(psi.transpose(0, 2, 1), w1).reshape(nb, nc, *psi.shape[2:], w1.shape[2])
    state = np.zeros_like(local)
    np.cumsum(local[:, :-1], axis=1, out=state[:, 1:])
    state = state.reshape(nb * nc, *local.shape[2:])
    inside = np.tril(np.matmul(phi, psi.transpose(0, 2, 1)))
    R = np.matmul(phi, state) + np.matmul(inside, w1)
    return R.reshape(nb, nc * chunk, -1)[:, :n]


# ---------------------------------------------------------------- CUDA


@functools.cache
def _exclusive_scan_kernel(dtype: np.dtype):
    zero = dtype.type(0)

    @cuda.jit
    def scan(local, chunks):
        """In place over the chunk axis: local[b·nc + c, e] ← Σ_{c' < c} local[b·nc + c', e]."""
        task = cuda.grid(1)
        per_chunk = local.shape[1] * local.shape[2]
        if task >= (local.shape[0] // chunks) * per_chunk:
            return
        bb = task // per_chunk
        i = (task % per_chunk) // local.shape[2]
        j = task % local.shape[2]
        running = zero
        for c in range(chunks):
            here = local[bb * chunks + c, i, j]
            local[bb * chunks + c, i, j] = running
            running += here

    return scan


def _lowrank_cuda(Phi, Psi, W1, causal, chunk):
    dtype = Phi.dtype
    if not causal:
        nb, nq, r = Phi.shape
        dPsi = cuda.to_device(np.ascontiguousarray(Psi))
        kv = cuda.device_array((nb, r, W1.shape[2]), dtype=dtype)
        gemm_on_device(dPsi, cuda.to_device(W1), kv, trans_a=True)
        R = cuda.device_array((nb, nq, W1.shape[2]), dtype=dtype)
        gemm_on_device(cuda.to_device(np.ascontiguousarray(Phi)), kv, R)
        return R.copy_to_host()
    nb, n, r = Phi.shape
    phi, psi, w1 = (cuda.to_device(_chunked(X, chunk)) for X in (Phi, Psi, W1))
    batch = phi.shape[0]
    state = cuda.device_array((batch, r, W1.shape[2]), dtype=dtype)
    gemm_on_device(psi, w1, state, trans_a=True)
    nc = batch // nb
    _exclusive_scan_kernel(np.dtype(dtype))[blocks(nb * r * W1.shape[2], THREADS), THREADS](state, nc)
    R = cuda.device_array((batch, chunk, W1.shape[2]), dtype=dtype)
    gemm_on_device(phi, state, R)
    inside = cuda.device_array((batch, chunk, chunk), dtype=dtype)
    gemm_on_device(phi, psi, inside, trans_b=True, lower=True)
    gemm_on_device(inside, w1, R, accumulate=True)
    return R.copy_to_host().reshape(nb, nc * chunk, -1)[:, :n]


# ---------------------------------------------------------------- public


def lowrank_pass(Phi, Psi, W, causal: bool = False, backend: str = "cpu", chunk: int | None = None):
    """z[i] = Σ_j Φ[i]·Ψ[j] and out[i] = Σ_j (Φ[i]·Ψ[j]) W[j] / z[i] (j ≤ i when causal).

    Phi (b, nq, r), Psi (b, nk, r), W (b, nk, C) of one float dtype (or all three without b).
    Returns (z (b, nq), out (b, nq, C)) in that dtype; ValueError if some z[i] ≤ 0 or a result
    is not finite. ``chunk`` (causal only) overrides the chunk length T = max(64, C + 1).
    """
    Phi, Psi, W = (np.asarray(X) for X in (Phi, Psi, W))
    if Phi.dtype not in (np.float32, np.float64) or Psi.dtype != Phi.dtype or W.dtype != Phi.dtype:
        raise ValueError(
            f"lowrank_pass needs Phi, Psi, W of one dtype, float32 or float64; got {Phi.dtype}, "
            f"{Psi.dtype}, {W.dtype}"
        )
    batched = Phi.ndim == 3
    if Phi.ndim not in (2, 3) or Psi.ndim != Phi.ndim or W.ndim != Phi.ndim:
        raise ValueError(
            f"lowrank_pass needs Phi (b, nq, r), Psi (b, nk, r), W (b, nk, C) (or all without b); "
            f"got {Phi.shape}, {Psi.shape}, {W.shape}"
        )
    if not batched:
        Phi, Psi, W = Phi[None], Psi[None], W[None]
    if Psi.shape[0] != Phi.shape[0] or Psi.shape[2] != Phi.shape[2] or W.shape[:2] != Psi.shape[:2]:
        raise ValueError(
            f"lowrank_pass: shapes disagree: Phi {Phi.shape}, Psi {Psi.shape}, W {W.shape} "
            "(batch, rank r and key length nk must match)"
        )
    if causal and Phi.shape[1] != Psi.shape[1]:
        raise ValueError(
            f"lowrank_pass: causal=True needs as many queries as keys, got {Phi.shape[1]} and {Psi.shape[1]}"
        )
    for name, X in (("Phi", Phi), ("Psi", Psi), ("W", W)):
        if not np.isfinite(X).all():
            raise ValueError(f"lowrank_pass: {name} contains NaN or inf")
    W1 = _with_ones(np.ascontiguousarray(W))
    if chunk is None:
        chunk = max(CHUNK, W1.shape[2])
    elif not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"lowrank_pass: chunk must be a positive integer, got {chunk!r}")
    if backend == "cpu":
        R = _lowrank_cpu(Phi, Psi, W1, bool(causal), chunk)
    elif backend in ("cuda", "cudasim"):
        R = _lowrank_cuda(Phi, Psi, W1, bool(causal), chunk)
    else:
        raise ValueError(f"lowrank_pass: unknown backend {backend!r} (cpu, cuda or cudasim)")
    z = np.ascontiguousarray(R[..., -1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = R[..., :-1] / z[..., None]
    bad = ~(z > 0) | ~np.isfinite(out).all(axis=-1)
    if bad.any():
        raise ValueError(
            f"lowrank_pass: the denominator z is ≤ 0 or a result is not finite for {int(bad.sum())} "
            f"of {bad.size} rows (an odd Taylor order can make the approximate weights negative: "
            "use an even order, or the exact method)"
        )
    out = np.ascontiguousarray(out)
    return (z, out) if batched else (z[0], out[0])
