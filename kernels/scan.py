"""Log-sum-exp along a token axis: the inclusive prefix scan and the full reduction.

For a row L[0..n) of log-weights (and optionally a value row W[0..n) of C-vectors):

    prefix_scan:  logz[j] = log Σ_{i ≤ j} exp L[i],   out[j] = Σ_{i ≤ j} exp(L[i] − logz[j]) · W[i]
    reduce_lse:   logz    = log Σ_i exp L[i],          out    = Σ_i exp(L[i] − logz) · W[i]

The prefix scan eliminates a variable under a threshold factor [l_b ≤ l_p] (a causal
mask); the reduction eliminates a variable from a materialised log-table. Both run in
the log domain with a running maximum (polyth_kernels.scalar's online softmax), so log-weights
of any size give finite results. Entries of −inf are weight 0; a prefix (or a row)
with no finite entry has logz = −inf and out = 0.

CPU twins: ``prange`` over the rows. The scan computes the prefix maxima p_j, then the
rescale factors exp(p_{j−1} − p_j) and weights exp(L_j − p_j) in vectorised loops
(the fast exp in float32, math.exp in float64), then a multiply-add recurrence. CUDA:
the scan gives each thread one row (a sequential online scan); the reduction gives each
row a block whose threads reduce strided slices (coalesced loads), then merge their
(max, sum, accumulator) triples by a tree in shared memory.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda, float32, float64, prange

from polyth_kernels.backend import resolve_backend
from polyth_kernels.device import to_device, to_host
from polyth_kernels.finite import all_finite
from polyth_kernels.scalar import FASTMATH, ONLINE_CUDA, fmax, softmax_exp
from polyth_kernels.threads import launch

# ---------------------------------------------------------------- CPU twins


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _scan_cpu(L, W, with_values, zero, one, ninf):
    rows, n = L.shape
    C = W.shape[2] if with_values else 0
    logz = np.empty((rows, n), dtype=L.dtype)
    out = np.empty((rows, n, C), dtype=L.dtype)
    for r in prange(rows):
        x = L[r]
        peak = np.empty(n, dtype=L.dtype)
        running = ninf
        for j in range(n):
            running = fmax(running, x[j])
            peak[j] = running
        rescale = np.empty(n, dtype=L.dtype)
        weight = np.empty(n, dtype=L.dtype)
        for j in range(n):
            previous = peak[j - 1] if j > 0 else ninf
            safe = peak[j] if peak[j] > ninf else zero  # an empty prefix: every term 0
            rescale[j] = softmax_exp(previous - safe)
            weight[j] = softmax_exp(x[j] - safe)
        total = zero
        acc = np.zeros(C, dtype=L.dtype)
        for j in range(n):
            total = total * rescale[j] + weight[j]
            if total > zero:
                logz[r, j] = peak[j] + math.log(total)
                inv = one / total
            else:
                logz[r, j] = ninf
                inv = zero
            for c in range(C):
                acc[c] = acc[c] * rescale[j] + weight[j] * W[r, j, c]
                out[r, j, c] = acc[c] * inv
    return logz, out


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _reduce_cpu(L, W, with_values, zero, one, ninf):
    rows, n = L.shape
    C = W.shape[2] if with_values else 0
    logz = np.empty(rows, dtype=L.dtype)
    out = np.zeros((rows, C), dtype=L.dtype)
    for r in prange(rows):
        x = L[r]
        peak = ninf
        for j in range(n):
            peak = fmax(peak, x[j])
        if peak == ninf:
            logz[r] = ninf
            continue
        weight = np.empty(n, dtype=L.dtype)
        total = zero
        for j in range(n):
            weight[j] = softmax_exp(x[j] - peak)
            total += weight[j]
        logz[r] = peak + math.log(total)
        inv = one / total
        for j in range(n):
            for c in range(C):
                out[r, c] += weight[j] * W[r, j, c]
        for c in range(C):
            out[r, c] *= inv
    return logz, out


def _typed_constants(dtype):
    """zero, one and −inf in the kernel's dtype (so float32 loops stay float32)."""
    t = dtype.type
    return t(0.0), t(1.0), t(-np.inf)


