"""Shared scalar math of the softmax kernels: a vectorisable float32 exp and the
online-softmax (running log-sum-exp) updates.

Online softmax (Milakov & Gimelshein 2018; flash attention, Dao et al. 2022): a
stream of scores s_1, s_2, ... is summarised by (m, l) with m = max_i s_i and
l = Σ_i exp(s_i − m), so that log Σ_i exp(s_i) = m + log l never overflows. Adding a
score x gives m' = max(m, x), l' = l·exp(m − m') + exp(x − m'); a value accumulator
acc = Σ_i exp(s_i − m)·w_i is rescaled by the same factor exp(m − m'). An empty stream
is (m, l) = (−inf, 0); scores of −inf (masked keys) leave it unchanged.

The online updates are plain Python functions wrapped twice: ``numba.njit`` for the
CPU twins and ``cuda.jit(device=True)`` for the CUDA kernels (and the simulator).
They use ``math.exp``: exact in float64; on a GPU, float32 ``math.exp`` is CUDA's expf
(the CUDA kernels compile without fastmath, because −inf must survive).

``fast_exp_f32`` is the CPU float32 exponential. numba's scalar ``math.exp`` costs
about 2 ns per element because the call does not vectorise; this one is written as

    exp(x) = 2^k · e^f,   k = round(x / ln 2),   f = x − k·ln 2  (|f| ≤ ln2 / 2),

with f computed by a two-constant (Cody–Waite) subtraction, e^f = 1 + f + f²·P(f)
where P is the degree-5 Cephes ``expf`` minimax polynomial (degree 7 in f in all), and
2^k built directly from its IEEE-754 bits ((k + 127) << 23 reinterpreted as float32).
It vectorises under the FASTMATH flags: measured 0.3 ns per element on one AVX-512
core, against about 2 ns for numba's math.exp. ``softmax_exp`` picks it for float32
and ``math.exp`` for float64 at compile time. Measured maximum relative error against
float64 ``numpy.exp`` on [−87.3, 88]: 1.2e-7, about one float32 ulp
(tests/kernels/test_scalar.py checks < 1e-6). Arguments below −87.34 (where float32
leaves the normal range) give exactly 0, −inf included; arguments above 88 give +inf
(a small loss of range: float32 overflows at 88.72). It is meant for softmax weights
exp(s − m) with s ≤ m, which lie in [0, 1]. A NaN argument gives an unspecified value
under fastmath: the kernels check their inputs for NaN before they run.

``fmax`` is the CPU max that lets a row-maximum loop vectorise (about 10× faster than
numba's ``max`` in a reduction).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import cuda, types
from numba.extending import intrinsic, overload

LOG2E = 1.4426950408889634
LN2_HI = 0.693359375  # ln 2 = LN2_HI + LN2_LO, LN2_HI exact in 9 bits (Cody–Waite)
LN2_LO = -2.12194440e-4
EXP_F32_MIN = -87.33654  # ln(2^-126): below this the result leaves the normal range
EXP_F32_MAX = 88.0  # keeps k ≤ 127 (exp(88) ≈ 1.65e38; FLT_MAX ≈ exp(88.72))
#: numba fastmath flags of the CPU kernels: vectorised reductions and FMA, and no NaN
#: (the host wrappers reject NaN inputs and inputs whose scores could overflow), but
#: not ninf: −inf marks masked keys and empty streams and must survive the optimiser
FASTMATH = {"nnan", "nsz", "arcp", "contract", "afn", "reassoc"}

_P0 = 1.9875691500e-4  # Cephes expf: e^f ≈ 1 + f + f²(P5 + f(P4 + f(P3 + f(P2 + f(P1 + f·P0)))))
_P1 = 1.3981999507e-3
_P2 = 8.3334519073e-3
_P3 = 4.1665795894e-2
_P4 = 1.6666665459e-1
_P5 = 5.0000001201e-1


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32 (an LLVM bitcast; vectorises)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int32)
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def fmax(typingctx, a, b):
    """max(a, b) of two floats of one type as LLVM's maxnum: unlike numba's ``max`` (a
    compare and select), a loop reducing with it vectorises (under the nnan flag)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, args):
        float_type = context.get_value_type(signature.args[0])
        function_type = ir.FunctionType(float_type, [float_type, float_type])
        maxnum = builder.module.declare_intrinsic("llvm.maxnum", [float_type], function_type)
        return builder.call(maxnum, args)

    return a(a, b), codegen


