"""The brute-force reference against independent closed forms and a plain loop oracle.

``loop_attention`` below restates docs/design.md §1 tuple by tuple with ``itertools.product``
and ``math.exp`` (max-shifted): it shares no code with polyth.reference, so that the
oracle is itself checked.
"""

import itertools
import math
import time

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
import polyth.reference.brute_force
from polyth import InputError, Mechanism, NumericalError
from polyth.mechanism import Monomial
from polyth.reference import attention

TOL = dict(rtol=1e-12, atol=1e-12)


def rng_arrays(seed, *shape, count):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(count)]


def softmax_rows(scores):
    w = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------- the loop oracle
def tree_parents(m):
    """Child → parent of a tree polynomial, found by walking out from the query."""
    parents, frontier = {}, [0]
    while frontier:
        node = frontier.pop()
        for support in m.supports:
            if node in support:
                for other in support:
                    if other != 0 and other != node and other not in parents:
                        parents[other] = node
                        frontier.append(other)
    return parents


def loop_attention(m, Q, V, causal=None):
    """Att[b, l1, e] by the definition: one tuple at a time. Q, V batched, V keyed 0-based."""
    b, n, d = Q[0].shape
    dv = next(iter(V.values())).shape[2]
    scale = m.scale_for(d)
    slot = {s: i for i, s in enumerate(m.input_slots)}
    parents = tree_parents(m) if causal == "nested" else {}

    def h(bi, l, c):
        total = 0.0
        for i, mono in enumerate(m.monomials):
            term = mono.value
            for a, p in enumerate(mono.powers):
                if p:
                    term *= Q[slot[(i if m.untied else None, a)]][bi, l[a], c] ** p
            total += term
        return total

    def allowed(l):
        if causal == "prefix":
            return all(la <= l[0] for la in l[1:])
        if causal == "nested":
            return all(l[child] <= l[parent] for child, parent in parents.items())
        return True

    out = np.zeros((b, n, dv))
    for bi, l1, e in itertools.product(range(b), range(n), range(dv)):
        tuples = [(l1,) + rest for rest in itertools.product(range(n), repeat=m.t - 1)]
        tuples = [l for l in tuples if allowed(l)]
        coords = [e] if m.per_channel else range(d)
        scores = [scale * sum(h(bi, l, c) for c in coords) for l in tuples]
        peak = max(scores)
        weights = [math.exp(s - peak) for s in scores]
        products = [math.prod(V[a][bi, l[a], e] for a in m.values) for l in tuples]
        out[bi, l1, e] = sum(w * p for w, p in zip(weights, products)) / sum(weights)
    return out


def loop(m, Q, V, causal=None):
    """The oracle on unbatched inputs keyed 1-based, like the user API."""
    Qb = [q[None] for q in Q]
    Vb = {k - 1: v[None] for k, v in V.items()}
    return loop_attention(m, Qb, Vb, causal)[0]


# ------------------------------------------------------------- closed forms
def test_self_attention_is_softmax_qk_v():
    q, k, v = rng_arrays(1, 3, 9, 5, count=3)
    m = Mechanism.from_polynomial("x1*x2")
    expected = softmax_rows(q @ k.transpose(0, 2, 1) / 5) @ v
    np.testing.assert_allclose(attention(m, [q, k], {2: v}), expected, **TOL)


def test_self_attention_prefix_is_the_autoregressive_mask():
    q, k, v = rng_arrays(2, 8, 4, count=3)
    scores = np.where(np.tril(np.ones((8, 8), bool)), q @ k.T / 4, -np.inf)
    m = Mechanism.from_polynomial("x1*x2")
    np.testing.assert_allclose(attention(m, [q, k], {2: v}, causal="prefix"), softmax_rows(scores) @ v, **TOL)


def path_by_message_passing(q1, q2, q3, v2, v3, d):
    """x1x2 + x2x3 as two nested softmaxes: x3 sends (log Z, mean value) to x2, x2 to x1."""
    s23 = q2 @ q3.T / d
    log_z2 = np.log(np.exp(s23).sum(axis=1))
    message = softmax_rows(s23) @ v3
    s12 = q1 @ q2.T / d + log_z2[None, :]
    return softmax_rows(s12) @ (v2 * message)