# ---------------------------------------------------------------- CUDA kernels

SCAN_THREADS = 64  # rows per block of the scan (one thread per row)
REDUCE_THREADS = 64  # threads per row of the reduction (a power of 2)
SHARED_BYTES = 48 * 1024


def reduce_launch_threads(C: int, itemsize: int) -> int:
    """Threads per row of the CUDA reduction: REDUCE_THREADS, halved while the shared
    (max, sum, accumulator) arrays would exceed static shared memory."""
    threads = REDUCE_THREADS
    while threads > 1 and threads * (C + 2) * itemsize > SHARED_BYTES:
        threads //= 2
    return threads


@functools.cache
def _cuda_scan(dtype: np.dtype, C: int):
    ft = float32 if dtype == np.float32 else float64
    add, _, finish = ONLINE_CUDA[dtype]
    zero, one, ninf = ft(0.0), ft(1.0), ft(-math.inf)
    slots = max(C, 1)

    @cuda.jit
    def scan(L, W, logz, out):
        r = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        if r >= L.shape[0]:
            return
        acc = cuda.local.array(slots, ft)
        for c in range(C):
            acc[c] = zero
        m = ninf
        l = zero
        for j in range(L.shape[1]):
            m, l, alpha, p = add(m, l, L[r, j])
            logz[r, j] = finish(m, l)
            inv = zero
            if l > zero:
                inv = one / l
            for c in range(C):
                acc[c] = acc[c] * alpha + p * W[r, j, c]
                out[r, j, c] = acc[c] * inv

    return scan


@functools.cache
def _cuda_reduce(dtype: np.dtype, C: int, threads: int):
    ft = float32 if dtype == np.float32 else float64
    add, merge, finish = ONLINE_CUDA[dtype]
    zero, one, ninf = ft(0.0), ft(1.0), ft(-math.inf)
    slots = max(C, 1)

    @cuda.jit
    def reduce(L, W, logz, out):
        r = cuda.blockIdx.x
        t = cuda.threadIdx.x
        shared_m = cuda.shared.array(threads, ft)
        shared_l = cuda.shared.array(threads, ft)
        shared_acc = cuda.shared.array((threads, slots), ft)
        m = ninf
        l = zero
        for c in range(C):
            shared_acc[t, c] = zero
        for j in range(t, L.shape[1], threads):
            m, l, alpha, p = add(m, l, L[r, j])
            for c in range(C):
                shared_acc[t, c] = shared_acc[t, c] * alpha + p * W[r, j, c]
        shared_m[t] = m
        shared_l[t] = l
        cuda.syncthreads()
        half = threads // 2
        while half > 0:
            if t < half:
                m, l, a1, a2 = merge(shared_m[t], shared_l[t], shared_m[t + half], shared_l[t + half])
                for c in range(C):
                    shared_acc[t, c] = shared_acc[t, c] * a1 + shared_acc[t + half, c] * a2
                shared_m[t] = m
                shared_l[t] = l
            cuda.syncthreads()
            half //= 2
        if t == 0:
            l = shared_l[0]
            logz[r] = finish(shared_m[0], l)
            inv = zero
            if l > zero:
                inv = one / l
            for c in range(C):
                out[r, c] = shared_acc[0, c] * inv

    return reduce


def _scan_cuda(L, W, with_values):
    rows, n = L.shape
    C = W.shape[2] if with_values else 0
    logz = cuda.device_array((rows, n), dtype=L.dtype)
    out = cuda.device_array((rows, n, max(C, 1)), dtype=L.dtype)
    grid = math.ceil(rows / SCAN_THREADS)
    _cuda_scan(L.dtype, C)[grid, SCAN_THREADS](to_device(L), to_device(W), logz, out)
    return to_host(logz), to_host(out)[:, :, :C]


def _reduce_cuda(L, W, with_values):
    rows, _ = L.shape
    C = W.shape[2] if with_values else 0
    threads = reduce_launch_threads(C, L.dtype.itemsize)
    logz = cuda.device_array(rows, dtype=L.dtype)
    out = cuda.device_array((rows, max(C, 1)), dtype=L.dtype)
    _cuda_reduce(L.dtype, C, threads)[rows, threads](to_device(L), to_device(W), logz, out)
    return to_host(logz), to_host(out)[:, :C]


