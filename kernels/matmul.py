"""Stabilised matrix contraction in the log domain: eliminating one variable between two
groups of factors (a cycle's chord, the third variable of Strassen attention).

For A (b, I, K), B (b, J, K) and optional values W (b, K, C):

    Z[i, j]      = Σ_k exp(A[i, k] + B[j, k])                    logz = log Z   (b, I, J)
    out[i, j, :] = Σ_k exp(A[i, k] + B[j, k]) · W[k, :] / Z[i, j]                 (b, I, J, C)

e.g. eliminating x3 from exp(S13(l1, l3)) · exp(S23(l2, l3)) · V3(l3) in Strassen attention
(Kozachinskiy et al. 2025) with A = S13, B = S23, W = V3.

Stabilisation: with row maxima a_i = max_k A[i, k] and b_j = max_k B[j, k], the shifted
factors E_A = exp(A − a) and E_B = exp(B − b) lie in [0, 1], so the two GEMMs

    Ẑ = E_A · E_Bᵀ,        R[i, j, c] = Σ_k E_A[i, k] · (E_B[j, k] W[k, c])

cannot overflow, and logz = a_i + b_j + log Ẑ, out = R / Ẑ. They can underflow: when
the best k for the pair (i, j) is far from both row maxima, Ẑ[i, j] is 0 or subnormal.
Each underflowed factor or product changes Ẑ by at most the smallest normal number
``tiny`` (both factors are ≤ 1), so |Ẑ − Ẑ_exact| ≤ 2·K·tiny; below the threshold
4·K·tiny / eps the relative error could exceed the dtype's eps. Those entries (and only
those; their number is returned as ``recomputed``) are rescued: for float32 input the
shifted GEMMs are repeated in float64 for the rows that hold them (float64 reaches
e^−708 where float32 stops at e^−87), and whatever still underflows, as well as every
underflowed float64 entry, is recomputed exactly by a direct log-sum-exp over k.

−inf entries of A or B are masks (a factor 0): an (i, j) with no finite A[i,k] + B[j,k]
has logz = −inf and out = 0. NaN or +inf in A or B, or any non-finite W, is a ValueError.

Both GEMMs are one: a column of ones appended to W makes Ẑ the last channel of R, so
R = E_A @ G with G[k, (j, c)] = E_B[j, k] · [W, 1][k, c] (K × J(C+1)). On the CPU that is
numpy's BLAS matmul over blocks of columns j (G and R stay near BLOCK_ELEMENTS) and numba
for the element-wise passes; on cuda/cudasim it is the tiled kernel of ``kernels.gemm``
plus element-wise kernels (G and R whole on the device).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda, prange

from kernels.gemm import blocks, gemm_on_device

THREADS = 128
BLOCK_ELEMENTS = 1 << 23  # CPU: about this many elements in each block of G (K × Jb(C+1)) and R


def underflow_threshold(dtype: np.dtype, k: int) -> float:
    """Ẑ below 4·K·tiny/eps may have lost relative precision to underflow (see the module docstring)."""
    info = np.finfo(dtype)
    return float(4.0 * max(k, 1) * info.tiny / info.eps)


def _exact_entry(A, B, W, bb, i, j, logz, out):
    """logz[bb, i, j] and out[bb, i, j, :] by a direct two-pass log-sum-exp over k, on float64 arrays
    (out[bb, i, j, :] is the accumulator; W with C = 0 channels means no values)."""
    K = A.shape[2]
    C = out.shape[3]
    best = -math.inf
    for k in range(K):
        best = max(best, A[bb, i, k] + B[bb, j, k])
    for c in range(C):
        out[bb, i, j, c] = 0.0
    if best == -math.inf:
        logz[bb, i, j] = -math.inf
        return
    total = 0.0
    for k in range(K):
        weight = math.exp(A[bb, i, k] + B[bb, j, k] - best)
        total += weight
        for c in range(C):
            out[bb, i, j, c] += weight * W[bb, k, c]
    for c in range(C):
        out[bb, i, j, c] /= total
    logz[bb, i, j] = best + math.log(total)


_exact_entry_cpu = numba.njit(inline="always")(_exact_entry)
_exact_entry_cuda = cuda.jit(device=True)(_exact_entry)


# ---------------------------------------------------------------- CPU twin


def _shift_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row maxima m and exp(X − m) in [0, 1] (rows that are all −inf give m = −inf and zeros)."""
    m = X.max(axis=-1)
    safe = np.where(np.isneginf(m), 0, m).astype(X.dtype)
    return m, np.exp(X - safe[..., None])


