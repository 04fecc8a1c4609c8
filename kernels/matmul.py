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
those) are recomputed exactly by a direct log-sum-exp over k (float64 accumulation), and
their number is returned as ``recomputed``.

−inf entries of A or B are masks (a factor 0): an (i, j) with no finite A[i,k] + B[j,k]
has logz = −inf and out = 0. NaN or +inf in A or B, or any non-finite W, is a ValueError.

Both GEMMs are one: a column of ones appended to W makes Ẑ the last channel of R, so
R = E_A @ G with G[k, (j, c)] = E_B[j, k] · [W, 1][k, c] (K × J(C+1)). On the CPU that is
numpy's BLAS matmul and numba for the finishing pass; on cuda/cudasim it is the tiled
kernel of ``kernels.gemm`` plus element-wise kernels.
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
    """logz[bb, i, j] and out[bb, i, j, :] by a direct two-pass log-sum-exp over k (float64).

    ``W.shape[2] == 0`` means no values. Shared by the CPU twin and the CUDA finishing kernel.
    """
    K = A.shape[2]
    C = out.shape[3]
    best = -math.inf
    for k in range(K):
        s = float(A[bb, i, k]) + float(B[bb, j, k])
        if s > best:
            best = s
    for c in range(C):
        out[bb, i, j, c] = 0.0
    if best == -math.inf:
        logz[bb, i, j] = -math.inf
        return
    total = 0.0
    for k in range(K):
        weight = math.exp(float(A[bb, i, k]) + float(B[bb, j, k]) - best)
        total += weight
    for c in range(C):
        acc = 0.0
        for k in range(K):
            weight = math.exp(float(A[bb, i, k]) + float(B[bb, j, k]) - best)
            acc += weight * float(W[bb, k, c])
        out[bb, i, j, c] = acc / total
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
def _finish_cpu(A, B, W, row_max, col_max, R, j0, threshold, logz, out, recomputed):
    """For the columns j0 + jj of the block R (b, I, Jb, C + 1): logz = a + b + log Ẑ and out = R / Ẑ,
    or an exact recompute where Ẑ < threshold."""
    nb, I, Jb, C1 = R.shape
    C = C1 - 1
    for task in prange(nb * I):
        bb = task // I
        i = task % I
        count = 0
        for jj in range(Jb):
            j = j0 + jj
            z = R[bb, i, jj, C]
            if z >= threshold:
                logz[bb, i, j] = row_max[bb, i] + col_max[bb, j] + math.log(z)
                inv = 1.0 / z
                for c in range(C):
                    out[bb, i, j, c] = R[bb, i, jj, c] * inv
            else:
                _exact_entry_cpu(A, B, W, bb, i, j, logz, out)
                count += 1
        recomputed[task] += count


def _lse_matmul_cpu(A, B, W, C, threshold):
    """Blocks of columns j keep the GEMM operand G and the raw product R near BLOCK_ELEMENTS each."""
    nb, I, K = A.shape
    J = B.shape[1]
    row_max, EA = _shift_rows(A)
    col_max, EB = _shift_rows(B)
    logz = np.empty((nb, I, J), dtype=A.dtype)
    out = np.empty((nb, I, J, C), dtype=A.dtype)
    counts = np.zeros(nb * I, dtype=np.int64)
    threshold = A.dtype.type(threshold)
    width = max(1, BLOCK_ELEMENTS // (max(I, K) * (C + 1)))
    for j0 in range(0, J, width):
        jb = min(width, J - j0)
        if C == 0:
            R = np.matmul(EA, EB[:, j0 : j0 + jb].transpose(0, 2, 1))[..., None]
        else:
            G = np.empty((nb, K, jb * (C + 1)), dtype=A.dtype)
            _values_times_columns_cpu(EB, W, j0, G)
            R = np.matmul(EA, G).reshape(nb, I, jb, C + 1)
        _finish_cpu(A, B, W, row_max, col_max, R, j0, threshold, logz, out, counts)
    return logz, out, int(counts.sum())


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
def _finish_kernel(A, B, W, row_max, col_max, R, threshold, logz, out, recomputed):
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
        _exact_entry_cuda(A, B, W, bb, i, j, logz, out)
        cuda.atomic.add(recomputed, 0, 1)


def _lse_matmul_cuda(A, B, W, C, threshold):
    nb, I, K = A.shape
    J = B.shape[1]
    dtype = A.dtype
    dA = cuda.to_device(A)
    dB = cuda.to_device(B)
    dW = cuda.to_device(W if C else np.zeros((nb, K, 0), dtype=dtype))
    row_max = cuda.device_array((nb, I), dtype=dtype)
    col_max = cuda.device_array((nb, J), dtype=dtype)
    EA = cuda.device_array((nb, I, K), dtype=dtype)
    EB = cuda.device_array((nb, J, K), dtype=dtype)
    _shift_rows_kernel[blocks(nb * I, THREADS), THREADS](dA, row_max, EA)
    _shift_rows_kernel[blocks(nb * J, THREADS), THREADS](dB, col_max, EB)
    R = cuda.device_array((nb, I, J * (C + 1)), dtype=dtype)
    if C == 0:
        gemm_on_device(EA, EB, R, trans_b=True)
    else:
        G = cuda.device_array((nb, K, J * (C + 1)), dtype=dtype)
        _values_times_columns_kernel[blocks(G.size, THREADS), THREADS](EB, dW, G)
        gemm_on_device(EA, G, R)
    logz = cuda.device_array((nb, I, J), dtype=dtype)
    out = cuda.device_array((nb, I, J, C), dtype=dtype)
    counter = cuda.to_device(np.zeros(1, dtype=np.int64))
    _finish_kernel[blocks(nb * I * J, THREADS), THREADS](
        dA, dB, dW, row_max, col_max, R, dtype.type(threshold), logz, out, counter
    )
    return logz.copy_to_host(), out.copy_to_host(), int(counter.copy_to_host()[0])


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
    threshold = underflow_threshold(A.dtype, A.shape[2])
    if backend == "cpu":
        W_arg = W if C else np.zeros((A.shape[0], A.shape[2], 0), dtype=A.dtype)
        logz, out, recomputed = _lse_matmul_cpu(A, B, W_arg, C, threshold)
    elif backend in ("cuda", "cudasim"):
        logz, out, recomputed = _lse_matmul_cuda(A, B, W, C, threshold)
    else:
        raise ValueError(f"lse_matmul: unknown backend {backend!r} (cpu, cuda or cudasim)")
    if W is None:
        out = None
    elif not batched:
        out = out[0]
    if not batched:
        logz = logz[0]
    return logz, out, recomputed