# ---------------------------------------------------------------- host wrappers


def _prepare(L, W, what):
    """Validate, flatten (b, R) into rows; returns (L2, W3, with_values, lead shape, C)."""
    L = np.asarray(L)
    if L.dtype not in (np.float32, np.float64):
        raise ValueError(f"{what}: L must be float32 or float64, got {L.dtype}; cast it with .astype")
    if L.ndim not in (2, 3):
        raise ValueError(f"{what}: L must be (b, R, n) or (R, n), got shape {L.shape}")
    if np.isnan(L).any() or np.isposinf(L).any():
        raise ValueError(f"{what}: L contains NaN or +inf; use finite log-weights, or -inf for weight 0")
    lead, n = L.shape[:-1], L.shape[-1]
    rows = int(np.prod(lead))
    L2 = np.ascontiguousarray(L.reshape(rows, n))
    if W is None:
        return L2, np.zeros((1, 1, 1), L.dtype), False, lead, 0
    W = np.asarray(W)
    if W.ndim != L.ndim + 1 or W.shape[:-1] != L.shape:
        raise ValueError(f"{what}: W must have shape L.shape + (C,) = {L.shape} + (C,), got {W.shape}")
    if not all_finite(W):
        raise ValueError(f"{what}: W contains NaN or inf; pass finite values")
    C = W.shape[-1]
    W3 = np.ascontiguousarray(W.reshape(rows, n, C), dtype=L.dtype)
    return L2, W3, True, lead, C


def _checked(logz, out, what):
    if np.isnan(logz).any() or np.isposinf(logz).any() or not all_finite(out):
        raise FloatingPointError(f"{what}: the result is not finite (NaN or inf); check the input range")


def prefix_scan(L, W=None, backend="cpu"):
    """Inclusive log-sum-exp scan along the last axis: L (b, R, n), W (b, R, n, C) or None
    (the batch axis b may be left out). Returns logz (b, R, n) with
    logz[., r, j] = log Σ_{i ≤ j} exp L[., r, i], and out (b, R, n, C) with
    out[., r, j, :] = Σ_{i ≤ j} exp(L[., r, i] − logz[., r, j]) · W[., r, i, :] (None without W).
    """
    L2, W3, with_values, lead, C = _prepare(L, W, "prefix_scan")
    n = L2.shape[1]
    if L2.size == 0:
        logz, out = np.empty((L2.shape[0], n), L2.dtype), np.empty((L2.shape[0], n, C), L2.dtype)
    elif resolve_backend(backend) == "cpu":
        work = L2.size * (C + 3)
        logz, out = launch(_scan_cpu, work, L2, W3, with_values, *_typed_constants(L2.dtype))
    else:
        logz, out = _scan_cuda(L2, W3, with_values)
    _checked(logz, out, "prefix_scan")
    logz = logz.reshape(lead + (n,))
    return logz, (out.reshape(lead + (n, C)) if with_values else None)


def reduce_lse(L, W=None, backend="cpu"):
    """Log-sum-exp over the whole last axis: L (b, R, n), W (b, R, n, C) or None (the batch
    axis may be left out). Returns logz (b, R) = log Σ_i exp L[., r, i] and out (b, R, C),
    the softmax-weighted sum of W's rows (None without W). A row of −inf gives logz = −inf, out = 0.
    """
    L2, W3, with_values, lead, C = _prepare(L, W, "reduce_lse")
    rows, n = L2.shape
    if rows == 0 or n == 0:
        logz, out = np.full(rows, -np.inf, L2.dtype), np.zeros((rows, C), L2.dtype)
    elif resolve_backend(backend) == "cpu":
        work = L2.size * (C + 2)
        logz, out = launch(_reduce_cpu, work, L2, W3, with_values, *_typed_constants(L2.dtype))
    else:
        logz, out = _reduce_cuda(L2, W3, with_values)
    _checked(logz, out, "reduce_lse")
    return logz.reshape(lead), (out.reshape(lead + (C,)) if with_values else None)