def test_path_is_two_nested_softmaxes():
    q1, q2, q3, v2, v3 = rng_arrays(3, 7, 4, count=5)
    m = Mechanism.from_polynomial("x1*x2 + x2*x3")
    expected = path_by_message_passing(q1, q2, q3, v2, v3, 4)
    np.testing.assert_allclose(attention(m, [q1, q2, q3], {2: v2, 3: v3}), expected, **TOL)


def test_strassen_against_a_triple_loop():
    n, d = 4, 3
    q1, q2, q3, v2, v3 = rng_arrays(4, n, d, count=5)
    out = np.zeros((n, d))
    for i in range(n):
        num, den = np.zeros(d), 0.0
        for j, k in itertools.product(range(n), range(n)):
            w = math.exp((q1[i] @ q2[j] + q2[j] @ q3[k] + q3[k] @ q1[i]) / d)
            num += w * v2[j] * v3[k]
            den += w
        out[i] = num / den
    m = polyth.Mechanism.from_polynomial("x1*x2 + x2*x3 + x3*x1")
    np.testing.assert_allclose(attention(m, [q1, q2, q3], {2: v2, 3: v3}), out, **TOL)


def test_three_tensor_against_an_einsum():
    q1, q2, q3 = rng_arrays(5, 6, 4, count=3)
    v2, v3 = rng_arrays(6, 6, 2, count=2)
    scores = np.einsum("ic,jc,kc->ijk", q1, q2, q3) / 4
    w = np.exp(scores - scores.max(axis=(1, 2), keepdims=True))
    expected = np.einsum("ijk,je,ke->ie", w, v2, v3) / w.sum(axis=(1, 2))[:, None]
    m = Mechanism.from_polynomial("x1*x2*x3")
    np.testing.assert_allclose(attention(m, [q1, q2, q3], {2: v2, 3: v3}), expected, **TOL)


def test_powers_and_real_negative_coefficients():
    n, d = 5, 3
    q1, q2, v2 = rng_arrays(7, n, d, count=3)
    out = np.zeros((n, d))
    for i in range(n):
        scores = [
            sum(-((q1[i, c] - q2[j, c]) ** 2) + 0.5 * q1[i, c] * q2[j, c] ** 2 for c in range(d)) / d
            for j in range(n)
        ]
        w = np.exp(np.array(scores) - max(scores))
        out[i] = (w[:, None] * v2).sum(axis=0) / w.sum()
    m = Mechanism.from_polynomial("-(x1-x2)**2 + 0.5*x1*x2**2")
    np.testing.assert_allclose(attention(m, [q1, q2], {2: v2}), out, **TOL)


def test_untied_inputs_one_per_monomial_and_variable():
    n, d = 4, 3
    a, b, c, e, v2, v3 = rng_arrays(8, n, d, count=6)
    m = Mechanism.from_polynomial("x1*x2 + x2*x3", untied=True)
    assert m.input_slots == ((0, 0), (0, 1), (1, 1), (1, 2))
    out = np.zeros((n, d))
    for i in range(n):
        num, den = np.zeros(d), 0.0
        for j, k in itertools.product(range(n), range(n)):
            w = math.exp((a[i] @ b[j] + c[j] @ e[k]) / d)
            num += w * v2[j] * v3[k]
            den += w
        out[i] = num / den
    np.testing.assert_allclose(attention(m, [a, b, c, e], {2: v2, 3: v3}), out, **TOL)


def test_value_on_the_query_factors_out():
    q1, q2, q3, v1, v3 = rng_arrays(9, 6, 4, count=5)
    m = Mechanism.from_polynomial("x1*x2 + x2*x3", values=["x1", "x3"])
    plain = path_by_message_passing(q1, q2, q3, np.ones_like(v3), v3, 4)
    np.testing.assert_allclose(attention(m, [q1, q2, q3], {1: v1, "x3": v3}), v1 * plain, **TOL)


@pytest.mark.parametrize(
    ("text", "causal"),
    [
        ("x1*x2 + x2*x3", "prefix"),
        ("x1*x2 + x2*x3", "nested"),
        ("x1*x2 + x2*x3 + x2*x4", "nested"),
        ("x1*x2 + x2*x3 + x3*x1", "prefix"),
    ],
)
def test_causal_masks_against_loops(text, causal):
    m = Mechanism.from_polynomial(text)
    Q = rng_arrays(10, 5, 3, count=m.t)
    V = dict(zip(range(2, m.t + 1), rng_arrays(11, 5, 2, count=m.t - 1)))
    np.testing.assert_allclose(attention(m, Q, V, causal=causal), loop(m, Q, V, causal), **TOL)


