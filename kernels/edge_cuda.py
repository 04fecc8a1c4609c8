"""CUDA flash pass (numba-cuda; the same kernel runs under the simulator for tests).

The same computation as polyth_kernels.edge_cpu: for the query-side row of a tuple
(i_1, …, i_R), row = Π_r F_r[i_r, :] (R = 1: the edge pass), and the keys j (j ≤ i when
causal),

    s[i, j] = row · K[j] + bias[j],  logz[i] = log Σ_j exp s[i, j],
    out[i, :] = Σ_j exp(s[i, j] − logz[i]) · W[j, :].

Layout: one block per (tile of THREADS_PER_BLOCK query rows, batch entry; batches above
65535 visit the blocks grid-stride); one thread
per query row, its feature row and value accumulator in registers/local memory. Keys
stream through shared memory in tiles of ``tile_k`` keys: the block loads a K tile,
a W tile and the bias tile with coalesced loads (consecutive threads, consecutive
addresses), then every thread runs the online softmax (polyth_kernels.scalar, shared with the
CPU twins) over the tile; the accumulator is rescaled only when the running max grows.
Kernels are compiled per (dtype, D, C) so that shared and local arrays have static
sizes and literals keep the input's precision (float32 stays float32 on hardware).
``fastmath`` stays off: −inf marks masked keys and empty streams.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, float32, float64

from polyth_kernels.scalar import ONLINE_CUDA

THREADS_PER_BLOCK = 64
MAX_TILE_K = 64
SHARED_BYTES = 48 * 1024  # static shared memory per block on every CUDA GPU
MAX_GRID_Y = 65535  # batch entries beyond this are visited grid-stride


def launch_config(n_rows: int, batch: int, D: int, C: int, itemsize: int):
    """The one place that decides the launch: (grid, block, keys per shared tile)."""
    per_key = (D + C + 1) * itemsize
    tile_k = max(1, min(MAX_TILE_K, SHARED_BYTES // per_key))
    grid = (max(1, math.ceil(n_rows / THREADS_PER_BLOCK)), max(1, min(batch, MAX_GRID_Y)))
    return grid, THREADS_PER_BLOCK, tile_k


@functools.cache
def _flash_kernel(dtype: np.dtype, D: int, C: int, tile_k: int):
    ft = float32 if dtype == np.float32 else float64
    add, _, finish = ONLINE_CUDA[dtype]
    one = ft(1.0)
    zero = ft(0.0)
    ninf = ft(-math.inf)
    tpb = THREADS_PER_BLOCK

    @cuda.jit
    def flash(factors, sizes, K, W, bias, causal, logz, out):
        tid = cuda.threadIdx.x
        first = cuda.blockIdx.x * tpb
        row = first + tid
        n_rows = logz.shape[1]
        nk = K.shape[1]
        k_tile = cuda.shared.array((tile_k, D), ft)
        w_tile = cuda.shared.array((tile_k, C), ft)
        b_tile = cuda.shared.array(tile_k, ft)
        q = cuda.local.array(D, ft)
        acc = cuda.local.array(C, ft)
        active = row < n_rows
        kend = nk
        if causal:
            kend = min(nk, min(n_rows, first + tpb))

        for bi in range(cuda.blockIdx.y, K.shape[0], cuda.gridDim.y):  # batch entries, grid-stride
            for d in range(D):
                q[d] = one
            if active:
                rem = row
                offset = factors.shape[1]
                for r in range(sizes.shape[0] - 1, -1, -1):
                    offset -= sizes[r]
                    idx = rem % sizes[r]
                    rem //= sizes[r]
                    for d in range(D):
                        q[d] *= factors[bi, offset + idx, d]
            for c in range(C):
                acc[c] = zero
            m = ninf
            l = zero

            for k0 in range(0, kend, tile_k):
                kcount = min(tile_k, kend - k0)
                for e in range(tid, kcount * D, tpb):
                    k_tile[e // D, e % D] = K[bi, k0 + e // D, e % D]
                for e in range(tid, kcount * C, tpb):
                    w_tile[e // C, e % C] = W[bi, k0 + e // C, e % C]
                for e in range(tid, kcount, tpb):
                    b_tile[e] = bias[bi, k0 + e]
                cuda.syncthreads()
                if active:
                    jmax = kcount
                    if causal:
                        jmax = min(kcount, row - k0 + 1)
                    for j in range(jmax):
                        s = b_tile[j]
                        for d in range(D):
                            s += q[d] * k_tile[j, d]
                        m, l, alpha, p = add(m, l, s)
                        if alpha != one:  # the running max grew: rescale the accumulator
                            for c in range(C):
                                acc[c] *= alpha
                        for c in range(C):
                            acc[c] += p * w_tile[j, c]
                cuda.syncthreads()

            if active:
                logz[bi, row] = finish(m, l)
                inv = zero
                if l > zero:
                    inv = one / l
                for c in range(C):
                    out[bi, row, c] = acc[c] * inv

    return flash


def flash_cuda(factors, sizes, K, W, bias, causal):
    """Copy the (validated, contiguous) arrays to the device, launch, copy back (logz, out)."""
    nb, nk, D = K.shape
    C = W.shape[2]
    n_rows = int(np.prod(sizes))
    dtype = np.dtype(K.dtype)
    grid, block, tile_k = launch_config(n_rows, nb, D, C, dtype.itemsize)
    kernel = _flash_kernel(dtype, D, C, tile_k)
    logz = cuda.device_array((nb, n_rows), dtype=dtype)
    out = cuda.device_array((nb, n_rows, C), dtype=dtype)
    kernel[grid, block](
        cuda.to_device(factors),
        cuda.to_device(sizes),
        cuda.to_device(K),
        cuda.to_device(W),
        cuda.to_device(bias),
        bool(causal),
        logz,
        out,
    )
    return logz.copy_to_host(), out.copy_to_host()
