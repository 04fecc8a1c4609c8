"""Element-wise attention (Feng 2025) in Taylor form: parallel (chunked prefix sums) and recurrent.

Per channel c the weight of key j for query i is exp(−(q_ic − k_jc)²)
= exp(−q_ic²) · exp(2 q_ic k_jc) · exp(−k_jc²); exp(−q²) cancels in the normalisation
and exp(2qk) is replaced by its Taylor polynomial of order t:

    out_ic = Σ_p a_p q_ic^p M_pc(i) / Σ_p a_p q_ic^p N_pc(i),    a_p = 2^p / p!,  p = 0..t,
    M_pc(i) = Σ_{j ∈ J(i)} e^{−k_jc²} k_jc^p v_jc,    N_pc(i) = Σ_{j ∈ J(i)} e^{−k_jc²} k_jc^p,

with J(i) every j or (causal) j ≤ i: O(t·n·D) time, and a state of 2(t + 1) moments
per channel, O(t·D), for the recurrence. Every moment is kept relative to a shift s
(the smallest k² seen): the terms e^{−(k² − s)} ≤ 1 never overflow and the common
factor e^{−s} cancels; merging two partial sums rescales the one with the larger shift
(the log-sum-exp discipline).

Parallel form, three passes over chunks of T rows (b × chunks × D tasks, each
independent): (1) each chunk's moments and shift; (2) per (batch, channel) an exclusive
scan over the chunks (causal) or the total (non-causal); (3) each chunk's rows: causal
rows continue the chunk's prefix state row by row, non-causal rows read the total.
Recurrent form: :func:`elementwise_step` adds one token to the state and reads it out.
For even t every weight is positive; for odd t a denominator ≤ 0 raises ValueError.

CPU: numba ``njit(parallel=True)`` twins; cuda/cudasim: one thread per task.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.gemm import blocks
from polyth_kernels.threads import launch

CHUNK = 64
THREADS = 128
MAX_ORDER = 32


def taylor_coefficients(order: int) -> np.ndarray:
    """a_p = 2^p / p! for p = 0..order (the Taylor coefficients of exp(2x)), float64."""
    return np.array([2.0**p / math.factorial(p) for p in range(order + 1)])


# ---------------------------------------------------------------- CPU twins


@numba.njit(parallel=True, cache=True)
def _chunk_moments_cpu(K, V, chunk, M, N, shift):
    """Pass 1: per (b, chunk, c) the chunk's moments relative to its smallest k²."""
    b, n, D = K.shape
    nc = shift.shape[1]
    order = M.shape[2] - 1
    for task in prange(b * nc * D):
        bb = task // (nc * D)
        ch = (task // D) % nc
        c = task % D
        lo = ch * chunk
        hi = min(n, lo + chunk)
        s = K[bb, lo, c] * K[bb, lo, c]
        for j in range(lo + 1, hi):
            s = min(s, K[bb, j, c] * K[bb, j, c])
        for p in range(order + 1):
            M[bb, ch, p, c] = 0
            N[bb, ch, p, c] = 0
        for j in range(lo, hi):
            kj = K[bb, j, c]
            w = math.exp(s - kj * kj)
            for p in range(order + 1):
                N[bb, ch, p, c] += w
                M[bb, ch, p, c] += w * V[bb, j, c]
                w *= kj
        shift[bb, ch, c] = s


@numba.njit(parallel=True, cache=True)
def _scan_cpu(M, N, shift, exclusive):
    """Pass 2, in place: exclusive prefix over chunks (or, not exclusive, the total in chunk 0)."""
    b, nc, P, D = M.shape
    for task in prange(b * D):
        bb = task // D
        c = task % D
        run = np.inf
        m_run = np.zeros(P, dtype=M.dtype)
        n_run = np.zeros(P, dtype=M.dtype)
        for ch in range(nc):
            s = shift[bb, ch, c]
            new = min(run, s)
            old_scale = math.exp(new - run) if run != np.inf else 0.0
            here_scale = math.exp(new - s)
            for p in range(P):
                m_here = M[bb, ch, p, c]
                n_here = N[bb, ch, p, c]
                if exclusive:
                    M[bb, ch, p, c] = m_run[p]
                    N[bb, ch, p, c] = n_run[p]
                m_run[p] = m_run[p] * old_scale + m_here * here_scale
                n_run[p] = n_run[p] * old_scale + n_here * here_scale
            if exclusive:
                shift[bb, ch, c] = run
            run = new
        if not exclusive:
            for p in range(P):
                M[bb, 0, p, c] = m_run[p]
                N[bb, 0, p, c] = n_run[p]
            shift[bb, 0, c] = run


@numba.njit(parallel=True, cache=True)
def _rows_cpu(Q, K, V, coef, chunk, M, N, shift, causal, out):
    """Pass 3: each chunk's rows, continuing the chunk's prefix state (causal) or from the total."""
    b, n, D = Q.shape
    nc = -(-n // chunk)
    P = M.shape[2]
    for task in prange(b * nc * D):
        bb = task // (nc * D)
        ch = (task // D) % nc
        c = task % D
        src = ch if causal else 0
        run = shift[bb, src, c]
        m = np.empty(P, dtype=M.dtype)
        nn = np.empty(P, dtype=M.dtype)
        for p in range(P):
            m[p] = M[bb, src, p, c]
            nn[p] = N[bb, src, p, c]
        lo = ch * chunk
        hi = min(n, lo + chunk)
        for i in range(lo, hi):
            if causal:
                ki = K[bb, i, c]
                s = ki * ki
                new = min(run, s)
                old_scale = math.exp(new - run) if run != np.inf else 0.0
                w = math.exp(new - s)
                for p in range(P):
                    nn[p] = nn[p] * old_scale + w
                    m[p] = m[p] * old_scale + w * V[bb, i, c]
                    w *= ki
                run = new
            qi = Q[bb, i, c]
            num = 0.0
            den = 0.0
            x = 1.0
            for p in range(P):
                num += coef[p] * x * m[p]
                den += coef[p] * x * nn[p]
                x *= qi
            out[bb, i, c] = num / den if den > 0 else np.nan


@numba.njit(parallel=True, cache=True)
def _step_cpu(M, N, shift, q, k, v, coef, out):
    b, P, D = M.shape
    for task in prange(b * D):
        bb = task // D
        c = task % D
        kc = k[bb, c]
        s = kc * kc
        run = shift[bb, c]
        new = min(run, s)
        old_scale = math.exp(new - run) if run != np.inf else 0.0
        w = math.exp(new - s)
        num = 0.0
        den = 0.0
        x = 1.0
        for p in range(P):
            N[bb, p, c] = N[bb, p, c] * old_scale + w
            M[bb, p, c] = M[bb, p, c] * old_scale + w * v[bb, c]
            w *= kc
            num += coef[p] * x * M[bb, p, c]
            den += coef[p] * x * N[bb, p, c]
            x *= q[bb, c]
        shift[bb, c] = new
        out[bb, c] = num / den if den > 0 else np.nan


# ---------------------------------------------------------------- CUDA


@functools.cache
def _cuda_kernels(dtype: np.dtype):
    nbtype = numba.from_dtype(dtype)
    zero = dtype.type(0)
    one = dtype.type(1)
    inf = dtype.type(np.inf)
    nan = dtype.type(np.nan)

    @cuda.jit(device=True, inline="always")
    def rescale(new, old):
        return math.exp(new - old) if old != inf else zero

    @cuda.jit
    def chunk_moments(K, V, chunk, M, N, shift):
        task = cuda.grid(1)
        b, n, D = K.shape
        nc = shift.shape[1]
        if task >= b * nc * D:
            return
        bb = task // (nc * D)
        ch = (task // D) % nc
        c = task % D
        lo = ch * chunk
        hi = min(n, lo + chunk)
        s = K[bb, lo, c] * K[bb, lo, c]
        for j in range(lo + 1, hi):
            s = min(s, K[bb, j, c] * K[bb, j, c])
        P = M.shape[2]
        for p in range(P):
            M[bb, ch, p, c] = zero
            N[bb, ch, p, c] = zero
        for j in range(lo, hi):
            kj = K[bb, j, c]
            w = math.exp(s - kj * kj)
            for p in range(P):
                N[bb, ch, p, c] += w
                M[bb, ch, p, c] += w * V[bb, j, c]
                w *= kj
        shift[bb, ch, c] = s

    @cuda.jit
    def scan(M, N, shift, exclusive):
        task = cuda.grid(1)
        b, nc, P, D = M.shape
        if task >= b * D:
            return
        bb = task // D
        c = task % D
        m_run = cuda.local.array(MAX_ORDER + 1, nbtype)
        n_run = cuda.local.array(MAX_ORDER + 1, nbtype)
        for p in range(P):
            m_run[p] = zero
            n_run[p] = zero
        run = inf
        for ch in range(nc):
            s = shift[bb, ch, c]
            new = min(run, s)
            old_scale = rescale(new, run)
            here_scale = math.exp(new - s)
            for p in range(P):
                m_here = M[bb, ch, p, c]
                n_here = N[bb, ch, p, c]
                if exclusive:
                    M[bb, ch, p, c] = m_run[p]
                    N[bb, ch, p, c] = n_run[p]
                m_run[p] = m_run[p] * old_scale + m_here * here_scale
                n_run[p] = n_run[p] * old_scale + n_here * here_scale
            if exclusive:
                shift[bb, ch, c] = run
            run = new
        if not exclusive:
            for p in range(P):
                M[bb, 0, p, c] = m_run[p]
                N[bb, 0, p, c] = n_run[p]
            shift[bb, 0, c] = run

    @cuda.jit
    def rows(Q, K, V, coef, chunk, M, N, shift, causal, out):
        task = cuda.grid(1)
        b, n, D = Q.shape
        nc = (n + chunk - 1) // chunk
        if task >= b * nc * D:
            return
        P = M.shape[2]
        bb = task // (nc * D)
        ch = (task // D) % nc
        c = task % D
        src = ch if causal else 0
        run = shift[bb, src, c]
        m = cuda.local.array(MAX_ORDER + 1, nbtype)
        nn = cuda.local.array(MAX_ORDER + 1, nbtype)
        for p in range(P):
            m[p] = M[bb, src, p, c]
            nn[p] = N[bb, src, p, c]
        lo = ch * chunk
        hi = min(n, lo + chunk)
        for i in range(lo, hi):
            if causal:
                ki = K[bb, i, c]
                s = ki * ki
                new = min(run, s)
                old_scale = rescale(new, run)
                w = math.exp(new - s)
                for p in range(P):
                    nn[p] = nn[p] * old_scale + w
                    m[p] = m[p] * old_scale + w * V[bb, i, c]
                    w *= ki
                run = new
            qi = Q[bb, i, c]
            num = zero
            den = zero
            x = one
            for p in range(P):
                num += coef[p] * x * m[p]
                den += coef[p] * x * nn[p]
                x *= qi
            out[bb, i, c] = num / den if den > zero else nan

    @cuda.jit
    def step(M, N, shift, q, k, v, coef, out):
        task = cuda.grid(1)
        b, P, D = M.shape
        if task >= b * D:
            return
        bb = task // D
        c = task % D
        kc = k[bb, c]
        s = kc * kc
        run = shift[bb, c]
        new = min(run, s)
        old_scale = rescale(new, run)
        w = math.exp(new - s)
        num = zero
        den = zero
        x = one
        for p in range(P):
            N[bb, p, c] = N[bb, p, c] * old_scale + w
            M[bb, p, c] = M[bb, p, c] * old_scale + w * v[bb, c]
            w *= kc
            num += coef[p] * x * M[bb, p, c]
            den += coef[p] * x * N[bb, p, c]
            x *= q[bb, c]
        shift[bb, c] = new
        out[bb, c] = num / den if den > zero else nan

    return chunk_moments, scan, rows, step


# ---------------------------------------------------------------- public


def _check(order, backend, what):
    if backend not in ("cpu", "cuda", "cudasim"):
        raise ValueError(f"{what}: unknown backend {backend!r} (cpu, cuda or cudasim)")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order <= MAX_ORDER:
        raise ValueError(f"{what}: the Taylor order must be an integer in 0..{MAX_ORDER}, got {order!r}")


def _finish(out: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"{what}: {int(bad.sum())} of {bad.size} outputs have a denominator ≤ 0 or are not finite "
            "(an odd Taylor order can make the weights negative: use an even order; or |q|, |k| too large)"
        )
    return out


def elementwise_attention(
    Q, K, V, order: int, causal: bool = False, backend: str = "cpu", chunk: int = CHUNK
) -> np.ndarray:
    """Element-wise attention, Taylor order ``order``: Q, K, V (b, n, D) → out (b, n, D).

    The parallel form: chunk moments, a scan over chunks, then each chunk's rows (see the module
    docstring). O(order·n·D) time; ValueError when a denominator is ≤ 0 or a result not finite.
    """
    _check(order, backend, "elementwise_attention")
    Q, K, V = (np.ascontiguousarray(X) for X in (Q, K, V))
    dtype = Q.dtype
    if dtype not in (np.float32, np.float64) or K.dtype != dtype or V.dtype != dtype:
        raise ValueError(
            f"elementwise_attention needs Q, K, V of one float dtype, got {Q.dtype}, {K.dtype}, {V.dtype}"
        )
    if Q.ndim != 3 or K.shape != Q.shape or V.shape != Q.shape:
        raise ValueError(
            f"elementwise_attention needs Q, K, V of one shape (b, n, D); got {Q.shape}, {K.shape}, {V.shape}"
        )
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"elementwise_attention: chunk must be a positive integer, got {chunk!r}")
    for name, X in (("Q", Q), ("K", K), ("V", V)):
        if not np.isfinite(X).all():
            raise ValueError(f"elementwise_attention: {name} contains NaN or inf")
    b, n, D = Q.shape
    nc = -(-n // chunk)
    P = order + 1
    coef = taylor_coefficients(order).astype(dtype)
    M = np.empty((b, nc, P, D), dtype=dtype)
    N = np.empty_like(M)
    shift = np.empty((b, nc, D), dtype=dtype)
    out = np.empty_like(Q)
    if backend == "cpu":
        work = Q.size * P * 4
        launch(_chunk_moments_cpu, work, K, V, chunk, M, N, shift)
        launch(_scan_cpu, M.size, M, N, shift, bool(causal))
        launch(_rows_cpu, work, Q, K, V, coef, chunk, M, N, shift, bool(causal), out)
        return _finish(out, "elementwise_attention")
    chunk_moments, scan, rows, _ = _cuda_kernels(np.dtype(dtype))
    dQ, dK, dV = (to_device(X) for X in (Q, K, V))
    dM, dN, dshift = (cuda.device_array_like(X) for X in (M, N, shift))
    dout = cuda.device_array_like(out)
    chunk_moments[blocks(b * nc * D, THREADS), THREADS](dK, dV, chunk, dM, dN, dshift)
    scan[blocks(b * D, THREADS), THREADS](dM, dN, dshift, bool(causal))
    rows[blocks(b * nc * D, THREADS), THREADS](
        dQ, dK, dV, to_device(coef), chunk, dM, dN, dshift, bool(causal), dout
    )
    return _finish(to_host(dout), "elementwise_attention")


def elementwise_state(b: int, D: int, order: int, dtype=np.float64):
    """The empty recurrent state: moments M, N (b, order + 1, D) zero, shift (b, D) = +inf."""
    P = order + 1
    return (
        np.zeros((b, P, D), dtype=dtype),
        np.zeros((b, P, D), dtype=dtype),
        np.full((b, D), np.inf, dtype=dtype),
    )


def elementwise_step(M, N, shift, q, k, v, order: int, backend: str = "cpu"):
    """One token of causal element-wise attention: (out (b, D), M, N, shift), the state updated.

    M, N (b, order + 1, D) and shift (b, D) from :func:`elementwise_state` or the previous step;
    q, k, v (b, D). O(order·D) work and memory per token, whatever the position. On the CPU the
    state is updated in place (and returned).
    """
    _check(order, backend, "elementwise_step")
    M, N, shift, q, k, v = (np.ascontiguousarray(X) for X in (M, N, shift, q, k, v))
    dtype = M.dtype
    if dtype not in (np.float32, np.float64) or any(X.dtype != dtype for X in (N, shift, q, k, v)):
        raise ValueError("elementwise_step needs every array in one float dtype (float32 or float64)")
    b, P, D = M.shape if M.ndim == 3 else (None, None, None)
    if (
        P != order + 1
        or N.shape != M.shape
        or shift.shape != (b, D)
        or any(X.shape != (b, D) for X in (q, k, v))
    ):
        raise ValueError(
            f"elementwise_step needs M, N (b, order+1, D), shift, q, k, v (b, D); got M {M.shape}, "
            f"N {N.shape}, shift {shift.shape}, q {q.shape}, k {k.shape}, v {v.shape} for order {order}"
        )
    coef = taylor_coefficients(order).astype(dtype)
    out = np.empty_like(q)
    if backend == "cpu":
        launch(_step_cpu, M.size * 2, M, N, shift, q, k, v, coef, out)
    else:
        step = _cuda_kernels(np.dtype(dtype))[3]
        dM, dN, dshift = (to_device(X) for X in (M, N, shift))
        dout = cuda.device_array_like(out)
        args = [to_device(X) for X in (q, k, v, coef)]
        step[blocks(b * D, THREADS), THREADS](dM, dN, dshift, *args, dout)
        M, N, shift, out = to_host(dM), to_host(dN), to_host(dshift), to_host(dout)
    return _finish(out, "elementwise_step"), M, N, shift


__all__ = ["elementwise_attention", "elementwise_state", "elementwise_step", "taylor_coefficients"]