def test_nested_path_keeps_exactly_the_descending_tuples():
    n, d = 5, 2
    q1, q2, q3, v2, v3 = rng_arrays(12, n, d, count=5)
    out = np.zeros((n, d))
    for i in range(n):
        num, den = np.zeros(d), 0.0
        for j in range(i + 1):
            for k in range(j + 1):
                w = math.exp((q1[i] @ q2[j] + q2[j] @ q3[k]) / d)
                num += w * v2[j] * v3[k]
                den += w
        out[i] = num / den
    m = Mechanism.from_polynomial("x1*x2 + x2*x3")
    np.testing.assert_allclose(attention(m, [q1, q2, q3], {2: v2, 3: v3}, causal="nested"), out, **TOL)


def test_per_channel_elementwise_attention():
    n, d = 6, 4
    q, k, v = rng_arrays(13, n, d, count=3)
    m = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)
    out = np.zeros((n, d))
    for i, c in itertools.product(range(n), range(d)):
        w = np.exp(-((q[i, c] - k[:, c]) ** 2))
        out[i, c] = (w * v[:, c]).sum() / w.sum()
    np.testing.assert_allclose(attention(m, [q, k], {2: v}), out, **TOL)


def test_per_channel_three_variables_against_loops():
    m = Mechanism.from_polynomial("x1*x2 + x2*x3 - 0.25*x3**2", per_channel=True)
    Q = rng_arrays(14, 4, 3, count=3)
    V = {2: rng_arrays(15, 4, 3, count=1)[0], 3: rng_arrays(16, 4, 3, count=1)[0]}
    for causal in (None, "nested"):
        np.testing.assert_allclose(attention(m, Q, V, causal=causal), loop(m, Q, V, causal), **TOL)


def test_batches_equal_per_item_calls():
    m = Mechanism.from_polynomial("x1*x2 + x2*x3 + x3*x1", values=[1, 2, 3])
    Q = rng_arrays(17, 3, 5, 4, count=3)
    V = dict(zip((1, 2, 3), rng_arrays(18, 3, 5, 2, count=3)))
    batched = attention(m, Q, V, causal="prefix")
    assert batched.shape == (3, 5, 2)
    for i in range(3):
        single = attention(m, [q[i] for q in Q], {k: v[i] for k, v in V.items()}, causal="prefix")
        np.testing.assert_allclose(batched[i], single, **TOL)


def test_large_scores_stay_finite_and_match_the_log_domain_loop():
    rng = np.random.default_rng(19)
    m = Mechanism.from_polynomial("x1*x2 + x2*x3", scale=1.0)
    Q = [rng.uniform(-70, 70, size=(4, 1)) for _ in range(3)]
    V = {2: rng.normal(size=(4, 2)), 3: rng.normal(size=(4, 2))}
    spread = np.abs(Q[0] @ Q[1].T).max()
    assert spread > 1000, "the scores must be far beyond exp's float64 range"
    out = attention(m, Q, V)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, loop(m, Q, V), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [None, "prefix", "nested"])
def test_query_blocks_give_the_same_result(monkeypatch, causal):
    m = Mechanism.from_polynomial("x1*x2 + x2*x3 - 0.5*x1**2", values=[1, 3])
    Q = rng_arrays(24, 2, 7, 3, count=3)
    V = dict(zip((1, 3), rng_arrays(25, 2, 7, 2, count=2)))
    whole = attention(m, Q, V, causal=causal)
    monkeypatch.setattr(polyth.reference.brute_force, "BLOCK_ENTRIES", 2 * 7 * 7 * 3)
    np.testing.assert_allclose(attention(m, Q, V, causal=causal), whole, **TOL)
    monkeypatch.setattr(polyth.reference.brute_force, "BLOCK_ENTRIES", 1)
    np.testing.assert_allclose(attention(m, Q, V, causal=causal), whole, **TOL)


def test_work_budget_is_enforced():
    m = Mechanism.from_polynomial("x1*x2*x3")
    Q = rng_arrays(20, 2, 10, 4, count=3)
    V = {2: Q[1], 3: Q[2]}
    with pytest.raises(InputError, match=r"b·n\^t·d = 2·10\^3·4 = 8,000 .*max_work = 7,999") as info:
        attention(m, Q, V, max_work=7999)
    assert 'method="exact"' in str(info.value)
    assert attention(m, Q, V, max_work=8000).shape == (2, 10, 4)
    with pytest.raises(InputError, match="max_work must be a positive integer"):
        attention(m, Q, V, max_work=0)