@numba.njit(parallel=True, cache=True)
def _values_times_columns_cpu(EB, W, j0, G):
    """G[b, k, jj·(C+1) + c] = E_B[b, j0 + jj, k] · W[b, k, c], and E_B[b, j0 + jj, k] itself for c = C."""
    nb, K, width = G.shape
    C = W.shape[2]
    for task in prange(nb * K):
        bb = task // K
        k = task % K
        for jj in range(width // (C + 1)):
            e = EB[bb, j0 + jj, k]
            base = jj * (C + 1)
            for c in range(C):
                G[bb, k, base + c] = e * W[bb, k, c]
            G[bb, k, base + C] = e


@numba.njit(parallel=True, cache=True)
def _finish_cpu(row_max, col_max, R, j0, threshold, logz, out, flags):
    """For the columns j0 + jj of the block R (b, I, Jb, C + 1): logz = a + b + log Ẑ and out = R / Ẑ,
    or flags = 1 where Ẑ < threshold (left for the rescue)."""
    nb, I, Jb, C1 = R.shape
    C = C1 - 1
    for task in prange(nb * I):
        bb = task // I
        i = task % I
        for jj in range(Jb):
            j = j0 + jj
            z = R[bb, i, jj, C]
            if z >= threshold:
                logz[bb, i, j] = row_max[bb, i] + col_max[bb, j] + math.log(z)
                inv = 1.0 / z
                for c in range(C):
                    out[bb, i, j, c] = R[bb, i, jj, c] * inv
            else:
                flags[bb, i, j] = 1


@numba.njit(parallel=True, cache=True)
def _exact_entries_cpu(A, B, W, entries, logz, out):
    for e in prange(entries.shape[0]):
        _exact_entry_cpu(A, B, W, entries[e, 0], entries[e, 1], entries[e, 2], logz, out)


def _shifted_pass_cpu(A, B, W, threshold):
    """The shifted GEMMs by blocks of columns j, so that G and R stay near BLOCK_ELEMENTS each."""
    nb, I, K = A.shape
    J = B.shape[1]
    C = W.shape[2]
    row_max, EA = _shift_rows(A)
    col_max, EB = _shift_rows(B)
    logz = np.empty((nb, I, J), dtype=A.dtype)
    out = np.empty((nb, I, J, C), dtype=A.dtype)
    flags = np.zeros((nb, I, J), dtype=np.int8)
    width = max(1, BLOCK_ELEMENTS // (max(I, K) * (C + 1)))
    for j0 in range(0, J, width):
        jb = min(width, J - j0)
        if C == 0:
            R = np.matmul(EA, EB[:, j0 : j0 + jb].transpose(0, 2, 1))[..., None]
        else:
            G = np.empty((nb, K, jb * (C + 1)), dtype=A.dtype)
            _values_times_columns_cpu(EB, W, j0, G)
            R = np.matmul(EA, G).reshape(nb, I, jb, C + 1)
        _finish_cpu(row_max, col_max, R, j0, A.dtype.type(threshold), logz, out, flags)
    return logz, out, flags


# ---------------------------------------------------------------- CUDA


@cuda.jit
def _shift_rows_kernel(X, row_max, E):
    """One thread per (batch, row): m = max_k X[row, k], E[row, :] = exp(X[row, :] − m)."""
    task = cuda.grid(1)
    rows = X.shape[1]
    if task >= X.shape[0] * rows:
        return
    bb = task // rows
    r = task % rows
    m = X[bb, r, 0]
    for k in range(1, X.shape[2]):
        m = max(m, X[bb, r, k])
    row_max[bb, r] = m
    for k in range(X.shape[2]):
        if m == -math.inf:
            E[bb, r, k] = 0
        else:
            E[bb, r, k] = math.exp(X[bb, r, k] - m)


@cuda.jit
def _values_times_columns_kernel(EB, W, G):
    """G[b, k, j·(C+1) + c] = E_B[b, j, k] · W[b, k, c], and E_B[b, j, k] itself for c = C."""
    task = cuda.grid(1)
    nb, K, JC1 = G.shape
    if task >= nb * K * JC1:
        return
    bb = task // (K * JC1)
    rest = task % (K * JC1)
    k = rest // JC1
    col = rest % JC1
    C1 = W.shape[2] + 1
    j = col // C1
    c = col % C1
    if c == C1 - 1:
        G[bb, k, col] = EB[bb, j, k]
    else:
        G[bb, k, col] = EB[bb, j, k] * W[bb, k, c]


@cuda.jit
def _finish_kernel(row_max, col_max, R, threshold, logz, out, flags):
    """One thread per (batch, i, j): the CUDA twin of ``_finish_cpu``."""
    task = cuda.grid(1)
    nb, I, J = logz.shape
    if task >= nb * I * J:
        return
    bb = task // (I * J)
    i = (task // J) % I
    j = task % J
    C = out.shape[3]
    z = R[bb, i, j * (C + 1) + C]
    if z >= threshold:
        logz[bb, i, j] = row_max[bb, i] + col_max[bb, j] + math.log(z)
        for c in range(C):
            out[bb, i, j, c] = R[bb, i, j * (C + 1) + c] / z
    else:
        flags[bb, i, j] = 1


@cuda.jit
def _exact_entries_kernel(A, B, W, entries, logz, out):
    e = cuda.grid(1)
    if e < entries.shape[0]:
        _exact_entry_cuda(A, B, W, entries[e, 0], entries[e, 1], entries[e, 2], logz, out)


def _shifted_pass_cuda(A, B, W, threshold):
    nb, I, K = A.shape
    J = B.shape[1]
    C = W.shape[2]
    dtype = A.dtype
    row_max = cuda.device_array((nb, I), dtype=dtype)
    col_max = cuda.device_array((nb, J), dtype=dtype)
    EA = cuda.device_array((nb, I, K), dtype=dtype)
    EB = cuda.device_array((nb, J, K), dtype=dtype)
    _shift_rows_kernel[blocks(nb * I, THREADS), THREADS](cuda.to_device(A), row_max, EA)
    _shift_rows_kernel[blocks(nb * J, THREADS), THREADS](cuda.to_device(B), col_max, EB)
    R = cuda.device_array((nb, I, J * (C + 1)), dtype=dtype)
    if C == 0:
        gemm_on_device(EA, EB, R, trans_b=True)
    else:
        G = cuda.device_array((nb, K, J * (C + 1)), dtype=dtype)
        _values_times_columns_kernel[blocks(G.size, THREADS), THREADS](EB, cuda.to_device(W), G)
        gemm_on_device(EA, G, R)
    logz = cuda.device_array((nb, I, J), dtype=dtype)
    out = cuda.device_array((nb, I, J, C), dtype=dtype)
    flags = cuda.to_device(np.zeros((nb, I, J), dtype=np.int8))
    _finish_kernel[blocks(nb * I * J, THREADS), THREADS](
        row_max, col_max, R, dtype.type(threshold), logz, out, flags
    )
    return logz.copy_to_host(), out.copy_to_host(), flags.copy_to_host()


def _exact_entries_cuda(A, B, W, entries, logz, out):
    d_logz, d_out = cuda.to_device(logz), cuda.to_device(out)
    args = [cuda.to_device(x) for x in (A, B, W, entries)]
    _exact_entries_kernel[blocks(len(entries), THREADS), THREADS](*args, d_logz, d_out)
    logz[...] = d_logz.copy_to_host()
    out[...] = d_out.copy_to_host()


# ---------------------------------------------------------------- the rescue of underflowed entries


def _shifted_pass(A, B, W, backend):
    threshold = underflow_threshold(A.dtype, A.shape[2])
    run = _shifted_pass_cpu if backend == "cpu" else _shifted_pass_cuda
    return run(A, B, W, threshold)


def _exact_entries(A, B, W, entries, logz, out, backend):
    """Direct log-sum-exp for the listed (b, i, j) on float64 arrays, in place."""
    run = _exact_entries_cpu if backend == "cpu" else _exact_entries_cuda
    run(A, B, W, np.ascontiguousarray(entries, dtype=np.int64), logz, out)


def _rescue(A, B, W, entries, logz, out, backend):
    """Recompute the underflowed entries: a float32 input first repeats the shifted GEMMs in
    float64 for the rows holding them (float64's range reaches e^−708 instead of e^−87); whatever
    still underflows there, and every underflowed float64 entry, gets the exact log-sum-exp."""
    if A.dtype == np.float64:
        _exact_entries(A, B, W, entries, logz, out, backend)
        return
    for bb in np.unique(entries[:, 0]):
        mine = entries[entries[:, 0] == bb]
        rows = np.unique(mine[:, 1])
        A64, B64, W64 = (X.astype(np.float64)[None] for X in (A[bb, rows], B[bb], W[bb]))
        logz64, out64, flags64 = _shifted_pass(A64, B64, W64, backend)
        still = np.argwhere(flags64)
        if len(still):
            _exact_entries(A64, B64, W64, still, logz64, out64, backend)
        local = np.searchsorted(rows, mine[:, 1])
        logz[bb, mine[:, 1], mine[:, 2]] = logz64[0, local, mine[:, 2]]
        out[bb, mine[:, 1], mine[:, 2]] = out64[0, local, mine[:, 2]]


# ---------------------------------------------------------------- public


def _checked(A, B, W):
    A = np.asarray(A)
    B = np.asarray(B)
    if A.dtype not in (np.float32, np.float64) or B.dtype != A.dtype:
        raise ValueError(
            f"lse_matmul needs A and B of one dtype, float32 or float64; got {A.dtype}, {B.dtype}"
        )
    batched = A.ndim == 3
    if A.ndim not in (2, 3) or B.ndim != A.ndim:
        raise ValueError(
            f"lse_matmul needs A (b, I, K) and B (b, J, K) (or both without b); got {A.shape} and {B.shape}"
        )
    if not batched:
        A, B = A[None], B[None]
    if A.shape[0] != B.shape[0] or A.shape[2] != B.shape[2]:
        raise ValueError(
            f"lse_matmul: A {A.shape} and B {B.shape} must share the batch and the last (k) axis"
        )
    if A.shape[2] == 0:
        raise ValueError("lse_matmul: the eliminated axis k is empty")
    for name, X in (("A", A), ("B", B)):
        if np.isnan(X).any() or np.isposinf(X).any():
            raise ValueError(
                f"lse_matmul: {name} contains NaN or +inf (only -inf, a masked entry, is allowed)"
            )
    if W is not None:
        W = np.asarray(W)
        if not batched:
            W = W[None]
        if W.ndim != 3 or W.shape[:2] != (A.shape[0], A.shape[2]):
            raise ValueError(
                f"lse_matmul: W must be (b, K, C) = ({A.shape[0]}, {A.shape[2]}, C), got {W.shape}"
            )
        if W.dtype != A.dtype:
            raise ValueError(f"lse_matmul: W has dtype {W.dtype}, A and B have {A.dtype}")
        if not np.isfinite(W).all():
            raise ValueError("lse_matmul: W contains NaN or inf")
        W = np.ascontiguousarray(W)
    return np.ascontiguousarray(A), np.ascontiguousarray(B), W, batched


def lse_matmul(A, B, W=None, backend: str = "cpu"):
    """Stabilised contraction over k (see the module docstring).

    A (b, I, K), B (b, J, K), W (b, K, C) or None; all three without b is also accepted.
    Returns (logz (b, I, J), out (b, I, J, C) or None, recomputed: int), in the input dtype.
    backend: "cpu", "cuda" or "cudasim" (already resolved).
    """
    A, B, W, batched = _checked(A, B, W)
    C = 0 if W is None else W.shape[2]
    if W is not None and C == 0:
        raise ValueError("lse_matmul: W has no channels (C = 0); pass W=None for the normaliser alone")
    if backend not in ("cpu", "cuda", "cudasim"):
        raise ValueError(f"lse_matmul: unknown backend {backend!r} (cpu, cuda or cudasim)")
    values = W if C else np.zeros((A.shape[0], A.shape[2], 0), dtype=A.dtype)
    logz, out, flags = _shifted_pass(A, B, values, backend)
    entries = np.argwhere(flags)
    recomputed = len(entries)
    if recomputed:
        _rescue(A, B, values, entries, logz, out, backend)
    if W is None:
        out = None
    elif not batched:
        out = out[0]
    if not batched:
        logz = logz[0]
    return logz, out, recomputed