@numba.njit(inline="always", fastmath=FASTMATH)
def fast_exp_f32(x):
    """exp(x) in float32 by range reduction, 2^k · e^f (see the module docstring)."""
    x = np.float32(x)
    xc = min(max(x, np.float32(EXP_F32_MIN)), np.float32(EXP_F32_MAX))
    k = np.floor(xc * np.float32(LOG2E) + np.float32(0.5))
    f = xc - k * np.float32(LN2_HI)
    f = f - k * np.float32(LN2_LO)
    p = np.float32(_P0)
    p = p * f + np.float32(_P1)
    p = p * f + np.float32(_P2)
    p = p * f + np.float32(_P3)
    p = p * f + np.float32(_P4)
    p = p * f + np.float32(_P5)
    ef = p * (f * f) + f + np.float32(1.0)
    two_k = _float32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    y = ef * two_k
    if x < np.float32(EXP_F32_MIN):
        y = np.float32(0.0)
    if x > np.float32(EXP_F32_MAX):
        y = np.float32(np.inf)
    return y


def softmax_exp(x):
    """exp for the CPU softmax kernels: ``fast_exp_f32`` for float32, ``math.exp`` (exact)
    for float64. Chosen by type at compile time, so one kernel serves both dtypes."""
    return math.exp(x)


@overload(softmax_exp, jit_options={"fastmath": FASTMATH})
def _softmax_exp_for(x):
    if x == types.float32:
        return lambda x: fast_exp_f32(x)
    if isinstance(x, types.Float):
        return lambda x: math.exp(x)
    return None


@numba.njit(fastmath=FASTMATH, cache=True)
def fast_exp_f32_array(x):
    """Element-wise ``fast_exp_f32`` of a float32 array (a vectorised loop; for tests and tools)."""
    flat = x.ravel()
    out = np.empty(flat.size, dtype=np.float32)
    for i in range(flat.size):
        out[i] = fast_exp_f32(flat[i])
    return out.reshape(x.shape)


def make_online_math(ftype):
    """The online-softmax updates for one float type (literals typed ``ftype`` so that float32
    code stays float32 on a GPU). Returns plain functions (add, merge, finish):

    add(m, l, x) -> (m', l', alpha, p): m' = max(m, x), alpha = exp(m − m') rescales the old
        terms, p = exp(x − m') weighs x, l' = l·alpha + p; when m' = −inf nothing changes.
    merge(m1, l1, m2, l2) -> (m, l, a1, a2): m = max(m1, m2), a_i = exp(m_i − m), l = l1·a1 + l2·a2.
    finish(m, l) -> m + log l, the log-sum-exp (−inf for an empty stream).
    """
    one = ftype(1.0)
    zero = ftype(0.0)
    ninf = ftype(-math.inf)

    def add(m, l, x):
        m_new = max(m, x)
        if m_new == ninf:
            return m, l, one, zero
        alpha = math.exp(m - m_new)
        p = math.exp(x - m_new)
        return m_new, l * alpha + p, alpha, p

    def merge(m1, l1, m2, l2):
        m_new = max(m1, m2)
        if m_new == ninf:
            return m1, l1 + l2, one, one
        a1 = math.exp(m1 - m_new)
        a2 = math.exp(m2 - m_new)
        return m_new, l1 * a1 + l2 * a2, a1, a2

    def finish(m, l):
        if l <= zero:
            return ninf
        return m + math.log(l)

    return add, merge, finish


def _wrap(functions, decorator):
    return tuple(decorator(f) for f in functions)


_cpu_jit = numba.njit(inline="always")
_cuda_jit = cuda.jit(device=True, inline="always")

#: (add, merge, finish) by dtype, njit-compiled for the CPU twins
ONLINE_CPU = {
    np.dtype(np.float32): _wrap(make_online_math(np.float32), _cpu_jit),
    np.dtype(np.float64): _wrap(make_online_math(np.float64), _cpu_jit),
}
#: (add, merge, finish) by dtype, CUDA device functions (also run by the simulator)
ONLINE_CUDA = {
    np.dtype(np.float32): _wrap(make_online_math(np.float32), _cuda_jit),
    np.dtype(np.float64): _wrap(make_online_math(np.float64), _cuda_jit),
}
