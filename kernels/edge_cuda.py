"""CUDA flash pass (numba-cuda; the same kernel runs under the simulator for tests).

The same computation as polyth_kernels.edge_cpu: for the query-side row of a tuple
(i_1, …, i_R), row = Π_r F_r[i_r, :] (R = 1: the edge pass), and the keys j (j ≤ i when
causal),

    s[i, j] = row · K[j] + bias[j],  logz[i] = log Σ_j exp s[i, j],
    out[i, :] = Σ_j exp(s[i, j] − logz[i]) · W[j, :].

Layout (FlashAttention, Dao et al. 2022): a thread block owns a block of ``rows`` query rows
(one block per (row block, batch entry); batches above 65535 are visited grid-stride). Its
query rows, its running (m, l) and its accumulator (rows × C) live in shared memory, and the
keys stream through shared memory in tiles of ``keys`` keys: per tile the block loads K (padded
by one column against bank conflicts), W and the bias with coalesced loads, then

1. the rows × keys score block, the threads striding over its entries (a D-term dot each);
2. the online softmax of each row (polyth_kernels.scalar's running max and sum), which turns
   the block into weights exp(s − m_new) and leaves exp(m_old − m_new) per row;
3. the accumulator update acc[i, c] ← acc[i, c]·exp(m_old − m_new) + Σ_j p[i, j]·W[j, c], the
   threads striding over (row, channel) pairs.

No thread holds a D- or C-long array in registers (the one-thread-per-row layout spilled them
to local memory at d = 64). Kernels are compiled per (dtype, D, C) so that shared arrays have
static sizes and literals keep the input's precision (float32 stays float32 on hardware);
``launch_config`` picks the largest block of rows and the key tile that fit 48 KB of static
shared memory. ``fastmath`` stays off: −inf marks masked keys and empty streams.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, float64

from polyth_kernels.device import to_device, to_host

THREADS_PER_BLOCK = 128
MAX_ROWS = 64  # query rows per thread block
MAX_KEYS = 32  # keys per shared tile
SHARED_BYTES = 48 * 1024  # static shared memory per block on every CUDA GPU
MAX_GRID_Y = 65535  # batch entries beyond this are visited grid-stride


def shared_bytes(rows: int, keys: int, D: int, C: int, itemsize: int) -> int:
    """Static shared memory of one block: query rows, K tile and score block (each padded by a
    column against bank conflicts), W tile, bias, accumulator and the per-row (m, l, alpha)."""
    return itemsize * (rows * D + keys * (D + 1) + keys * C + keys + rows * (keys + 1) + rows * C + 3 * rows)


def launch_config(n_rows: int, batch: int, D: int, C: int, itemsize: int):
    """The one place that decides the launch: (grid, threads, rows per block, keys per tile).

    Rows per block and keys per tile are the largest powers of two (at most MAX_ROWS and
    MAX_KEYS) whose shared arrays fit SHARED_BYTES, rows first."""
    for keys in (MAX_KEYS, 16, 8, 4, 2, 1):
        rows = MAX_ROWS
        while rows > 1 and shared_bytes(rows, keys, D, C, itemsize) > SHARED_BYTES:
            rows //= 2
        if shared_bytes(rows, keys, D, C, itemsize) <= SHARED_BYTES:
            grid = (max(1, math.ceil(n_rows / rows)), max(1, min(batch, MAX_GRID_Y)))
            return grid, THREADS_PER_BLOCK, rows, keys
    raise ValueError(
        f"edge pass on CUDA: D = {D} features and C = {C} channels do not fit one row and one key "
        f"in {SHARED_BYTES // 1024} KB of shared memory; use backend='cpu'"
    )


@functools.cache
def _flash_kernel(dtype: np.dtype, D: int, C: int, rows: int, keys: int):
    ft = float32 if dtype == np.float32 else float64
    one = ft(1.0)
    zero = ft(0.0)
    ninf = ft(-math.inf)
    tpb = THREADS_PER_BLOCK

    @cuda.jit
    def flash(factors, sizes, K, W, bias, causal, logz, out):
        tid = cuda.threadIdx.x
        first = cuda.blockIdx.x * rows
        n_rows = logz.shape[1]
        nk = K.shape[1]
        q = cuda.shared.array((rows, D), ft)
        k_tile = cuda.shared.array((keys, D + 1), ft)
        w_tile = cuda.shared.array((keys, C), ft)
        b_tile = cuda.shared.array(keys, ft)
        s = cuda.shared.array((rows, keys + 1), ft)  # padded: the softmax walks it one row per thread
        acc = cuda.shared.array((rows, C), ft)
        m = cuda.shared.array(rows, ft)
        l = cuda.shared.array(rows, ft)
        alpha = cuda.shared.array(rows, ft)
        kend = nk
        if causal:
            kend = min(nk, min(n_rows, first + rows))

        for bi in range(cuda.blockIdx.y, K.shape[0], cuda.gridDim.y):  # batch entries, grid-stride
            for e in range(tid, rows * D, tpb):  # the block's query rows: Π_r F_r[i_r, d]
                i = e // D
                d = e % D
                value = zero
                if first + i < n_rows:
                    value = one
                    rem = first + i
                    offset = factors.shape[1]
                    for r in range(len(sizes) - 1, -1, -1):
                        offset -= sizes[r]
                        idx = rem % sizes[r]
                        rem //= sizes[r]
                        value *= factors[bi, offset + idx, d]
                q[i, d] = value
            for e in range(tid, rows * C, tpb):
                acc[e // C, e % C] = zero
            for i in range(tid, rows, tpb):
                m[i] = ninf
                l[i] = zero
            cuda.syncthreads()

            for k0 in range(0, kend, keys):
                kcount = min(keys, kend - k0)
                for e in range(tid, kcount * D, tpb):
                    k_tile[e // D, e % D] = K[bi, k0 + e // D, e % D]
                for e in range(tid, kcount * C, tpb):
                    w_tile[e // C, e % C] = W[bi, k0 + e // C, e % C]
                for e in range(tid, kcount, tpb):
                    b_tile[e] = bias[bi, k0 + e]
                cuda.syncthreads()
                for e in range(tid, rows * keys, tpb):  # 1. scores
                    i = e // keys
                    j = e % keys
                    row = first + i
                    value = ninf
                    if row < n_rows and j < kcount and not (causal and k0 + j > row):
                        value = b_tile[j]
                        for d in range(D):
                            value += q[i, d] * k_tile[j, d]
                    s[i, j] = value
                cuda.syncthreads()
                for i in range(tid, rows, tpb):  # 2. online softmax, one row per thread
                    m_old = m[i]
                    m_new = m_old
                    for j in range(kcount):
                        m_new = max(m_new, s[i, j])
                    if m_new == ninf:  # every key so far masked: nothing to add
                        alpha[i] = one
                        for j in range(kcount):
                            s[i, j] = zero
                    else:
                        total = zero
                        for j in range(kcount):
                            p = math.exp(s[i, j] - m_new)
                            s[i, j] = p
                            total += p
                        a = math.exp(m_old - m_new)
                        alpha[i] = a
                        l[i] = l[i] * a + total
                        m[i] = m_new
                cuda.syncthreads()
                for e in range(tid, rows * C, tpb):  # 3. rescale and accumulate
                    i = e // C
                    c = e % C
                    value = acc[i, c] * alpha[i]
                    for j in range(kcount):
                        value += s[i, j] * w_tile[j, c]
                    acc[i, c] = value
                cuda.syncthreads()

            for e in range(tid, rows * C, tpb):
                i = e // C
                row = first + i
                if row < n_rows:
                    li = l[i]
                    inv = zero
                    if li > zero:
                        inv = one / li
                    out[bi, row, e % C] = acc[i, e % C] * inv
            for i in range(tid, rows, tpb):
                row = first + i
                if row < n_rows:
                    li = l[i]
                    logz[bi, row] = m[i] + math.log(li) if li > zero else ninf
            cuda.syncthreads()

    return flash


def flash_cuda(factors, sizes, K, W, bias, causal, device_out: bool = False):
    """Launch on the (validated, contiguous) arrays, host or device; returns (logz, out) on the
    host, or on the device when ``device_out``."""
    nb, nk, D = K.shape
    C = W.shape[2]
    n_rows = int(np.prod(sizes))
    dtype = np.dtype(K.dtype)
    grid, block, rows, keys = launch_config(n_rows, nb, D, C, dtype.itemsize)
    kernel = _flash_kernel(dtype, D, C, rows, keys)
    logz = cuda.device_array((nb, n_rows), dtype=dtype)
    out = cuda.device_array((nb, n_rows, C), dtype=dtype)
    sizes = tuple(int(x) for x in sizes)  # a launch argument, not an array to copy
    args = (to_device(factors), sizes, to_device(K), to_device(W), to_device(bias))
    kernel[grid, block](*args, bool(causal), logz, out)
    if device_out:
        return logz, out
    return to_host(logz), to_host(out)
