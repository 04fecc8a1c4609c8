"""polyth_kernels.scalar: the float32 fast exp and the online-softmax updates."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth_kernels.scalar import EXP_F32_MAX, EXP_F32_MIN, ONLINE_CPU, fast_exp_f32_array


def test_fast_exp_relative_error_over_the_normal_range():
    x = np.linspace(EXP_F32_MIN + 0.01, EXP_F32_MAX - 0.01, 400_001, dtype=np.float32)
    exact = np.exp(x.astype(np.float64))
    rel = np.abs(fast_exp_f32_array(x).astype(np.float64) - exact) / exact
    assert rel.max() < 1e-6


def test_fast_exp_underflows_to_zero_and_overflows_to_inf():
    x = np.array([-np.inf, -1e30, -1e4, -104.0, -88.0, EXP_F32_MIN - 0.01], dtype=np.float32)
    y = fast_exp_f32_array(x)
    assert np.all(y == 0.0) and not np.isnan(y).any()
    big = fast_exp_f32_array(np.array([88.5, 1e4, np.inf], dtype=np.float32))
    assert np.all(np.isposinf(big))


def test_fast_exp_is_exact_at_zero_and_monotone_near_the_edges():
    assert fast_exp_f32_array(np.zeros(3, np.float32))[0] == 1.0
    x = np.linspace(-87.3, -80, 10_001, dtype=np.float32)
    assert np.all(np.diff(fast_exp_f32_array(x)) >= 0)


def _make_stream(dtype):
    add, merge, finish = ONLINE_CPU[np.dtype(dtype)]

    @numba.njit
    def stream(v, split):
        m1, l1 = dtype(-np.inf), dtype(0.0)
        m2, l2 = dtype(-np.inf), dtype(0.0)
        for i in range(split):
            m1, l1, _, _ = add(m1, l1, v[i])
        for i in range(split, v.size):
            m2, l2, _, _ = add(m2, l2, v[i])
        m, l, _, _ = merge(m1, l1, m2, l2)
        return finish(m, l)

    return stream


STREAMS = {np.float32: _make_stream(np.float32), np.float64: _make_stream(np.float64)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(scores=st.lists(st.floats(-1e4, 1e4) | st.just(-math.inf), min_size=1, max_size=40))
def test_online_add_and_merge_give_the_log_sum_exp(dtype, scores):
    stream = STREAMS[dtype]
    v = np.array(scores, dtype=dtype)
    finite = v[np.isfinite(v)]
    expected = -math.inf if finite.size == 0 else finite.max() + math.log(np.exp(finite - finite.max()).sum())
    for split in (0, v.size // 2, v.size):
        got = stream(v, split)
        if expected == -math.inf:
            assert got == -math.inf
        else:
            assert got == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-12, abs=1e-4)
