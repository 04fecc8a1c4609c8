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
and the second term is the masked T × T product inside the chunk (T ≥ C keeps the stored
states about as large as Φ). Approximate weights can be negative (odd Taylor orders), so a
denominator z[i] ≤ 0, or any non-finite result, raises ValueError naming how many rows.

CPU (:func:`lowrank_cpu`): three numba passes, one task per (batch entry, chunk) and one BLAS
call per tile: each chunk's state Ψ_cᵀ W_c and key sum, their exclusive scan, then each
chunk's rows Φ_c S_c plus the masked product, divided and checked as they are written; the
last chunk is shorter (nothing is padded), and φ = elu + 1 can be applied to the tiles on the
fly (linear attention). cuda/cudasim (:func:`lowrank_cuda`): polyth_kernels.gemm's tiled
kernel over zero-padded chunks and a scan kernel, the arrays copied in and out once.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.finite import all_finite
from polyth_kernels.gemm import blocks, gemm_on_device
from polyth_kernels.scalar import FASTMATH, softmax_exp
from polyth_kernels.threads import launch

CHUNK = 64
THREADS = 128


def with_ones(W: np.ndarray) -> np.ndarray:
    return np.concatenate([W, np.ones(W.shape[:2] + (1,), dtype=W.dtype)], axis=2)


