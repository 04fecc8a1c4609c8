"""CPU twins of the flash pass (numba ``njit(parallel=True)``).

One kernel serves the edge pass and the hyperedge pass. The query-side rows are the
grid of tuples (i_1, …, i_R) over R packed factor arrays; the feature row of a tuple is
the Hadamard product Π_r F_r[i_r, :] (R = 1: the plain edge pass, the row is A[i]).
For every row i the kernel computes, over the keys j (j ≤ i when causal),

    s[i, j] = row_i · K[j] + bias[j],   logz[i] = log Σ_j exp s[i, j],
    out[i, :] = Σ_j exp(s[i, j] − logz[i]) · W[j, :],

as flash attention does (Dao et al. 2022): ``prange`` over tiles of query rows; per
tile the keys stream in blocks, each score block is one BLAS GEMM of contiguous tiles,
the online softmax (running max and sum, polyth_kernels.scalar) rescales the accumulator,
and the value update is a second GEMM. The nq × nk score matrix never exists beyond
one (tile_q × tile_k) block per thread.

float32 uses the vectorised ``fast_exp_f32``; float64 uses ``math.exp`` (exact).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from polyth_kernels.scalar import FASTMATH, fmax, softmax_exp

#: query rows per parallel task and keys per streamed block (tuned on a 2-core AVX-512 machine)
TILE_Q = 512
TILE_K = 512


@numba.njit(inline="always")
def _balanced_tile(t, ntiles):
    """Visit query tiles as 0, last, 1, last − 1, …: prange hands each thread a contiguous
    run of tasks, and under a causal mask a tile's cost grows with its index, so pairing
    cheap and dear tiles balances the threads."""
    half = t // 2
    return half if t % 2 == 0 else ntiles - 1 - half


@numba.njit(inline="always", fastmath=FASTMATH)
def _softmax_block(s, bias, limits, m, l, acc, zero, one):
    """Turn the score block s (tq × kcount) into exp(s + bias − m_new) in place, row i over its
    first limits[i] keys (the rest set to 0: causal), update the running (m, l) and rescale
    row i of the accumulator by exp(m_old − m_new). Two passes per row: the maximum (bias
    added on the fly, nothing stored), then exp and sum. zero and one have the kernel's dtype."""
    tq, kcount = s.shape
    C = acc.shape[1]
    for i in range(tq):
        row = s[i]
        limit = limits[i]
        mx = m[i]
        for j in range(limit):
            mx = fmax(mx, row[j] + bias[j])
        if mx == -np.inf:  # every key so far masked: nothing to add
            for j in range(kcount):
                row[j] = zero
            continue
        total = zero
        for j in range(limit):
            p = softmax_exp(row[j] + bias[j] - mx)
            row[j] = p
            total += p
        for j in range(limit, kcount):
            row[j] = zero
        a = softmax_exp(m[i] - mx)
        if a != one:
            for c in range(C):
                acc[i, c] *= a
        l[i] = l[i] * a + total
        m[i] = mx


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _flash(factors, sizes, K, W, bias, causal, tile_q, tile_k, zero, one):
    """factors (b, Σ sizes, D) packed row factors; K (b, nk, D); W (b, nk, C); bias (b, nk).
    Returns logz (b, N), out (b, N, C) with N = Π sizes."""
    nb, nk, D = K.shape
    C = W.shape[2]
    R = sizes.size
    N = 1
    for r in range(R):
        N *= sizes[r]
    dt = K.dtype
    ntiles = (N + tile_q - 1) // tile_q
    logz = np.empty((nb, N), dtype=dt)
    out = np.empty((nb, N, C), dtype=dt)
    for task in prange(nb * ntiles):
        bi = task // ntiles
        q0 = _balanced_tile(task % ntiles, ntiles) * tile_q
        tq = min(tile_q, N - q0)
        if R == 1:
            rows = factors[bi, q0 : q0 + tq]
        else:
            rows = np.ones((tq, D), dtype=dt)
            for i in range(tq):
                rem = q0 + i
                offset = factors.shape[1]
                for r in range(R - 1, -1, -1):
                    offset -= sizes[r]
                    idx = rem % sizes[r]
                    rem //= sizes[r]
                    src = factors[bi, offset + idx]
                    for d in range(D):
                        rows[i, d] *= src[d]
        m = np.full(tq, -np.inf, dtype=dt)
        l = np.zeros(tq, dtype=dt)
        limits = np.empty(tq, dtype=np.int64)
        acc = np.zeros((tq, C), dtype=dt)
        score_buffer = np.empty(tq * tile_k, dtype=dt)
        pw = np.empty((tq, C), dtype=dt)
        kend = min(nk, q0 + tq) if causal else nk
        Kb = K[bi]
        Wb = W[bi]
        biasb = bias[bi]
        for k0 in range(0, kend, tile_k):
            kcount = min(tile_k, kend - k0)
            for i in range(tq):
                limits[i] = min(kcount, max(0, q0 + i - k0 + 1)) if causal else kcount
            s = score_buffer[: tq * kcount].reshape(tq, kcount)
            np.dot(rows, Kb[k0 : k0 + kcount].T, s)
            _softmax_block(s, biasb[k0 : k0 + kcount], limits, m, l, acc, zero, one)
            np.dot(s, Wb[k0 : k0 + kcount], pw)
            for i in range(tq):
                for c in range(C):
                    acc[i, c] += pw[i, c]
        for i in range(tq):
            li = l[i]
            logz[bi, q0 + i] = m[i] + math.log(li) if li > zero else -np.inf
            inv = one / li if li > zero else zero
            for c in range(C):
                out[bi, q0 + i, c] = acc[i, c] * inv
    return logz, out


def flash_cpu(factors, sizes, K, W, bias, causal, tile_q=TILE_Q, tile_k=TILE_K):
    """Run the CPU flash kernel (inputs already validated, contiguous, of one float dtype)."""
    dtype = K.dtype.type
    return _flash(factors, sizes, K, W, bias, causal, tile_q, tile_k, dtype(0.0), dtype(1.0))
