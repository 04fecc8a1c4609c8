"""polyth_kernels.naive.naive_attention against a float64 oracle that lists every tuple explicitly."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth_kernels.naive import naive_attention
from tests.backends import BACKENDS


def oracle(Qs, slot_var, slot_power, coef, Vs, value_var, scale, per_channel=False, parent=None, causal=0):
    Qs = np.asarray(Qs, dtype=np.float64)
    Vs = np.asarray(Vs, dtype=np.float64)
    _, nb, n, d = Qs.shape
    t = max(slot_var) + 1
    out = np.zeros((nb, n, Vs.shape[3]))
    for bb, l1 in itertools.product(range(nb), range(n)):
        scores, values = [], []
        for rest in itertools.product(range(n), repeat=t - 1):
            l = (l1, *rest)
            if causal == 1 and any(x > l1 for x in rest):
                continue
            if causal == 2 and any(l[a] > l[parent[a]] for a in range(1, t)):
                continue
            per_coordinate = sum(
                coef[m]
                * np.prod(
                    [Qs[s, bb, l[slot_var[s]]] ** slot_power[m][s] for s in range(len(slot_var))], axis=0
                )
                for m in range(len(coef))
            )
            scores.append(scale * (per_coordinate if per_channel else per_coordinate.sum() * np.ones(d)))
            values.append(
                np.prod([Vs[p, bb, l[value_var[p]]] for p in range(len(value_var))], axis=0)
                if len(value_var)
                else np.ones(Vs.shape[3])
            )
        scores = np.array(scores)[:, : Vs.shape[3]] if per_channel else np.array(scores)[:, :1]
        weights = np.exp(scores - scores.max(axis=0))
        out[bb, l1] = (weights * np.array(values)).sum(axis=0) / weights.sum(axis=0)
    return out


# (slot_var, slot_power, coef, value_var, per_channel, parent) of a few mechanisms
STRASSEN = ([0, 1, 2], [[1, 1, 0], [0, 1, 1], [1, 0, 1]], [1.0, 1.0, 1.0], [1, 2], False, None)
SELF = ([0, 1], [[1, 1]], [1.0], [1], False, None)
# untied path x1·x2 + x2·x3: slots (m1, x1), (m1, x2), (m2, x2), (m2, x3); value on the query too
UNTIED_PATH = ([0, 1, 1, 2], [[1, 1, 0, 0], [0, 0, 1, 1]], [1.0, 0.5], [0, 2], False, [-1, 0, 1])
# element-wise -(x1 - x2)^2 = -x1^2 + 2 x1 x2 - x2^2, per channel
ELEMENTWISE = ([0, 1], [[2, 0], [1, 1], [0, 2]], [-1.0, 2.0, -1.0], [1], True, None)
# a path x1 - x3 - x2 whose parents are not in variable order, with a non-multilinear monomial
TWISTED = ([0, 1, 2], [[1, 0, 1], [0, 2, 1]], [1.0, -0.7], [1, 2], False, [-1, 2, 0])
MECHANISMS = {
    "strassen": STRASSEN,
    "self": SELF,
    "untied_path": UNTIED_PATH,
    "elementwise": ELEMENTWISE,
    "twisted": TWISTED,
}


def run_case(mechanism, backend, dtype, causal, batched=True, n=5, d=3, score_scale=1.0, seed=0):
    slot_var, slot_power, coef, value_var, per_channel, parent = MECHANISMS[mechanism]
    rng = np.random.default_rng(seed)
    b = 2 if batched else 1
    Qs = (rng.standard_normal((len(slot_var), b, n, d)) * score_scale).astype(dtype)
    Vs = rng.standard_normal((len(value_var), b, n, d)).astype(dtype)
    scale = 0.5
    args = (np.array(slot_var), np.array(slot_power), np.array(coef))
    if batched:
        got = naive_attention(Qs, *args, Vs, value_var, scale, per_channel, parent, causal, backend=backend)
    else:
        got = naive_attention(
            Qs[:, 0], *args, Vs[:, 0], value_var, scale, per_channel, parent, causal, backend=backend
        )[None]
    expected = oracle(Qs, slot_var, slot_power, coef, Vs, value_var, scale, per_channel, parent, causal)
    assert got.dtype == dtype and got.shape == expected.shape
    tol = 2e-4 * np.abs(Vs).max() ** len(value_var) if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_matches_the_oracle(backend, mechanism):
    causal = 2 if MECHANISMS[mechanism][5] is not None else 1
    run_case(mechanism, backend, np.float64, 0)
    run_case(mechanism, backend, np.float32, causal, batched=False, n=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_scores_stay_finite_and_exact(backend):
    run_case("strassen", backend, np.float64, 1, n=4, score_scale=40.0)  # |S| ~ 1e3
    run_case("elementwise", backend, np.float32, 0, n=4, score_scale=60.0)


@given(
    mechanism=st.sampled_from(list(MECHANISMS)),
    causal=st.sampled_from([0, 1, 2]),
    n=st.integers(1, 5),
    d=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_cpu_matches_the_oracle_on_random_sizes(mechanism, causal, n, d, seed):
    if causal == 2 and MECHANISMS[mechanism][5] is None:
        causal = 1
    run_case(mechanism, "cpu", np.float64, causal, n=n, d=d, seed=seed)


def test_self_attention_is_the_softmax_of_q_k():
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((3, 7, 4))
    got = naive_attention(np.stack([q, k]), [0, 1], [[1, 1]], [1.0], v[None], [1], 0.25)
    s = q @ k.T * 0.25
    p = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, p @ v / p.sum(axis=1, keepdims=True), rtol=0, atol=1e-12)


def test_overflowing_scores_raise():
    Qs = np.full((2, 3, 2), 1e200)
    with pytest.raises(FloatingPointError, match="overflowed"):
        naive_attention(Qs, [0, 1], [[1, 1]], [1.0], np.ones((1, 3, 2)), [1], 1.0)


def test_bad_inputs_raise_value_errors():
    Qs = np.zeros((2, 3, 2))
    V = np.ones((1, 3, 2))
    good = ([0, 1], [[1, 1]], [1.0], V, [1], 1.0)
    with pytest.raises(ValueError, match="slot_power"):
        naive_attention(Qs, [0, 1], [[1, 1, 1]], [1.0], V, [1], 1.0)
    with pytest.raises(ValueError, match="value_var"):
        naive_attention(Qs, [0, 1], [[1, 1]], [1.0], V, [2], 1.0)
    with pytest.raises(ValueError, match="parent"):
        naive_attention(Qs, *good, causal=2)
    with pytest.raises(ValueError, match="causal"):
        naive_attention(Qs, *good, causal=3)
    with pytest.raises(ValueError, match="per-channel"):
        naive_attention(Qs, *good[:3], np.ones((1, 3, 5)), [1], 1.0, per_channel=True)
    with pytest.raises(ValueError, match="NaN"):
        naive_attention(np.full((2, 3, 2), np.nan), *good)
    with pytest.raises(ValueError, match="tuples"):
        naive_attention(
            np.zeros((9, 1000, 1)), list(range(9)), [[1] * 9], [1.0], np.ones((1, 1000, 1)), [1], 1.0
        )
    with pytest.raises(ValueError, match="negative powers"):
        naive_attention(Qs, [0, 1], [[1, -1]], [1.0], V, [1], 1.0)
