"""The streamed causal pass: a prefix sum read one query position at a time, in O(n·C) memory.

Two eliminations of a causal chain p — u — b (e.g. the prefix-causal path x1 — x2 — x3, with
p = x1, u = x2, b = x3) run as one pass over the positions i = l_p in increasing order. With
the pairwise scores s_ub[u, j] = Au[u]·Kb[j] + bias_b[j] and s_pu[i, u] = Aq[i]·Ku[u] +
bias_u[u], the threshold [l_b ≤ l_p] and, when ``masked``, [l_u ≤ l_p]:

    logM(i, u) = log Σ_{j ≤ i} exp s_ub[u, j],      M(i, u, :) = Σ_{j ≤ i} exp(s_ub[u, j] − logM) · Wb[j, :]
    logz[i]    = log Σ_{u allowed} exp(s_pu[i, u] + logM(i, u))
    out[i, :]  = Σ_{u allowed} exp(s_pu[i, u] + logM(i, u) − logz[i]) · Wu[u, :] ⊙ M(i, u, :)

(an absent Wu or Wb counts as 1). Step i first adds the key j = i to a running log-sum-exp
per u (running max m[u], sum l[u] and C value columns: the state, O(n·C)), then reads the
row M(i, ·) from that state. The n × n message M is never stored: memory is the state, the
inputs and the output, O(n·(D + C)); work is n² score evaluations for each of the two tables,
as for a prefix scan followed by a reduction over u.

Since exp(s_pu + logM) = exp(s_pu + m[u]) · l[u] and M = acc[u] / l[u], the read needs no
logarithm: it is an online softmax over u of x = s_pu + m[u] with weight l[u] in the
normaliser and acc[u] ⊙ Wu[u] in the numerator.

CPU twin: the positions i go in blocks of ROWS; per block one ``prange`` over the threads,
thread c owning the states of u = c, c + T, … (interleaved, so that the mask u ≤ i loads every
thread alike) and running the block's positions in order, keeping a partial (max, sum,
accumulator) of each read; the partials are merged per position (Milakov & Gimelshein 2018).
CUDA: for each i one launch with a thread per u (state update and read) and a shared-memory
tree merge per block, then a one-block launch that merges the blocks' partials into out[i];
the same kernels run under the simulator.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda, float32, float64, prange

from polyth_kernels.backend import resolve_backend
from polyth_kernels.scalar import FASTMATH, ONLINE_CUDA, softmax_exp

# ---------------------------------------------------------------- CPU twin


@numba.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _stream_cpu(Aq, Ku, bias_u, Wu, has_wu, Au, Kb, bias_b, Wb, has_wb, masked, C, parts, rows, zero, one):
    nb, n, D1 = Aq.shape
    D2 = Au.shape[2]
    Cb = Wb.shape[2] if has_wb else 0
    ninf = -np.inf
    logz = np.empty((nb, n), dtype=Aq.dtype)
    out = np.empty((nb, n, C), dtype=Aq.dtype)
    for bi in range(nb):
        state_m = np.full(n, ninf, dtype=Aq.dtype)
        state_l = np.zeros(n, dtype=Aq.dtype)
        state_acc = np.zeros((n, max(Cb, 1)), dtype=Aq.dtype)
        part_m = np.empty((parts, rows), dtype=Aq.dtype)
        part_l = np.empty((parts, rows), dtype=Aq.dtype)
        part_acc = np.empty((parts, rows, max(C, 1)), dtype=Aq.dtype)
        for i0 in range(0, n, rows):
            i1 = min(n, i0 + rows)
            for c in prange(parts):  # part c owns u = c, c + parts, …: balanced under the mask
                racc = np.empty(max(C, 1), dtype=Aq.dtype)
                for i in range(i0, i1):
                    limit = i + 1 if masked else n
                    rm = ninf
                    rl = zero
                    for k in range(C):
                        racc[k] = zero
                    for u in range(c, n, parts):
                        s = bias_b[bi, i]
                        for d in range(D2):
                            s += Au[bi, u, d] * Kb[bi, i, d]
                        # the state of u takes the key j = i (online log-sum-exp)
                        if s > state_m[u]:
                            alpha = softmax_exp(state_m[u] - s)
                            state_l[u] = state_l[u] * alpha + one
                            for k in range(Cb):
                                state_acc[u, k] = state_acc[u, k] * alpha + Wb[bi, i, k]
                            state_m[u] = s
                        else:
                            p = softmax_exp(s - state_m[u])
                            state_l[u] += p
                            for k in range(Cb):
                                state_acc[u, k] += p * Wb[bi, i, k]
                        if u >= limit:
                            continue
                        x = bias_u[bi, u] + state_m[u]
                        for d in range(D1):
                            x += Aq[bi, i, d] * Ku[bi, u, d]
                        if x > rm:
                            alpha = softmax_exp(rm - x)
                            rl *= alpha
                            for k in range(C):
                                racc[k] *= alpha
                            rm = x
                        w = softmax_exp(x - rm)
                        rl += w * state_l[u]
                        for k in range(C):
                            value = w * (state_acc[u, k] if has_wb else state_l[u])
                            if has_wu:
                                value *= Wu[bi, u, k]
                            racc[k] += value
                    part_m[c, i - i0] = rm
                    part_l[c, i - i0] = rl
                    for k in range(C):
                        part_acc[c, i - i0, k] = racc[k]
            for i in range(i0, i1):
                m = ninf
                for c in range(parts):
                    m = max(m, part_m[c, i - i0])
                total = zero
                for k in range(C):
                    out[bi, i, k] = zero
                for c in range(parts):
                    if part_m[c, i - i0] == ninf:
                        continue
                    scale = softmax_exp(part_m[c, i - i0] - m)
                    total += part_l[c, i - i0] * scale
                    for k in range(C):
                        out[bi, i, k] += part_acc[c, i - i0, k] * scale
                logz[bi, i] = m + math.log(total)
                for k in range(C):
                    out[bi, i, k] /= total
    return logz, out


ROWS = 256  # query positions per parallel region (the partials of a region: parts × ROWS × C)


def _stream_on_cpu(Aq, Ku, bias_u, Wu, has_wu, Au, Kb, bias_b, Wb, has_wb, masked, C):
    parts = min(numba.get_num_threads(), Aq.shape[1])
    t = Aq.dtype.type
    return _stream_cpu(
        Aq, Ku, bias_u, Wu, has_wu, Au, Kb, bias_b, Wb, has_wb, masked, C, parts, ROWS, t(0.0), t(1.0)
    )


# ---------------------------------------------------------------- CUDA kernels

THREADS = 64


@functools.cache
def _cuda_kernels(dtype: np.dtype, C: int, Cb: int, has_wu: bool, has_wb: bool):
    ft = float32 if dtype == np.float32 else float64
    add, merge, finish = ONLINE_CUDA[dtype]
    zero, one, ninf = ft(0.0), ft(1.0), ft(-math.inf)
    slots, bslots = max(C, 1), max(Cb, 1)

    @cuda.jit
    def step(i, masked, Aq, Ku, bias_u, Wu, Au, Kb, bias_b, Wb, sm, sl, sacc, pm, pl, pacc):
        bi = cuda.blockIdx.y
        t = cuda.threadIdx.x
        u = cuda.blockIdx.x * THREADS + t
        n = Aq.shape[1]
        shared_m = cuda.shared.array(THREADS, ft)
        shared_l = cuda.shared.array(THREADS, ft)
        shared_acc = cuda.shared.array((THREADS, slots), ft)
        m = ninf
        l = zero
        for k in range(C):
            shared_acc[t, k] = zero
        if u < n:
            s = bias_b[bi, i]
            for d in range(Au.shape[2]):
                s += Au[bi, u, d] * Kb[bi, i, d]
            m_new, l_new, alpha, p = add(sm[bi, u], sl[bi, u], s)
            for k in range(Cb):
                sacc[bi, u, k] = sacc[bi, u, k] * alpha + p * Wb[bi, i, k]
            sm[bi, u] = m_new
            sl[bi, u] = l_new
            if not masked or u <= i:
                x = bias_u[bi, u] + m_new
                for d in range(Aq.shape[2]):
                    x += Aq[bi, i, d] * Ku[bi, u, d]
                m = x
                l = l_new
                for k in range(C):
                    value = sacc[bi, u, k] if has_wb else l_new
                    if has_wu:
                        value *= Wu[bi, u, k]
                    shared_acc[t, k] = value
        shared_m[t] = m
        shared_l[t] = l
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if t < half:
                m, l, a1, a2 = merge(shared_m[t], shared_l[t], shared_m[t + half], shared_l[t + half])
                for k in range(C):
                    shared_acc[t, k] = shared_acc[t, k] * a1 + shared_acc[t + half, k] * a2
                shared_m[t] = m
                shared_l[t] = l
            cuda.syncthreads()
            half //= 2
        if t == 0:
            pm[bi, cuda.blockIdx.x] = shared_m[0]
            pl[bi, cuda.blockIdx.x] = shared_l[0]
            for k in range(C):
                pacc[bi, cuda.blockIdx.x, k] = shared_acc[0, k]

    @cuda.jit
    def finish_row(i, pm, pl, pacc, logz, out):
        bi = cuda.blockIdx.x
        if cuda.threadIdx.x != 0:
            return
        acc = cuda.local.array(slots, ft)
        for k in range(C):
            acc[k] = zero
        m = ninf
        l = zero
        for c in range(pm.shape[1]):
            m, l, a1, a2 = merge(m, l, pm[bi, c], pl[bi, c])
            for k in range(C):
                acc[k] = acc[k] * a1 + pacc[bi, c, k] * a2
        logz[bi, i] = finish(m, l)
        inv = zero
        if l > zero:
            inv = one / l
        for k in range(C):
            out[bi, i, k] = acc[k] * inv

    return step, finish_row, bslots


def _stream_on_cuda(Aq, Ku, bias_u, Wu, has_wu, Au, Kb, bias_b, Wb, has_wb, masked, C):
    nb, n, _ = Aq.shape
    dtype = np.dtype(Aq.dtype)
    Cb = Wb.shape[2] if has_wb else 0
    step, finish_row, bslots = _cuda_kernels(dtype, C, Cb, bool(has_wu), bool(has_wb))
    blocks = -(-n // THREADS)
    device = [cuda.to_device(x) for x in (Aq, Ku, bias_u, Wu, Au, Kb, bias_b, Wb)]
    sm = cuda.to_device(np.full((nb, n), -np.inf, dtype=dtype))
    sl = cuda.to_device(np.zeros((nb, n), dtype=dtype))
    sacc = cuda.to_device(np.zeros((nb, n, bslots), dtype=dtype))
    pm = cuda.device_array((nb, blocks), dtype=dtype)
    pl = cuda.device_array((nb, blocks), dtype=dtype)
    pacc = cuda.device_array((nb, blocks, max(C, 1)), dtype=dtype)
    logz = cuda.device_array((nb, n), dtype=dtype)
    out = cuda.device_array((nb, n, max(C, 1)), dtype=dtype)
    for i in range(n):
        step[(blocks, nb), THREADS](i, bool(masked), *device, sm, sl, sacc, pm, pl, pacc)
        finish_row[nb, 1](i, pm, pl, pacc, logz, out)
    return logz.copy_to_host(), out.copy_to_host()[:, :, :C]


# ---------------------------------------------------------------- host wrapper


def _array(x, dtype, name, shape):
    x = np.ascontiguousarray(x, dtype=dtype)
    if x.shape != shape:
        raise ValueError(f"stream_pass: {name} must have shape {shape}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"stream_pass: {name} contains NaN or inf; pass finite values")
    return x


def stream_pass(Aq, Ku, Au, Kb, Wu=None, Wb=None, bias_u=None, bias_b=None, masked=True, backend="cpu"):
    """The streamed causal pass (module docstring): Aq, Ku (b, n, D1) the features of the
    table {p, u} on p and u; Au, Kb (b, n, D2) those of the table {u, b} on u and b; Wu, Wb
    (b, n, C) or None the value messages on u and b; bias_u, bias_b (b, n) or None their
    log-biases; ``masked``: also [l_u ≤ l_p]. Returns logz (b, n) and out (b, n, C) (C = 0
    when neither Wu nor Wb is given)."""
    Aq = np.asarray(Aq)
    if Aq.dtype not in (np.float32, np.float64) or Aq.ndim != 3:
        raise ValueError(
            f"stream_pass: Aq must be a float32 or float64 (b, n, D) array, got {Aq.dtype} {Aq.shape}"
        )
    dtype = Aq.dtype
    nb, n, D1 = Aq.shape
    if n == 0 or nb == 0:
        raise ValueError(f"stream_pass: empty input {Aq.shape}")
    Aq = _array(Aq, dtype, "Aq", (nb, n, D1))
    Ku = _array(Ku, dtype, "Ku", (nb, n, D1))
    Au = np.asarray(Au)
    D2 = Au.shape[-1] if Au.ndim == 3 else -1
    Au = _array(Au, dtype, "Au", (nb, n, D2))
    Kb = _array(Kb, dtype, "Kb", (nb, n, D2))
    widths = {np.shape(w)[-1] for w in (Wu, Wb) if w is not None}
    if len(widths) > 1:
        raise ValueError(f"stream_pass: Wu and Wb must have one width C, got {sorted(widths)}")
    C = widths.pop() if widths else 0
    has_wu, has_wb = Wu is not None, Wb is not None
    Wu = _array(Wu, dtype, "Wu", (nb, n, C)) if has_wu else np.zeros((1, 1, 1), dtype)
    Wb = _array(Wb, dtype, "Wb", (nb, n, C)) if has_wb else np.zeros((1, 1, 1), dtype)
    bias_u = np.zeros((nb, n), dtype) if bias_u is None else _array(bias_u, dtype, "bias_u", (nb, n))
    bias_b = np.zeros((nb, n), dtype) if bias_b is None else _array(bias_b, dtype, "bias_b", (nb, n))
    args = (Aq, Ku, bias_u, Wu, has_wu, Au, Kb, bias_b, Wb, has_wb, bool(masked), C)
    if resolve_backend(backend) == "cpu":
        logz, out = _stream_on_cpu(*args)
    else:
        logz, out = _stream_on_cuda(*args)
    if not (np.isfinite(logz).all() and np.isfinite(out).all()):
        raise FloatingPointError(
            f"stream_pass: the result overflowed the {dtype} range (NaN or inf); rescale the features "
            "or use float64"
        )
    return logz, out