def test_score_overflow_is_a_numerical_error():
    m = Mechanism.from_polynomial("x1*x2", scale=1.0)
    q = np.full((3, 2), 1e160)
    with pytest.raises(NumericalError, match="score S"):
        attention(m, [q, q], {2: np.ones((3, 2))})


def test_value_product_overflow_is_a_numerical_error():
    m = Mechanism.from_polynomial("x1*x2 + x2*x3")
    q = np.zeros((3, 2))
    v = np.full((3, 2), 1e200)
    with pytest.raises(NumericalError, match="output is not finite"):
        attention(m, [q, q, q], {2: v, 3: v})


def test_invalid_inputs_go_through_validation():
    m = Mechanism.from_polynomial("x1*x2")
    with pytest.raises(InputError, match="Q has 1 arrays, expected 2"):
        attention(m, [np.zeros((3, 2))], {2: np.zeros((3, 2))})


def test_float32_inputs_give_a_float64_result():
    m = Mechanism.from_polynomial("x1*x2")
    q, k, v = (a.astype(np.float32) for a in rng_arrays(21, 5, 3, count=3))
    out = attention(m, [q, k], {2: v})
    assert out.dtype == np.float64
    expected = softmax_rows(q.astype(float) @ k.astype(float).T / 3) @ v.astype(float)
    np.testing.assert_allclose(out, expected, **TOL)


def test_four_variables_n24_d8_is_fast():
    m = Mechanism.from_polynomial("x1*x2 + x2*x3 + x3*x4 + x4*x1")
    Q = rng_arrays(22, 24, 8, count=4)
    V = dict(zip((2, 3, 4), rng_arrays(23, 24, 8, count=3)))
    attention(m, Q, V)
    start = time.perf_counter()
    attention(m, Q, V)
    elapsed = time.perf_counter() - start
    print(f"reference t=4 n=24 d=8: {elapsed * 1e3:.1f} ms")
    assert elapsed < 5.0


# ------------------------------------------------------------- random mechanisms
@st.composite
def mechanisms(draw):
    """Up to four variables, monomials of degree 1..3 with real coefficients."""
    terms = draw(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=3), min_size=1, max_size=4))
    terms[0] = [0] + terms[0][:2]
    used = sorted({a for term in terms for a in term})
    if len(used) == 1:
        terms.append([0, 1])
        used = [0, 1]
    rename = {a: i for i, a in enumerate(used)}
    t = len(used)
    by_powers = {}
    for term in terms:
        powers = [0] * t
        for a in term:
            powers[rename[a]] += 1
        coefficient = draw(st.floats(0.25, 2.0)) * draw(st.sampled_from([-1, 1]))
        by_powers.setdefault(tuple(powers), sympy.Float(round(coefficient, 3)))
    monomials = [Monomial(c, p) for p, c in by_powers.items()]
    values = draw(st.sets(st.integers(0, t - 1), min_size=1))
    return Mechanism(
        [f"x{i + 1}" for i in range(t)],
        monomials,
        values=values,
        untied=draw(st.booleans()),
        scale=draw(st.sampled_from([None, 0.5, 1.0])),
        per_channel=draw(st.booleans()),
    )


@settings(max_examples=150)
@given(
    m=mechanisms(),
    b=st.integers(1, 2),
    n=st.integers(1, 5),
    d=st.integers(1, 3),
    dv=st.integers(1, 2),
    causal=st.sampled_from([None, "prefix", "nested"]),
    seed=st.integers(0, 2**16),
)
def test_reference_matches_the_loop_oracle(m, b, n, d, dv, causal, seed):
    if causal == "nested" and not (m.is_tree and m.is_connected):
        causal = "prefix"
    if m.per_channel:
        dv = d
    rng = np.random.default_rng(seed)
    Q = [rng.normal(size=(b, n, d)) for _ in m.input_slots]
    V = {a: rng.normal(size=(b, n, dv)) for a in m.values}
    out = attention(m, Q, {a + 1: v for a, v in V.items()}, causal=causal)
    np.testing.assert_allclose(out, loop_attention(m, Q, V, causal), rtol=1e-10, atol=1e-12)
