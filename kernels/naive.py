"""The naive poly-attention kernel: an online softmax over all n^(t−1) tuples (small n; the
second oracle, and the only one that runs on a GPU).

Inputs are arrays only. Input slot s (one projected matrix Qs[s] ∈ R^{b×n×d}) belongs to
variable slot_var[s] ∈ {0, …, t−1}, t = 1 + max(slot_var); monomial m has coefficient
coef[m] and power slot_power[m, s] of slot s (0 if absent). For a tuple l = (l_1, …, l_t)
(Chakrabarti, Pitassi, Alman 2026, Definition 2.2; coordinate-wise order-k inner product):

    S(l)      = scale · Σ_c Σ_m coef[m] · Π_s Qs[s, l_{slot_var[s]}, c]^{slot_power[m, s]}
    Att[l_1]  = Σ_{l_2..l_t} exp(S(l)) · Π_p Vs[p, l_{value_var[p]}, :]  /  Σ_{l_2..l_t} exp(S(l))

per_channel: output channel c uses coordinate c only, S_c(l) = scale · Σ_m coef[m] Π_s
Qs[s, l, c]^p, one softmax per channel (dv = d). causal 1 (prefix) keeps tuples with every
l_a ≤ l_1; causal 2 (nested) keeps those with l_a ≤ l_{parent[a]} for every a ≥ 1.

Tuples are enumerated by an odometer over (l_2, …, l_t) (no recursion) and folded into an
online softmax (running max, polyth_kernels.scalar), so scores of any size stay finite. Scores
and accumulators are float64 whatever the input dtype (this kernel is an oracle); the
output has the input dtype. A non-finite score (the polynomial overflowed) raises
FloatingPointError. CPU twin: numba prange over (batch, query). CUDA: one thread per
(batch, query), and per channel in per-channel mode.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.features import integer_power
from polyth_kernels.gemm import blocks
from polyth_kernels.scalar import make_online_math
from polyth_kernels.threads import launch

MAX_VARIABLES = 16  # the odometer's local array on a GPU has a fixed size
MAX_TUPLES = 10**12
THREADS = 64

_add, _merge, _finish = make_online_math(np.float64)


def _make_polynomial(power):
    """The score polynomial at one coordinate, calling ``power`` (a CPU or CUDA twin of integer_power)."""

    def polynomial_at(Qs, bb, idx, c, slot_var, mono_start, mono_slot, mono_power, coef):
        """Σ_m coef[m] Π_s Qs[s, bb, idx[slot_var[s]], c]^power in float64 (monomials in CSR form)."""
        total = 0.0
        for m in range(coef.shape[0]):
            term = coef[m]
            for e in range(mono_start[m], mono_start[m + 1]):
                s = mono_slot[e]
                term *= power(float(Qs[s, bb, idx[slot_var[s]], c]), mono_power[e])
            total += term
        return total

    return polynomial_at


def _value_at(Vs, bb, idx, value_var, c):
    """Π_p Vs[p, bb, idx[value_var[p]], c] in float64 (1 when there are no value variables)."""
    product = 1.0
    for p in range(Vs.shape[0]):
        product *= float(Vs[p, bb, idx[value_var[p]], c])
    return product


def _tuple_allowed(idx, parent, t, causal):
    """Nested causality: every l_a ≤ l_{parent[a]} (prefix causality is enforced by the odometer's limit)."""
    if causal == 2:
        for a in range(1, t):
            if idx[a] > idx[parent[a]]:
                return False
    return True


def _advance(idx, t, limit):
    """Odometer step over idx[1..t−1], each digit in [0, limit)."""
    a = t - 1
    while a >= 1:
        idx[a] += 1
        if idx[a] < limit:
            return
        idx[a] = 0
        a -= 1


_cpu = numba.njit(inline="always")
_dev = cuda.jit(device=True, inline="always")
polynomial_cpu = _cpu(_make_polynomial(_cpu(integer_power)))
value_cpu = _cpu(_value_at)
allowed_cpu = _cpu(_tuple_allowed)
advance_cpu = _cpu(_advance)
add_cpu = _cpu(_add)
polynomial_dev = _dev(_make_polynomial(_dev(integer_power)))
value_dev = _dev(_value_at)
allowed_dev = _dev(_tuple_allowed)
advance_dev = _dev(_advance)
add_dev = _dev(_add)


# ---------------------------------------------------------------- CPU twin


@numba.njit(parallel=True, cache=True)
def _naive_cpu(
    Qs,
    slot_var,
    mono_start,
    mono_slot,
    mono_power,
    coef,
    Vs,
    value_var,
    t,
    per_channel,
    parent,
    causal,
    out,
    bad,
):
    nb = Qs.shape[1]
    n = Qs.shape[2]
    d = Qs.shape[3]
    dv = out.shape[2]
    for task in prange(nb * n):
        bb = task // n
        l1 = task % n
        limit = l1 + 1 if causal == 1 else n
        count = limit ** (t - 1)
        idx = np.zeros(t, dtype=np.int64)
        idx[0] = l1
        channels = d if per_channel else 1
        run_max = np.full(channels, -np.inf)
        run_sum = np.zeros(channels)
        acc = np.zeros(dv)
        for _ in range(count):
            if allowed_cpu(idx, parent, t, causal):
                if per_channel:
                    for c in range(d):
                        s = polynomial_cpu(Qs, bb, idx, c, slot_var, mono_start, mono_slot, mono_power, coef)
                        if not math.isfinite(s):
                            bad[task] = 1
                        run_max[c], run_sum[c], alpha, p = add_cpu(run_max[c], run_sum[c], s)
                        acc[c] = acc[c] * alpha + p * value_cpu(Vs, bb, idx, value_var, c)
                else:
                    s = 0.0
                    for c in range(d):
                        s += polynomial_cpu(Qs, bb, idx, c, slot_var, mono_start, mono_slot, mono_power, coef)
                    if not math.isfinite(s):
                        bad[task] = 1
                    run_max[0], run_sum[0], alpha, p = add_cpu(run_max[0], run_sum[0], s)
                    for c in range(dv):
                        acc[c] = acc[c] * alpha + p * value_cpu(Vs, bb, idx, value_var, c)
            advance_cpu(idx, t, limit)
        for c in range(dv):
            out[bb, l1, c] = acc[c] / run_sum[c if per_channel else 0]


# ---------------------------------------------------------------- CUDA


@cuda.jit
def _naive_kernel(
    Qs, slot_var, mono_start, mono_slot, mono_power, coef, Vs, value_var, t, parent, causal, acc, out, bad
):
    """One thread per (batch, query); acc (b, n, dv) float64 is this thread's value accumulator."""
    task = cuda.grid(1)
    nb = Qs.shape[1]
    n = Qs.shape[2]
    d = Qs.shape[3]
    dv = out.shape[2]
    if task >= nb * n:
        return
    bb = task // n
    l1 = task % n
    limit = l1 + 1 if causal == 1 else n
    idx = cuda.local.array(MAX_VARIABLES, numba.int64)
    for a in range(t):
        idx[a] = 0
    idx[0] = l1
    for c in range(dv):
        acc[bb, l1, c] = 0.0
    run_max = -math.inf
    run_sum = 0.0
    for _ in range(limit ** (t - 1)):
        if allowed_dev(idx, parent, t, causal):
            s = 0.0
            for c in range(d):
                s += polynomial_dev(Qs, bb, idx, c, slot_var, mono_start, mono_slot, mono_power, coef)
            if not math.isfinite(s):
                bad[task] = 1
            run_max, run_sum, alpha, p = add_dev(run_max, run_sum, s)
            for c in range(dv):
                acc[bb, l1, c] = acc[bb, l1, c] * alpha + p * value_dev(Vs, bb, idx, value_var, c)
        advance_dev(idx, t, limit)
    for c in range(dv):
        out[bb, l1, c] = acc[bb, l1, c] / run_sum


@cuda.jit
def _naive_per_channel_kernel(
    Qs, slot_var, mono_start, mono_slot, mono_power, coef, Vs, value_var, t, parent, causal, out, bad
):
    """One thread per (batch, query, channel): a scalar online softmax over the tuples."""
    task = cuda.grid(1)
    nb = Qs.shape[1]
    n = Qs.shape[2]
    d = Qs.shape[3]
    if task >= nb * n * d:
        return
    bb = task // (n * d)
    l1 = (task // d) % n
    c = task % d
    limit = l1 + 1 if causal == 1 else n
    idx = cuda.local.array(MAX_VARIABLES, numba.int64)
    for a in range(t):
        idx[a] = 0
    idx[0] = l1
    run_max = -math.inf
    run_sum = 0.0
    acc = 0.0
    for _ in range(limit ** (t - 1)):
        if allowed_dev(idx, parent, t, causal):
            s = polynomial_dev(Qs, bb, idx, c, slot_var, mono_start, mono_slot, mono_power, coef)
            if not math.isfinite(s):
                bad[bb * n + l1] = 1
            run_max, run_sum, alpha, p = add_dev(run_max, run_sum, s)
            acc = acc * alpha + p * value_dev(Vs, bb, idx, value_var, c)
        advance_dev(idx, t, limit)
    out[bb, l1, c] = acc / run_sum


# ---------------------------------------------------------------- public


def _int_array(x, name, ndim):
    arr = np.asarray(x)
    if arr.ndim != ndim or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(
            f"naive_attention: {name} must be a {ndim}-D integer array, got {arr.dtype} {arr.shape}"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _checked(Qs, slot_var, slot_power, coef, Vs, value_var, scale, per_channel, parent, causal):
    Qs = np.asarray(Qs)
    Vs = np.asarray(Vs)
    if Qs.dtype not in (np.float32, np.float64) or Vs.dtype != Qs.dtype:
        raise ValueError(
            f"naive_attention needs Qs and Vs of one dtype, float32 or float64; got {Qs.dtype}, {Vs.dtype}"
        )
    batched = Qs.ndim == 4
    if Qs.ndim not in (3, 4) or Vs.ndim != Qs.ndim:
        raise ValueError(
            f"naive_attention needs Qs (S, b, n, d) and Vs (P, b, n, dv) (or both without b); got "
            f"{Qs.shape} and {Vs.shape}"
        )
    if not batched:
        Qs, Vs = Qs[:, None], Vs[:, None]
    S, nb, n, d = Qs.shape
    if S == 0 or n == 0 or d == 0:
        raise ValueError(f"naive_attention: Qs {Qs.shape} has an empty axis")
    if Vs.shape[1:3] != (nb, n):
        raise ValueError(f"naive_attention: Vs {Vs.shape} must match Qs {Qs.shape} in batch and length")
    slot_var = _int_array(slot_var, "slot_var", 1)
    slot_power = _int_array(slot_power, "slot_power", 2)
    value_var = _int_array(value_var, "value_var", 1)
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    if slot_var.shape != (S,):
        raise ValueError(
            f"naive_attention: slot_var has shape {slot_var.shape}, expected ({S},): one per slot"
        )
    if slot_var.min() < 0:
        raise ValueError("naive_attention: slot_var has negative variables")
    t = int(slot_var.max()) + 1
    if t > MAX_VARIABLES:
        raise ValueError(f"naive_attention handles at most {MAX_VARIABLES} variables, got t = {t}")
    if coef.ndim != 1 or slot_power.shape != (coef.shape[0], S):
        raise ValueError(
            f"naive_attention: slot_power {slot_power.shape} must be (M, S) = ({coef.shape[0]}, {S})"
        )
    if (slot_power < 0).any():
        raise ValueError("naive_attention: slot_power has negative powers")
    if value_var.shape != (Vs.shape[0],) or (
        value_var.size and (value_var.min() < 0 or value_var.max() >= t)
    ):
        raise ValueError(
            f"naive_attention: value_var must give, for each of the {Vs.shape[0]} value arrays, a "
            f"variable in 0..{t - 1}; got {value_var.tolist()}"
        )
    if per_channel and Vs.shape[3] != d:
        raise ValueError(f"naive_attention: per-channel mode needs dv = d = {d}, got dv = {Vs.shape[3]}")
    if causal not in (0, 1, 2):
        raise ValueError(
            f"naive_attention: causal must be 0 (none), 1 (prefix) or 2 (nested), got {causal!r}"
        )
    if causal == 2:
        if parent is None:
            raise ValueError("naive_attention: causal=2 (nested) needs parent (t,) with parent[0] = -1")
        parent = _int_array(parent, "parent", 1)
        if parent.shape != (t,) or parent[0] != -1 or (parent[1:] < 0).any() or (parent[1:] >= t).any():
            raise ValueError(
                f"naive_attention: parent must be (t,) = ({t},) with parent[0] = -1 and parents in "
                f"0..{t - 1}; got {parent.tolist()}"
            )
    else:
        parent = np.full(t, -1, dtype=np.int64)
    if not (np.isfinite(coef).all() and math.isfinite(scale)):
        raise ValueError("naive_attention: coef and scale must be finite")
    if not (np.isfinite(Qs).all() and np.isfinite(Vs).all()):
        raise ValueError("naive_attention: Qs or Vs contains NaN or inf")
    if float(n) ** (t - 1) > MAX_TUPLES:
        raise ValueError(
            f"naive_attention would visit n^(t-1) = {n}^{t - 1} tuples per query; it is meant for "
            f"small n (at most {MAX_TUPLES:.0e} tuples)"
        )
    mono_slot_m, mono_slot_s = np.nonzero(slot_power)
    mono_start = np.searchsorted(mono_slot_m, np.arange(coef.shape[0] + 1)).astype(np.int64)
    mono_slot = mono_slot_s.astype(np.int64)
    mono_power = slot_power[mono_slot_m, mono_slot_s].astype(np.int64)
    scaled_coef = coef * float(scale)
    arrays = (
        np.ascontiguousarray(Qs),
        slot_var,
        mono_start,
        mono_slot,
        mono_power,
        scaled_coef,
        np.ascontiguousarray(Vs),
        value_var,
        t,
    )
    return arrays, parent, batched


def naive_attention(
    Qs,
    slot_var,
    slot_power,
    coef,
    Vs,
    value_var,
    scale,
    per_channel=False,
    parent=None,
    causal=0,
    backend="cpu",
):
    """Poly-attention by enumerating every tuple (see the module docstring).

    Qs (S, b, n, d), slot_var (S,), slot_power (M, S) int, coef (M,), Vs (P, b, n, dv), value_var (P,),
    scale float; per_channel bool; causal 0 | 1 (prefix) | 2 (nested, with parent (t,), parent[0] = −1).
    Qs and Vs without the b axis are accepted. Returns out (b, n, dv) in the dtype of Qs.
    """
    arrays, parent, batched = _checked(
        Qs, slot_var, slot_power, coef, Vs, value_var, scale, per_channel, parent, causal
    )
    Qs, slot_var, mono_start, mono_slot, mono_power, coef, Vs, value_var, t = arrays
    nb, n = Qs.shape[1], Qs.shape[2]
    dv = Vs.shape[3]
    bad = np.zeros(nb * n, dtype=np.int8)
    if backend == "cpu":
        out = np.empty((nb, n, dv), dtype=np.float64)
        work = nb * n * float(n) ** (t - 1) * (Qs.shape[3] + dv)
        launch(
            _naive_cpu,
            work,
            Qs,
            slot_var,
            mono_start,
            mono_slot,
            mono_power,
            coef,
            Vs,
            value_var,
            t,
            bool(per_channel),
            parent,
            causal,
            out,
            bad,
        )
    elif backend in ("cuda", "cudasim"):
        device = [
            to_device(x) for x in (Qs, slot_var, mono_start, mono_slot, mono_power, coef, Vs, value_var)
        ]
        d_parent = to_device(parent)
        d_out = cuda.device_array((nb, n, dv), dtype=np.float64)
        d_bad = to_device(bad)
        if per_channel:
            _naive_per_channel_kernel[blocks(nb * n * dv, THREADS), THREADS](
                *device, t, d_parent, causal, d_out, d_bad
            )
        else:
            d_acc = cuda.device_array((nb, n, dv), dtype=np.float64)
            _naive_kernel[blocks(nb * n, THREADS), THREADS](*device, t, d_parent, causal, d_acc, d_out, d_bad)
        out = to_host(d_out)
        bad = to_host(d_bad)
    else:
        raise ValueError(f"naive_attention: unknown backend {backend!r} (cpu, cuda or cudasim)")
    if bad.any():
        raise FloatingPointError(
            f"naive_attention: the score overflowed (not finite) for {int(bad.sum())} "
            "queries; rescale the inputs or the coefficients"
        )
    out = out.astype(Qs.dtype, copy=False)
    return out if batched else out[0]
