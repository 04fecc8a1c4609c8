"""The public training code of tree attention against polyth and Definition 2.2.

The poly-attention paper (Chakrabarti, Pitassi, Alman, ICLR 2026, arXiv:2602.02422) defines
tree attention x1x2 + x2x3 with values on x2 and x3 and scale 1/d (Definition 2.2).

**The authors' code** is public: sayaksc/tree_attention_simple. ``src/tree_simple.py`` (commit
1cb9f630), method ``TreeAttention_Simple`` of its ``Transformer`` layer, computes per head of
width d_h, from Q1 = W_Q1 x, Q2, Q3, V2, V3 (tied: one projection per variable):

    s12[i,j] = clamp(Q1[i]·Q2[j] / (2·sqrt(d_h)), −20, 20),   s23[j,k] likewise from Q2, Q3,
    R[i]     = max(Σ_j e^{s12[i,j]} Σ_k e^{s23[j,k]}, 1e-9),
    out[i]   = V2[i] ⊙ Σ_j e^{s12[i,j]} Σ_k e^{s23[j,k]} V3[k] / R[i]

(dropout on the exponentials, 0 by default), so V2 sits at the QUERY position i, each pairwise
score is divided by 2·sqrt(d_h) and clamped to ±20. ``model/training_config.yaml`` (commit
0f9f6727) holds the training protocol: d_model 8, 1 head, d_ff 1024, sequence length 25, batch
1024, learning rate 0.001, 30000 epochs, Adam with β = (0.9, 0.98), label smoothing 0.1.

**lucidrains/poly-attention** (``poly_attention/poly_attention.py``, an unofficial implementation
that cites arXiv:2602.02422) computes, per head, from RMS-normalised q1, q2, q3 and values v2, v3:

    s12[i,j] = C(q1[i]·q2[j] / sqrt(d)),   s23[j,k] = C(q2[j]·q3[k] / sqrt(d)),
    msg[j]  = Σ_k softmax_k(s23[j,k]) v3[k],      lse23[j] = log Σ_k exp s23[j,k],
    out[i]  = v2[i] ⊙ Σ_j softmax_j(s12[i,j] + lse23[j]) msg[j]      (then a sigmoid gate)

where C is a soft clamp c·tanh(s/c). At commit 21b90e24 (package version 0.0.6) ``Order2PolyAttention``
defaults to c = 20 and always multiplies the root value v2 at the query; at commit 45e003b5 (the
latest stored version of that file) the soft clamp is off by default (``softclamp_value=None``)
and v2 is still multiplied; ``NPolyAttention`` at commit 958de6c4 (version 0.3.5) has the clamp
off and the root value optional (``multiply_root_value=False`` by default). The commits' dates
could not be read here.

Without the clamp (or with it inactive) all of these are the poly-attention of x1x2 + x2x3 with
values {x1, x3}, V(1) = V2 (times the gate) and the code's scale:
out[i] = V2[i] ⊙ Σ_{j,k} e^{S} V3[k] / Σ_{j,k} e^{S}, S = scale·(Q1[i]·Q2[j] + Q2[j]·Q3[k]).

A second public re-implementation (visho33/PolyAttention, ``model.py``) keeps the values at
the key positions (Definition 2.2's placement) with scale 1/sqrt(d) and a hard clamp ±20.

The numpy below re-implements each from that description, independently of polyth (the authors'
arithmetic in the linear domain, lucidrains' in the log domain), and shows:
(a) with the clamps inactive (|s| < 20) or off they equal ``polyth.reference`` on the mechanism
    with ``values=(1, 3)`` (resp. the default values) and the code's scale, to 1e-12;
(b) the query-value code departs from Definition 2.2 (values x2, x3, scale 1/d) by a
    measured amount;
(c) with large scores the clamps depart from polyth (which has no clamp) by a measured amount,
    the soft one within the bound from |c·tanh(s/c) − s| ≤ |s|³/(3c²).

``python -m tests.test_paper_training_code`` prints the measured departures quoted in
papers/poly-attention/README.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth import Mechanism, reference

PATH = "x1*x2 + x2*x3"
CLAMP = 20.0


def _logsumexp(s: np.ndarray) -> np.ndarray:
    peak = s.max(axis=-1, keepdims=True)
    return (peak + np.log(np.exp(s - peak).sum(axis=-1, keepdims=True)))[..., 0]


def _softmax(s: np.ndarray) -> np.ndarray:
    return np.exp(s - _logsumexp(s)[..., None])


def _clamp(s: np.ndarray, clamp: str | None, c: float) -> np.ndarray:
    if clamp == "soft":
        return c * np.tanh(s / c)
    if clamp == "hard":
        return np.clip(s, -c, c)
    return s


def tree_code(q1, q2, q3, v2, v3, scale, clamp=None, value_at="query", gate=None, c=CLAMP):
    """Order-2 tree attention as the public training code computes it (module docstring).

    ``value_at="query"``: v2 taken at the query position (lucidrains); ``"key"``: at the key
    position j (visho33, Definition 2.2's placement). ``clamp``: None, "soft" or "hard".
    """
    s12 = _clamp(scale * q1 @ q2.T, clamp, c)
    s23 = _clamp(scale * q2 @ q3.T, clamp, c)
    msg = _softmax(s23) @ v3
    weights = _softmax(s12 + _logsumexp(s23)[None, :])
    out = v2 * (weights @ msg) if value_at == "query" else weights @ (v2 * msg)
    return out if gate is None else out / (1.0 + np.exp(-gate))


def authors_code(q1, q2, q3, v2, v3, d_h: int, c: float = CLAMP):
    """``TreeAttention_Simple`` of sayaksc/tree_attention_simple, from the module docstring (dropout off)."""
    e12 = np.exp(np.clip(q1 @ q2.T / (2 * math.sqrt(d_h)), -c, c))
    e23 = np.exp(np.clip(q2 @ q3.T / (2 * math.sqrt(d_h)), -c, c))
    denominator = np.maximum(e12 @ e23.sum(axis=1, keepdims=True), 1e-9)
    return v2 * (e12 @ (e23 @ v3)) / denominator


def inputs(seed: int, n: int = 12, d: int = 8, dv: int = 5, spread: float = 1.0):
    """q1, q2, q3 (n, d) normal × spread; v2, v3, gate (n, dv) normal."""
    rng = np.random.default_rng(seed)
    q = [spread * rng.standard_normal((n, d)) for _ in range(3)]
    v2, v3, gate = (rng.standard_normal((n, dv)) for _ in range(3))
    return q, v2, v3, gate


def query_value_mechanism(scale: float) -> Mechanism:
    """The polyth options that reproduce the code: values {x1, x3}, the code's scale, no clamp."""
    return Mechanism.from_polynomial(PATH, values=(1, 3), scale=scale)


def departures(seed: int = 0, n: int = 12, d: int = 8) -> dict[str, float]:
    """Measured max |difference| / max |reference output| between the code and polyth."""
    q, v2, v3, _ = inputs(seed, n, d)
    code = tree_code(*q, v2, v3, scale=1 / math.sqrt(d))
    definition = reference.attention(Mechanism.from_polynomial(PATH), q, {2: v2, 3: v3})
    same_scale = reference.attention(
        Mechanism.from_polynomial(PATH, scale=1 / math.sqrt(d)), q, {2: v2, 3: v3}
    )
    query_at_1_over_d = reference.attention(query_value_mechanism(1 / d), q, {1: v2, 3: v3})

    def rel(a, b):
        return float(np.abs(a - b).max() / np.abs(b).max())

    authors = authors_code(*q, v2, v3, d)
    half = reference.attention(query_value_mechanism(1 / (2 * math.sqrt(d))), q, {1: v2, 3: v3})
    out = {
        "authors' code vs polyth with values x1,x3 and scale 1/(2 sqrt(d))": rel(authors, half),
        "authors' code vs Definition 2.2": rel(authors, definition),
        "code vs Definition 2.2 (values x2,x3, scale 1/d)": rel(code, definition),
        "value placement alone (both scale 1/sqrt(d))": rel(code, same_scale),
        "scale alone (both values x1,x3; 1/sqrt(d) vs 1/d)": rel(code, query_at_1_over_d),
    }
    for spread in (2.0, 4.0, 8.0):
        q, v2, v3, _ = inputs(seed, n, d, spread=spread)
        scores = max(np.abs(q[0] @ q[1].T).max(), np.abs(q[1] @ q[2].T).max()) / math.sqrt(d)
        clamped = tree_code(*q, v2, v3, scale=1 / math.sqrt(d), clamp="soft")
        exact = reference.attention(query_value_mechanism(1 / math.sqrt(d)), q, {1: v2, 3: v3})
        out[f"soft clamp vs polyth, max |s| = {scores:.1f}"] = rel(clamped, exact)
        hard = authors_code(*q, v2, v3, d)
        half = reference.attention(query_value_mechanism(1 / (2 * math.sqrt(d))), q, {1: v2, 3: v3})
        out[f"authors' hard clamp vs polyth, max |s| = {scores / 2:.1f}"] = rel(hard, half)
    return out


# (a) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("halve", [False, True], ids=["1/sqrt(d)", "1/(2sqrt(d))"])
def test_code_without_clamp_is_polyth_with_the_value_at_the_query(seed, halve):
    d = 8
    scale = 1 / (2 * math.sqrt(d)) if halve else 1 / math.sqrt(d)
    q, v2, v3, gate = inputs(seed, d=d)
    expected = reference.attention(query_value_mechanism(scale), q, {1: v2, 3: v3})
    np.testing.assert_allclose(tree_code(*q, v2, v3, scale), expected, rtol=0, atol=1e-12)
    # The hard clamp is inactive while every pairwise score is inside ±20: still exact.
    assert max(np.abs(scale * q[0] @ q[1].T).max(), np.abs(scale * q[1] @ q[2].T).max()) < CLAMP
    np.testing.assert_allclose(tree_code(*q, v2, v3, scale, clamp="hard"), expected, atol=1e-12)
    # The sigmoid gate also sits at the query position: it folds into V(1).
    gated = reference.attention(query_value_mechanism(scale), q, {1: v2 / (1 + np.exp(-gate)), 3: v3})
    np.testing.assert_allclose(tree_code(*q, v2, v3, scale, gate=gate), gated, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_authors_code_is_polyth_with_values_on_x1_x3_and_scale_1_over_2_sqrt_d(seed):
    d = 8
    q, v2, v3, _ = inputs(seed, d=d)
    scale = 1 / (2 * math.sqrt(d))
    assert max(np.abs(scale * q[0] @ q[1].T).max(), np.abs(scale * q[1] @ q[2].T).max()) < CLAMP
    expected = reference.attention(query_value_mechanism(scale), q, {1: v2, 3: v3})
    np.testing.assert_allclose(authors_code(*q, v2, v3, d), expected, rtol=0, atol=1e-12)
    # ... and computes the same function as the lucidrains arithmetic at that scale (no clamp)
    np.testing.assert_allclose(authors_code(*q, v2, v3, d), tree_code(*q, v2, v3, scale), atol=1e-12)


def test_authors_clamp_departs_once_scores_pass_20():
    d = 8
    q, v2, v3, _ = inputs(5, d=d, spread=8.0)
    scale = 1 / (2 * math.sqrt(d))
    assert np.abs(scale * q[0] @ q[1].T).max() > CLAMP  # the clamp is active
    exact = reference.attention(query_value_mechanism(scale), q, {1: v2, 3: v3})
    assert np.abs(authors_code(*q, v2, v3, d) - exact).max() > 1e-3 * np.abs(exact).max()


def test_key_value_code_is_definition_2_2_at_the_code_scale():
    d = 8
    q, v2, v3, _ = inputs(3, d=d)
    m = Mechanism.from_polynomial(PATH, scale=1 / math.sqrt(d))  # default values: x2, x3
    expected = reference.attention(m, q, {2: v2, 3: v3})
    code = tree_code(*q, v2, v3, 1 / math.sqrt(d), clamp="hard", value_at="key")
    np.testing.assert_allclose(code, expected, rtol=0, atol=1e-12)


# (b) ------------------------------------------------------------------------------------


def test_code_departs_from_definition_2_2():
    measured = departures(seed=0)
    # Both departures are of the order of the output itself, not rounding.
    assert measured["code vs Definition 2.2 (values x2,x3, scale 1/d)"] > 0.3
    assert measured["value placement alone (both scale 1/sqrt(d))"] > 0.3
    assert measured["scale alone (both values x1,x3; 1/sqrt(d) vs 1/d)"] > 1e-2


def test_departure_from_definition_2_2_on_many_seeds():
    """On every one of 20 random instances the two outputs differ by ≥ 10 % of the output."""
    d = 8
    definition = Mechanism.from_polynomial(PATH)
    for seed in range(20):
        q, v2, v3, _ = inputs(100 + seed, d=d)
        code = tree_code(*q, v2, v3, 1 / math.sqrt(d))
        ref = reference.attention(definition, q, {2: v2, 3: v3})
        assert np.abs(code - ref).max() > 0.1 * np.abs(ref).max()


# (c) ------------------------------------------------------------------------------------


@given(st.floats(-1e4, 1e4, allow_subnormal=False), st.floats(1.0, 100.0))
def test_soft_clamp_cubic_bound(s, c):
    rounding = 4 * np.finfo(float).eps * abs(s) + 1e-300  # tanh and the product round at tiny |s|
    assert abs(c * math.tanh(s / c) - s) <= abs(s) ** 3 / (3 * c * c) + rounding


@pytest.mark.parametrize("spread", [1.5, 2.0, 2.5])
def test_soft_clamp_departure_within_its_bound(spread):
    """|code − polyth|_i ≤ |v2_i| · max|v3| · (e^{2Δ} − 1), Δ = (max|s12|³ + max|s23|³)/(3c²).

    The clamp changes each tuple's score by δ = δ12 + δ23 with |δ| ≤ Δ, so every softmax
    weight moves by a factor within e^{±2Δ} and their total variation is ≤ e^{2Δ} − 1.
    """
    d = 8
    scale = 1 / math.sqrt(d)
    q, v2, v3, _ = inputs(7, d=d, spread=spread)
    s12, s23 = scale * q[0] @ q[1].T, scale * q[1] @ q[2].T
    delta = (np.abs(s12).max() ** 3 + np.abs(s23).max() ** 3) / (3 * CLAMP**2)
    clamped = tree_code(*q, v2, v3, scale, clamp="soft")
    exact = reference.attention(query_value_mechanism(scale), q, {1: v2, 3: v3})
    bound = np.abs(v2) * np.abs(v3).max() * math.expm1(2 * delta)
    assert np.all(np.abs(clamped - exact) <= bound + 1e-12)
    assert np.abs(clamped - exact).max() > 0  # the clamp is never exactly inactive


def test_soft_clamp_departs_measurably_at_large_scores():
    measured = departures(seed=0)
    small, middle, large = (v for k, v in measured.items() if k.startswith("soft clamp"))
    assert small < middle < large  # grows with the score range
    assert large > 0.05  # scores far past ±20: polyth (no clamp) is a different function


if __name__ == "__main__":
    for name, value in departures().items():
        print(f"{name}: {value:.3g}")