def _chunked(X: np.ndarray, chunk: int) -> np.ndarray:
    """(b, n, m) → (b·nc, chunk, m), zero-padded to nc·chunk rows."""
    nb, n, m = X.shape
    nc = -(-n // chunk)
    padded = np.zeros((nb, nc * chunk, m), dtype=X.dtype)
    padded[:, :n] = X
    return padded.reshape(nb * nc, chunk, m)


# ---------------------------------------------------------------- CPU twin


@numba.njit(inline="always", fastmath=FASTMATH)
def _tile(X, bb, r0, r1, feature, buffer):
    """Rows r0..r1 of X[bb] copied into ``buffer`` (contiguous, for BLAS), through the feature
    map φ = elu + 1 when ``feature``; returns the filled rows."""
    one = X.dtype.type(1)
    for i in range(r1 - r0):
        for e in range(X.shape[2]):
            x = X[bb, r0 + i, e]
            if feature:
                x = x + one if x > 0 else softmax_exp(x)
            buffer[i, e] = x
    return buffer[: r1 - r0]


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _chunk_states(Psi, W, chunk, feature, local, zlocal):
    """local[b, c] = Ψ_cᵀ W_c and zlocal[b, c] = Σ_{j in chunk c} Ψ[j], one task per (b, chunk)."""
    nb, nk, r = Psi.shape
    nc = local.shape[1]
    for task in prange(nb * nc):
        bb = task // nc
        c = task % nc
        r0 = c * chunk
        r1 = min(nk, r0 + chunk)
        psi = _tile(Psi, bb, r0, r1, feature, np.empty((chunk, r), dtype=Psi.dtype))
        np.dot(psi.T, W[bb, r0:r1], local[bb, c])
        for e in range(r):
            zlocal[bb, c, e] = 0
        for i in range(r1 - r0):
            for e in range(r):
                zlocal[bb, c, e] += psi[i, e]


@numba.njit(parallel=True, cache=True)
def _scan_states(local, zlocal, causal):
    """In place over the chunks of each batch entry: the exclusive prefix sums (causal), or the
    total in chunk 0 (non-causal)."""
    nb, nc, r, C = local.shape
    for task in prange(nb * r):
        bb = task // r
        e = task % r
        z = zlocal.dtype.type(0)
        acc = np.zeros(C, dtype=local.dtype)
        for c in range(nc):
            here = zlocal[bb, c, e]
            for k in range(C):
                value = local[bb, c, e, k]
                if causal:
                    local[bb, c, e, k] = acc[k]
                acc[k] += value
            if causal:
                zlocal[bb, c, e] = z
            z += here
        if not causal:
            zlocal[bb, 0, e] = z
            for k in range(C):
                local[bb, 0, e, k] = acc[k]


@numba.njit(parallel=True, fastmath=FASTMATH - {"nnan"}, cache=True)  # it checks for NaN
def _chunk_rows(Phi, Psi, W, chunk, feature, causal, eps, local, zlocal, z, out):
    """Each chunk's rows: Φ_c S_c (+ the masked Φ_c Ψ_cᵀ W_c inside the chunk when causal),
    divided by z + eps with z = Φ_c z_c (+ the masked row sums); returns how many rows have
    z ≤ 0 or a non-finite output."""
    nb, nq, r = Phi.shape
    C = W.shape[2]
    nc = (nq + chunk - 1) // chunk
    one = Phi.dtype.type(1)
    bad = 0
    for task in prange(nb * nc):
        bb = task // nc
        c = task % nc
        r0 = c * chunk
        r1 = min(nq, r0 + chunk)
        rows = r1 - r0
        state = c if causal else 0
        phi = _tile(Phi, bb, r0, r1, feature, np.empty((chunk, r), dtype=Phi.dtype))
        R = np.empty((rows, C), dtype=Phi.dtype)
        np.dot(phi, local[bb, state], R)
        den = np.empty(rows, dtype=Phi.dtype)
        for i in range(rows):
            total = Phi.dtype.type(0)
            for e in range(r):
                total += phi[i, e] * zlocal[bb, state, e]
            den[i] = total
        if causal:
            psi = _tile(Psi, bb, r0, r1, feature, np.empty((chunk, r), dtype=Phi.dtype))
            A = np.empty((rows, rows), dtype=Phi.dtype)
            np.dot(phi, psi.T, A)
            for i in range(rows):
                for j in range(i + 1, rows):
                    A[i, j] = 0
                for j in range(i + 1):
                    den[i] += A[i, j]
            inside = np.empty((rows, C), dtype=Phi.dtype)
            np.dot(A, W[bb, r0:r1], inside)
            for i in range(rows):
                for k in range(C):
                    R[i, k] += inside[i, k]
        for i in range(rows):
            zi = den[i]
            inv = one / (zi + eps)
            ok = zi > 0
            for k in range(C):
                value = R[i, k] * inv
                out[bb, r0 + i, k] = value
                ok = ok and math.isfinite(value)
            z[bb, r0 + i] = zi
            if not ok:
                bad += 1
    return bad


def lowrank_cpu(Phi, Psi, W, causal, chunk, eps=0.0, feature=False):
    """(z, out, bad rows) on contiguous arrays: the three passes above (states per chunk, their
    scan, the rows), out = numerator / (z + eps), φ = elu + 1 applied on the fly when ``feature``."""
    nb, nq, r = Phi.shape
    C = W.shape[2]
    dtype = Phi.dtype.type
    nc = max(1, -(-Psi.shape[1] // chunk))
    local = np.empty((nb, nc, r, C), dtype=Phi.dtype)
    zlocal = np.empty((nb, nc, r), dtype=Phi.dtype)
    z = np.empty((nb, nq), dtype=Phi.dtype)
    out = np.empty((nb, nq, C), dtype=Phi.dtype)
    work = (nq + Psi.shape[1]) * nb * r * (C + (chunk if causal else 0))
    launch(_chunk_states, work, Psi, W, chunk, feature, local, zlocal)
    launch(_scan_states, local.size, local, zlocal, causal)
    bad = launch(_chunk_rows, work, Phi, Psi, W, chunk, feature, causal, dtype(eps), local, zlocal, z, out)
    return z, out, bad


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


def lowrank_cuda(Phi, Psi, W1, causal, chunk, feature=None):
    """R = Φ (Ψᵀ [W, 1]) (chunked when causal) on the device, from host arrays: each input is
    copied in once (zero-padded to whole chunks first when causal: a padded key has W1 = 0, so
    it adds nothing), φ applied there when ``feature`` (a device kernel over an array in
    place), and R copied out once."""
    dtype = Phi.dtype
    nb, n, r = Phi.shape
    if causal:
        Phi, Psi, W1 = (_chunked(X, chunk) for X in (Phi, Psi, W1))
    phi, psi, w1 = (to_device(np.ascontiguousarray(X)) for X in (Phi, Psi, W1))
    if feature is not None:
        for X in (phi, psi):
            flat = X.reshape(X.size)
            feature[blocks(flat.size, THREADS), THREADS](flat, flat)
    C1 = W1.shape[2]
    if not causal:
        kv = cuda.device_array((nb, r, C1), dtype=dtype)
        gemm_on_device(psi, w1, kv, trans_a=True)
        R = cuda.device_array((nb, n, C1), dtype=dtype)
        gemm_on_device(phi, kv, R)
        return to_host(R)
    batch = phi.shape[0]
    state = cuda.device_array((batch, r, C1), dtype=dtype)
    gemm_on_device(psi, w1, state, trans_a=True)
    nc = batch // nb
    _exclusive_scan_kernel(np.dtype(dtype))[blocks(nb * r * C1, THREADS), THREADS](state, nc)
    R = cuda.device_array((batch, chunk, C1), dtype=dtype)
    gemm_on_device(phi, state, R)
    inside = cuda.device_array((batch, chunk, chunk), dtype=dtype)
    gemm_on_device(phi, psi, inside, trans_b=True, lower=True)
    gemm_on_device(inside, w1, R, accumulate=True)
    return to_host(R).reshape(nb, nc * chunk, -1)[:, :n]


# ---------------------------------------------------------------- public


def lowrank_pass(Phi, Psi, W, causal: bool = False, backend: str = "cpu", chunk: int | None = None):
    """z[i] = Σ_j Φ[i]·Ψ[j] and out[i] = Σ_j (Φ[i]·Ψ[j]) W[j] / z[i] (j ≤ i when causal).

    Phi (b, nq, r), Psi (b, nk, r), W (b, nk, C) of one float dtype (or all three without b).
    Returns (z (b, nq), out (b, nq, C)) in that dtype; ValueError if some z[i] ≤ 0 or a result
    is not finite. ``chunk`` (causal only) overrides the chunk length T = max(64, C).
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
        if not all_finite(X):
            raise ValueError(f"lowrank_pass: {name} contains NaN or inf")
    if chunk is None:
        chunk = max(CHUNK, W.shape[2])
    elif not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"lowrank_pass: chunk must be a positive integer, got {chunk!r}")
    if backend == "cpu":
        Phi, Psi, W = (np.ascontiguousarray(X) for X in (Phi, Psi, W))
        z, out, bad = lowrank_cpu(Phi, Psi, W, bool(causal), int(chunk))
    elif backend in ("cuda", "cudasim"):
        z, out, bad = normalised(lowrank_cuda(Phi, Psi, with_ones(W), bool(causal), chunk))
    else:
        raise ValueError(f"lowrank_pass: unknown backend {backend!r} (cpu, cuda or cudasim)")
    if bad:
        raise ValueError(
            f"lowrank_pass: the denominator z is ≤ 0 or a result is not finite for {bad} "
            f"of {z.size} rows (an odd Taylor order can make the approximate weights negative: "
            "use an even order, or the exact method)"
        )
    return (z, out) if batched else (z[0], out[0])


def normalised(R: np.ndarray, eps: float = 0.0):
    """(z, out, bad rows) from R = Φ Ψᵀ [W, 1] (its last column is z): out = R / (z + eps)."""
    z = np.ascontiguousarray(R[..., -1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.ascontiguousarray(R[..., :-1] / (z + z.dtype.type(eps))[..., None])
    bad = ~(z > 0) | ~np.isfinite(out).all(axis=-1)
    return z, out, int(bad.sum())
