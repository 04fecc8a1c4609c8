"""Stabilised matrix contraction in the log domain: eliminating one variable between two
groups of factors (a cycle's chord, the third variable of Strassen attention).

For A (b, I, K), B (b, J, K) and optional values W (b, K, C), WA (b, I, K, C), WB (b, J, K, C)
(the value channel may sit on k alone, or also on either operand's side; absent factors are 1):

    Z[i, j]      = Σ_k exp(A[i, k] + B[j, k])                                  logz = log Z   (b, I, J)
    out[i, j, c] = Σ_k exp(A[i, k] + B[j, k]) · WA[i, k, c] · WB[j, k, c] · W[k, c] / Z[i, j]   (b, I, J, C)

e.g. eliminating x3 from exp(S13(l1, l3)) · exp(S23(l2, l3)) · V3(l3) in Strassen attention
(Kozachinskiy et al. 2025) with A = S13, B = S23, W = V3; a value already multiplied into a
factor over (l1, l3) or (l2, l3) by an earlier elimination is WA or WB.

Stabilisation: with row maxima a_i = max_k A[i, k] and b_j = max_k B[j, k], the shifted
factors E_A = exp(A − a) and E_B = exp(B − b) lie in [0, 1], so the GEMMs

    Ẑ = E_A · E_Bᵀ,        R[i, j, c] = Σ_k (E_A[i, k] WA[i, k, c] W[k, c]) · (E_B[j, k] WB[j, k, c])

cannot overflow, and logz = a_i + b_j + log Ẑ, out = R / Ẑ. They can underflow: when
the best k for the pair (i, j) is far from both row maxima, Ẑ[i, j] is 0 or subnormal.
Each underflowed factor or product changes Ẑ by at most the smallest normal number
``tiny`` (both factors are ≤ 1), so |Ẑ − Ẑ_exact| ≤ 2·K·tiny; below the threshold
4·K·tiny / eps the relative error could exceed the dtype's eps. Those entries (and only
those; their number is returned as ``recomputed``) are rescued: for float32 input the
shifted GEMMs are repeated in float64 for the rows that hold them (float64 reaches
e^−708 where float32 stops at e^−87), and whatever still underflows, as well as every
underflowed float64 entry, is recomputed exactly by a direct log-sum-exp over k (values
WA · WB · W included).

−inf entries of A or B are masks (a factor 0): an (i, j) with no finite A[i,k] + B[j,k]
has logz = −inf and out = 0. NaN or +inf in A or B, or any non-finite value, is a
ValueError; an out that overflows (a product of huge values) is a FloatingPointError.

Ẑ is the channel C of R: a channel of ones is appended to the values. Three layouts:

- values on k and/or B's side only (WA absent): one GEMM R = E_A @ G, with
  G[k, (j, c)] = E_B[j, k] · [WB · W, 1][j, k, c] (K × J(C+1));
- values on A's side only (WB absent): the same with the operands swapped (Z and out are
  symmetric under A ↔ B, i ↔ j), then transposed back: one GEMM of (J, K) against (K, I(C+1));
- values on both sides: C + 1 batched GEMMs P[c] = L[c] @ M[c]ᵀ with
  L[c, i, k] = E_A[i, k] · WA[i, k, c] · W[k, c] and M[c, j, k] = E_B[j, k] · WB[j, k, c]
  (L[C] = E_A, M[C] = E_B).

On the CPU the GEMMs are polyth_kernels.gemm's CPU twin (numba tasks over rows, one BLAS thread
each) over blocks of columns j (G, M's block and R stay near BLOCK_ELEMENTS), and numba for the
element-wise passes, each on one thread when its work is small (polyth_kernels.threads); on
cuda/cudasim they are the tiled kernel of ``polyth_kernels.gemm`` (the channel folded into its
batch axis for the two-sided layout) plus element-wise kernels, everything whole on the device.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.finite import all_finite
from polyth_kernels.gemm import blocks, gemm_cpu, gemm_on_device
from polyth_kernels.threads import launch

THREADS = 128
BLOCK_ELEMENTS = 1 << 23  # CPU: about this many elements in each block of G (K × Jb(C+1)) and R


def underflow_threshold(dtype: np.dtype, k: int) -> float:
    """Ẑ below 4·K·tiny/eps may have lost relative precision to underflow (see the module docstring)."""
    info = np.finfo(dtype)
    return float(4.0 * max(k, 1) * info.tiny / info.eps)


def _exact_entry(A, B, W, WA, WB, has_wa, has_wb, bb, i, j, logz, out):
    """logz[bb, i, j] and out[bb, i, j, :] by a direct two-pass log-sum-exp over k, on float64 arrays
    (out[bb, i, j, :] is the accumulator; W with C = 0 channels means no values; WA / WB are read
    only when has_wa / has_wb)."""
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
            value = W[bb, k, c]
            if has_wa:
                value *= WA[bb, i, k, c]
            if has_wb:
                value *= WB[bb, j, k, c]
            out[bb, i, j, c] += weight * value
    for c in range(C):
        out[bb, i, j, c] /= total
    logz[bb, i, j] = best + math.log(total)


_exact_entry_cpu = numba.njit(inline="always")(_exact_entry)
_exact_entry_cuda = cuda.jit(device=True)(_exact_entry)


def _absent(dtype) -> np.ndarray:
    """Stands for a missing WA or WB in the compiled kernels (never read: its flag is False)."""
    return np.zeros((1, 1, 1, 1), dtype=dtype)


# ---------------------------------------------------------------- CPU twin


def _shift_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row maxima m and exp(X − m) in [0, 1] (rows that are all −inf give m = −inf and zeros)."""
    m = X.max(axis=-1)
    safe = np.where(np.isneginf(m), 0, m).astype(X.dtype)
    return m, np.exp(X - safe[..., None])


@numba.njit(parallel=True, cache=True)
def _values_times_columns_cpu(EB, W, WB, has_wb, j0, G):
    """G[b, k, jj·(C+1) + c] = E_B[b, j, k] · W[b, k, c] (· WB[b, j, k, c]), and E_B[b, j, k]
    itself for c = C, where j = j0 + jj."""
    nb, K, width = G.shape
    C = W.shape[2]
    for task in prange(nb * K):
        bb = task // K
        k = task % K
        for jj in range(width // (C + 1)):
            e = EB[bb, j0 + jj, k]
            base = jj * (C + 1)
            for c in range(C):
                value = e * W[bb, k, c]
                if has_wb:
                    value *= WB[bb, j0 + jj, k, c]
                G[bb, k, base + c] = value
            G[bb, k, base + C] = e


def _channel_operand_cpu(E, W, WX):
    """(b, C+1, rows, K): E[b, r, k] · W[b, k, c] · WX[b, r, k, c] for c < C (W may be None),
    and E itself for c = C — one side of the two-sided layout."""
    nb, rows, K = E.shape
    C = WX.shape[3]
    X = np.empty((nb, C + 1, rows, K), dtype=E.dtype)
    X[:, :C] = E[:, None] * WX.transpose(0, 3, 1, 2)
    if W is not None:
        X[:, :C] *= W.transpose(0, 2, 1)[:, :, None, :]
    X[:, C] = E
    return X


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
def _exact_entries_cpu(A, B, W, WA, WB, has_wa, has_wb, entries, logz, out):
    for e in prange(entries.shape[0]):
        bb, i, j = entries[e, 0], entries[e, 1], entries[e, 2]
        _exact_entry_cpu(A, B, W, WA, WB, has_wa, has_wb, bb, i, j, logz, out)


def _shifted_pass_cpu(A, B, W, WA, WB, threshold):
    """The shifted GEMMs by blocks of columns j, so that G (or M's block) and R stay near
    BLOCK_ELEMENTS each. WA is used only together with WB (one-sided WA is swapped before)."""
    nb, I, K = A.shape
    J = B.shape[1]
    C = W.shape[2]
    row_max, EA = _shift_rows(A)
    col_max, EB = _shift_rows(B)
    logz = np.empty((nb, I, J), dtype=A.dtype)
    out = np.empty((nb, I, J, C), dtype=A.dtype)
    flags = np.zeros((nb, I, J), dtype=np.int8)
    width = max(1, BLOCK_ELEMENTS // (max(I, K) * (C + 1)))
    if WA is not None:
        L = _channel_operand_cpu(EA, W, WA).reshape(nb * (C + 1), I, K)
        M = _channel_operand_cpu(EB, None, WB)
    for j0 in range(0, J, width):
        jb = min(width, J - j0)
        if C == 0:
            R = gemm_cpu(EA, EB[:, j0 : j0 + jb], trans_b=True)[..., None]
        elif WA is not None:
            P = gemm_cpu(L, M[:, :, j0 : j0 + jb].reshape(nb * (C + 1), jb, K), trans_b=True)
            R = P.reshape(nb, C + 1, I, jb).transpose(0, 2, 3, 1)
        else:
            G = np.empty((nb, K, jb * (C + 1)), dtype=A.dtype)
            has_wb = WB is not None
            WB_ = WB if has_wb else _absent(A.dtype)
            launch(_values_times_columns_cpu, G.size, EB, W, WB_, has_wb, j0, G)
            R = gemm_cpu(EA, G).reshape(nb, I, jb, C + 1)
        launch(_finish_cpu, R.size, row_max, col_max, R, j0, A.dtype.type(threshold), logz, out, flags)
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
def _values_times_columns_kernel(EB, W, WB, has_wb, G):
    """G[b, k, j·(C+1) + c] = E_B[b, j, k] · W[b, k, c] (· WB[b, j, k, c]), and E_B[b, j, k] for c = C."""
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
        value = EB[bb, j, k] * W[bb, k, c]
        if has_wb:
            value *= WB[bb, j, k, c]
        G[bb, k, col] = value


@cuda.jit
def _channel_operand_kernel(E, W, has_w, WX, X):
    """X[b·(C+1) + c, r, k] = E[b, r, k] · W[b, k, c] (if has_w) · WX[b, r, k, c] for c < C, E for c = C."""
    task = cuda.grid(1)
    nbc, rows, K = X.shape
    if task >= nbc * rows * K:
        return
    C1 = WX.shape[3] + 1
    slab = task // (rows * K)
    r = (task // K) % rows
    k = task % K
    bb = slab // C1
    c = slab % C1
    value = E[bb, r, k]
    if c < C1 - 1:
        value *= WX[bb, r, k, c]
        if has_w:
            value *= W[bb, k, c]
    X[slab, r, k] = value


@cuda.jit
def _finish_kernel(row_max, col_max, R, channels_first, threshold, logz, out, flags):
    """One thread per (batch, i, j): the CUDA twin of ``_finish_cpu``. R is (b, I, J(C+1)) with
    the channel fastest, or (b(C+1), I, J) with the channel in the batch axis (channels_first)."""
    task = cuda.grid(1)
    nb, I, J = logz.shape
    if task >= nb * I * J:
        return
    bb = task // (I * J)
    i = (task // J) % I
    j = task % J
    C = out.shape[3]
    if channels_first:
        z = R[bb * (C + 1) + C, i, j]
    else:
        z = R[bb, i, j * (C + 1) + C]
    if z >= threshold:
        logz[bb, i, j] = row_max[bb, i] + col_max[bb, j] + math.log(z)
        for c in range(C):
            if channels_first:
                out[bb, i, j, c] = R[bb * (C + 1) + c, i, j] / z
            else:
                out[bb, i, j, c] = R[bb, i, j * (C + 1) + c] / z
    else:
        flags[bb, i, j] = 1


@cuda.jit
def _exact_entries_kernel(A, B, W, WA, WB, has_wa, has_wb, entries, logz, out):
    e = cuda.grid(1)
    if e < entries.shape[0]:
        bb, i, j = entries[e, 0], entries[e, 1], entries[e, 2]
        _exact_entry_cuda(A, B, W, WA, WB, has_wa, has_wb, bb, i, j, logz, out)


def _shifted_pass_cuda(A, B, W, WA, WB, threshold):
    nb, I, K = A.shape
    J = B.shape[1]
    C = W.shape[2]
    dtype = A.dtype
    row_max = cuda.device_array((nb, I), dtype=dtype)
    col_max = cuda.device_array((nb, J), dtype=dtype)
    EA = cuda.device_array((nb, I, K), dtype=dtype)
    EB = cuda.device_array((nb, J, K), dtype=dtype)
    _shift_rows_kernel[blocks(nb * I, THREADS), THREADS](to_device(A), row_max, EA)
    _shift_rows_kernel[blocks(nb * J, THREADS), THREADS](to_device(B), col_max, EB)
    two_sided = C > 0 and WA is not None
    if C == 0:
        R = cuda.device_array((nb, I, J), dtype=dtype)
        gemm_on_device(EA, EB, R, trans_b=True)
    elif two_sided:
        d_W = to_device(W)
        L = cuda.device_array((nb * (C + 1), I, K), dtype=dtype)
        M = cuda.device_array((nb * (C + 1), J, K), dtype=dtype)
        _channel_operand_kernel[blocks(L.size, THREADS), THREADS](EA, d_W, True, to_device(WA), L)
        _channel_operand_kernel[blocks(M.size, THREADS), THREADS](EB, d_W, False, to_device(WB), M)
        R = cuda.device_array((nb * (C + 1), I, J), dtype=dtype)
        gemm_on_device(L, M, R, trans_b=True)
    else:
        has_wb = WB is not None
        d_WB = to_device(WB if has_wb else _absent(dtype))
        G = cuda.device_array((nb, K, J * (C + 1)), dtype=dtype)
        _values_times_columns_kernel[blocks(G.size, THREADS), THREADS](EB, to_device(W), d_WB, has_wb, G)
        R = cuda.device_array((nb, I, J * (C + 1)), dtype=dtype)
        gemm_on_device(EA, G, R)
    logz = cuda.device_array((nb, I, J), dtype=dtype)
    out = cuda.device_array((nb, I, J, C), dtype=dtype)
    flags = to_device(np.zeros((nb, I, J), dtype=np.int8))
    _finish_kernel[blocks(nb * I * J, THREADS), THREADS](
        row_max, col_max, R, two_sided, dtype.type(threshold), logz, out, flags
    )
    return to_host(logz), to_host(out), to_host(flags)


def _exact_entries_cuda(A, B, W, WA, WB, has_wa, has_wb, entries, logz, out):
    d_logz, d_out = to_device(logz), to_device(out)
    args = [to_device(x) for x in (A, B, W, WA, WB)]
    kernel = _exact_entries_kernel[blocks(len(entries), THREADS), THREADS]
    kernel(*args, has_wa, has_wb, to_device(entries), d_logz, d_out)
    logz[...] = to_host(d_logz)
    out[...] = to_host(d_out)


# ---------------------------------------------------------------- the rescue of underflowed entries


def _shifted_pass(A, B, W, WA, WB, backend):
    threshold = underflow_threshold(A.dtype, A.shape[2])
    run = _shifted_pass_cpu if backend == "cpu" else _shifted_pass_cuda
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: out is checked by the caller
        return run(A, B, W, WA, WB, threshold)


def _exact_entries(A, B, W, WA, WB, entries, logz, out, backend):
    """Direct log-sum-exp for the listed (b, i, j) on float64 arrays, in place."""
    has_wa, has_wb = WA is not None, WB is not None
    WA = WA if has_wa else _absent(A.dtype)
    WB = WB if has_wb else _absent(A.dtype)
    entries = np.ascontiguousarray(entries, dtype=np.int64)
    args = (A, B, W, WA, WB, has_wa, has_wb, entries, logz, out)
    if backend == "cpu":
        launch(_exact_entries_cpu, len(entries) * A.shape[2] * (W.shape[2] + 2), *args)
    else:
        _exact_entries_cuda(*args)


def _rescue(A, B, W, WA, WB, entries, logz, out, backend):
    """Recompute the underflowed entries: a float32 input first repeats the shifted GEMMs in
    float64 for the rows holding them (float64's range reaches e^−708 instead of e^−87); whatever
    still underflows there, and every underflowed float64 entry, gets the exact log-sum-exp."""
    if A.dtype == np.float64:
        _exact_entries(A, B, W, WA, WB, entries, logz, out, backend)
        return
    for bb in np.unique(entries[:, 0]):
        mine = entries[entries[:, 0] == bb]
        rows = np.unique(mine[:, 1])
        A64, B64, W64 = (X.astype(np.float64)[None] for X in (A[bb, rows], B[bb], W[bb]))
        WA64 = None if WA is None else WA[bb, rows].astype(np.float64)[None]
        WB64 = None if WB is None else WB[bb].astype(np.float64)[None]
        logz64, out64, flags64 = _shifted_pass(A64, B64, W64, WA64, WB64, backend)
        still = np.argwhere(flags64)
        if len(still):
            _exact_entries(A64, B64, W64, WA64, WB64, still, logz64, out64, backend)
        local = np.searchsorted(rows, mine[:, 1])
        logz[bb, mine[:, 1], mine[:, 2]] = logz64[0, local, mine[:, 2]]
        out[bb, mine[:, 1], mine[:, 2]] = out64[0, local, mine[:, 2]]


def _contract(A, B, W, WA, WB, backend):
    """logz (b, I, J), out (b, I, J, C) and the number of recomputed entries, on checked 3-/4-D
    arrays (W (b, K, C) always present: ones where the caller gave none, C = 0 without values)."""
    logz, out, flags = _shifted_pass(A, B, W, WA, WB, backend)
    entries = np.argwhere(flags)
    if len(entries):
        _rescue(A, B, W, WA, WB, entries, logz, out, backend)
    return logz, out, len(entries)


# ---------------------------------------------------------------- public


def _checked_scores(A, B):
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
    return np.ascontiguousarray(A), np.ascontiguousarray(B), batched


def _checked_values(name, X, lead, layout, A, batched):
    """X as a contiguous (b, *lead, C) array of A's dtype with finite entries, or None."""
    if X is None:
        return None
    X = np.asarray(X)
    if not batched:
        X = X[None]
    expected = (A.shape[0],) + lead
    if X.ndim != len(expected) + 1 or X.shape[:-1] != expected:
        raise ValueError(
            f"lse_matmul: {name} must be {layout} = {expected + ('C',)} (without b when A and B "
            f"have none), got {X.shape[int(not batched) :]}"
        )
    if X.dtype != A.dtype:
        raise ValueError(f"lse_matmul: {name} has dtype {X.dtype}, A and B have {A.dtype}")
    if X.shape[-1] == 0:
        raise ValueError(f"lse_matmul: {name} has no channels (C = 0); pass {name}=None instead")
    if not all_finite(X):
        raise ValueError(f"lse_matmul: {name} contains NaN or inf")
    return np.ascontiguousarray(X)


def lse_matmul(A, B, W=None, WA=None, WB=None, backend: str = "cpu"):
    """Stabilised contraction over k (see the module docstring).

    A (b, I, K), B (b, J, K), W (b, K, C), WA (b, I, K, C), WB (b, J, K, C), each value array
    optional (absent factors are 1); all without b is also accepted. The present value arrays
    must share C. Returns (logz (b, I, J), out (b, I, J, C) or None when W, WA and WB are all
    None, recomputed: int), in the input dtype. backend: "cpu", "cuda" or "cudasim" (resolved).
    """
    if backend not in ("cpu", "cuda", "cudasim"):
        raise ValueError(f"lse_matmul: unknown backend {backend!r} (cpu, cuda or cudasim)")
    A, B, batched = _checked_scores(A, B)
    nb, I, K = A.shape
    J = B.shape[1]
    W = _checked_values("W", W, (K,), "(b, K, C)", A, batched)
    WA = _checked_values("WA", WA, (I, K), "(b, I, K, C)", A, batched)
    WB = _checked_values("WB", WB, (J, K), "(b, J, K, C)", A, batched)
    present = {name: X.shape[-1] for name, X in (("W", W), ("WA", WA), ("WB", WB)) if X is not None}
    if len(set(present.values())) > 1:
        raise ValueError(f"lse_matmul: the value arrays must share the channel count C, got {present}")
    C = next(iter(present.values()), 0)
    values = W if W is not None else np.ones((nb, K, C), dtype=A.dtype)
    if WA is not None and WB is None:  # one-sided on A: swap the operands, transpose back
        logz, out, recomputed = _contract(B, A, values, None, WA, backend)
        logz = np.ascontiguousarray(logz.transpose(0, 2, 1))
        out = np.ascontiguousarray(out.transpose(0, 2, 1, 3))
    else:
        logz, out, recomputed = _contract(A, B, values, WA, WB, backend)
    if not present:
        out = None
    elif not all_finite(out):
        raise FloatingPointError(
            "lse_matmul: the weighted mean of WA · WB · W overflows the dtype; scale the values down"
        )
    if not batched:
        logz = logz[0]
        out = None if out is None else out[0]
    return logz, out, recomputed
