"""Element-wise attention (Feng 2025) as a polyth mechanism: Taylor similarity, costs, kernels, runs."""

import json
import math

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
import polyth_kernels
from polyth import zoo
from polyth.cli import main as cli
from polyth.compute.decoding import Decoder
from polyth.compute.elementwise import is_elementwise
from polyth.mechanism.similarity import Exp, Taylor
from polyth.theory.cost import cost, exponent, last_token_cost, recurrent_form
from polyth.theory.cost import d as D_SYM
from polyth.theory.cost import n as N_SYM
from polyth.theory.plan import exact_plan, low_rank_plan
from polyth.theory.taylor import taylor_error

BACKENDS = ["cpu", "cudasim"]


def taylor_oracle(q, k, v, order, causal):
    """By definition, over every (i, j): w = exp(−q²) · T_order(2qk) · exp(−k²) per channel."""
    x = 2 * q[:, :, None, :] * k[:, None, :, :]
    taylor = sum(x**p / math.factorial(p) for p in range(order + 1))
    w = np.exp(-(q[:, :, None, :] ** 2)) * taylor * np.exp(-(k[:, None, :, :] ** 2))
    if causal:
        w = w * np.tril(np.ones((q.shape[1], q.shape[1])))[None, :, :, None]
    return (w * v[:, None, :, :]).sum(axis=2) / w.sum(axis=2)


def uniform(rng, shape, bound=1.0, dtype=np.float64):
    return rng.uniform(-bound, bound, shape).astype(dtype)


# ---------------------------------------------------------------- the mechanism


def test_elementwise_is_per_channel_negative_squared_distance():
    m = zoo.elementwise(6)
    assert m.per_channel and m.scale == 1 and m.similarity == Taylor(6) and m.values == (1,)
    x1, x2 = sympy.symbols("x1 x2", real=True)
    assert sympy.expand(m.polynomial + (x1 - x2) ** 2) == 0
    assert m == zoo.from_spec("elementwise:6") and m != zoo.elementwise(4)
    assert is_elementwise(m) and is_elementwise(m.replace(similarity=Exp()))
    assert "taylor(6)" in repr(m) and zoo.source("elementwise:2") == "Feng 2025"


def test_odd_orders_need_an_explicit_opt_in():
    with pytest.raises(polyth.PolyError, match="odd"):
        zoo.elementwise(3)
    with pytest.raises(polyth.PolyError, match="odd"):
        zoo.from_spec("elementwise:5")
    assert zoo.elementwise(3, allow_odd=True).similarity == Taylor(3, allow_odd=True)
    for bad in (0, -2, 2.5, True, "4"):
        with pytest.raises(polyth.PolyError):
            zoo.elementwise(bad)


# ---------------------------------------------------------------- costs from the engine


def test_taylor_costs_are_linear_in_order_and_n():
    costs = []
    for order in (2, 4, 6, 8):
        m = zoo.elementwise(order)
        plan = low_rank_plan(m)
        assert plan.rank == order + 1  # per channel: C(1 + g, g)
        total = cost(plan)
        assert exponent(plan) == 1 and sympy.Poly(total, N_SYM, D_SYM).as_dict().keys() == {(1, 1)}
        costs.append(total / (N_SYM * D_SYM))
        causal = low_rank_plan(m, "prefix")
        recurrent = recurrent_form(causal)
        assert recurrent.state_size == 2 * (order + 1) * D_SYM  # O(t·D) state
        assert N_SYM not in recurrent.per_token.free_symbols
        assert sympy.Poly(recurrent.per_token, D_SYM).degree() == 1  # O(t·D) per token
    steps = {costs[i + 1] - costs[i] for i in range(3)}
    assert len(steps) == 1 and steps.pop() > 0  # affine in the order t: O(t·n·D)
    exact = exact_plan(zoo.elementwise(6))
    assert exponent(exact) == 2 and not exact.low_rank
    kv = last_token_cost(exact_plan(zoo.elementwise(6), "prefix"))
    assert sympy.Poly(kv, N_SYM).degree() == 1  # the exact form decodes in O(n·D) per token


def test_bounds_elementwise_prints_the_derived_costs(capsys):
    assert cli.main(["bounds", "elementwise:6"]) == 0
    text = capsys.readouterr().out
    for row in ("taylor form", "47n·d", "recurrent decoding", "state 14d", "softmax KV cache", "5n·d"):
        assert row in text
    assert cli.main(["bounds", "elementwise:6", "--B", "0.5", "--eps", "0.001", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["taylor_error"]["output_error"] == pytest.approx(taylor_error(zoo.elementwise(6), 0.5)[1])
    assert report["exact"]["exponent"] == "2" and report["decoding"]["per_token"] == "47*d"


def test_taylor_error_bound_shrinks_with_the_order():
    bounds = [taylor_error(zoo.elementwise(g), 0.5)[1] for g in (2, 4, 6, 8)]
    assert bounds == sorted(bounds, reverse=True) and bounds[-1] < 1e-7
    assert taylor_error(zoo.elementwise(2), 3.0) == (math.inf, math.inf)


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_parallel_form_equals_the_taylor_definition(backend, causal):
    rng = np.random.default_rng(0)
    q, k, v = (uniform(rng, (2, 45, 3)) for _ in range(3))
    for order in (2, 5):
        out = polyth_kernels.elementwise_attention(q, k, v, order, causal=causal, backend=backend, chunk=8)
        np.testing.assert_allclose(out, taylor_oracle(q, k, v, order, causal), rtol=0, atol=1e-10)
    out32 = polyth_kernels.elementwise_attention(
        *(x.astype(np.float32) for x in (q, k, v)), 4, causal=causal, backend=backend, chunk=16
    )
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, taylor_oracle(q, k, v, 4, causal), rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_steps_equal_the_causal_parallel_form(backend):
    rng = np.random.default_rng(1)
    b, n, D, order = 2, 40, 3, 6
    q, k, v = (uniform(rng, (b, n, D), 2.0) for _ in range(3))
    parallel = polyth_kernels.elementwise_attention(q, k, v, order, causal=True, backend=backend, chunk=8)
    M, N, shift = polyth_kernels.elementwise_state(b, D, order)
    rows = []
    for i in range(n):
        out, M, N, shift = polyth_kernels.elementwise_step(
            M, N, shift, q[:, i], k[:, i], v[:, i], order, backend
        )
        rows.append(out)
        assert M.shape == N.shape == (b, order + 1, D) and shift.shape == (b, D)
    np.testing.assert_allclose(np.stack(rows, axis=1), parallel, rtol=0, atol=1e-10)


@pytest.mark.parametrize("order", [2, 4, 6])
def test_taylor_form_is_within_the_engines_error_bound_of_the_exact_form(order):
    rng = np.random.default_rng(order)
    B = 0.5
    q, k, v = (uniform(rng, (30, 4), B) for _ in range(3))
    m = zoo.elementwise(order)
    _, bound = taylor_error(m, B)
    for causal in (None, "prefix"):
        exact = polyth.reference.attention(m, [q, k], {2: v}, causal=causal)
        taylor = polyth_kernels.elementwise_attention(
            q[None], k[None], v[None], order, causal=causal is not None
        )[0]
        error = np.abs(taylor - exact).max()
        assert error <= bound * np.abs(v).max()
        assert error > 0  # it is an approximation
        assert np.abs(polyth.attention(m, [q, k], {2: v}, causal=causal) - exact).max() < 1e-12


def test_large_keys_stay_finite_in_float32():
    """exp(−k²) underflows float32 for |k| > 10; the shifted moments do not."""
    rng = np.random.default_rng(4)
    q = uniform(rng, (1, 50, 2), 0.1)
    k = 11 + uniform(rng, (1, 50, 2), 0.05)
    v = uniform(rng, (1, 50, 2))
    for causal in (False, True):
        ref = polyth_kernels.elementwise_attention(q, k, v, 2, causal=causal)
        out = polyth_kernels.elementwise_attention(
            *(x.astype(np.float32) for x in (q, k, v)), 2, causal=causal
        )
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_odd_orders_raise_when_a_denominator_reaches_zero():
    q = np.full((1, 2, 1), -3.0)
    k = np.full((1, 2, 1), 3.0)
    v = np.ones((1, 2, 1))
    with pytest.raises(ValueError, match="odd Taylor order"):
        polyth_kernels.elementwise_attention(q, k, v, 3)
    assert np.isfinite(polyth_kernels.elementwise_attention(q, k, v, 4)).all()  # even: every weight > 0
    m = zoo.elementwise(3, allow_odd=True)
    with pytest.raises(polyth.NumericalError, match="odd Taylor order"):
        polyth.attention(m, [q[0], k[0]], {2: v[0]}, method="approx")


def test_kernels_refuse_bad_arrays():
    x = np.ones((1, 4, 2))
    with pytest.raises(ValueError, match="order"):
        polyth_kernels.elementwise_attention(x, x, x, 99)
    with pytest.raises(ValueError, match="shape"):
        polyth_kernels.elementwise_attention(x, x, np.ones((1, 4, 3)), 2)
    with pytest.raises(ValueError, match="NaN"):
        polyth_kernels.elementwise_attention(x * np.nan, x, x, 2)
    M, N, shift = polyth_kernels.elementwise_state(1, 2, 2)
    with pytest.raises(ValueError, match="order"):
        polyth_kernels.elementwise_step(M, N, shift, x[:, 0], x[:, 0], x[:, 0], 4)


# ---------------------------------------------------------------- polyth.attention and the decoder


@pytest.mark.parametrize("backend", BACKENDS)
def test_polyth_attention_runs_both_forms(backend):
    rng = np.random.default_rng(5)
    q, k, v = (uniform(rng, (40, 3)) for _ in range(3))
    m = zoo.elementwise(4)
    for causal in (None, "prefix"):
        approx = polyth.attention(m, [q, k], {2: v}, method="approx", causal=causal, backend=backend)
        oracle = taylor_oracle(q[None], k[None], v[None], 4, causal is not None)[0]
        np.testing.assert_allclose(approx, oracle, rtol=0, atol=1e-10)
        exact = polyth.attention(m, [q, k], {2: v}, method="exact", causal=causal, backend=backend)
        np.testing.assert_allclose(
            exact, polyth.reference.attention(m, [q, k], {2: v}, causal=causal), atol=1e-10
        )
    timed = polyth.attention(m, [q, k], {2: v}, method="approx", return_timings=True, backend=backend)
    assert timed.steps[0].kernel == "elementwise_attention"
    with pytest.raises(polyth.InputError, match="disagrees"):
        polyth.attention(m, [q, k], {2: v}, method="approx", degree=6)
    with pytest.raises(polyth.InputError, match="fixed"):
        polyth.attention(m, [q, k], {2: v}, method="approx", B=1.0, eps=0.1)


def test_other_taylor_mechanisms_use_the_polynomial_method_at_their_order():
    rng = np.random.default_rng(6)
    q, k, v = (uniform(rng, (20, 3)) for _ in range(3))
    m = polyth.Mechanism.from_polynomial("x1*x2", similarity=Taylor(4))
    generic = polyth.attention(m.replace(similarity=Exp()), [q, k], {2: v}, method="approx", degree=4)
    np.testing.assert_allclose(polyth.attention(m, [q, k], {2: v}, method="approx"), generic, atol=1e-12)


def test_decoder_equals_causal_attention_with_constant_state():
    rng = np.random.default_rng(7)
    q, k, v = (uniform(rng, (50, 3)) for _ in range(3))
    m = zoo.elementwise(6)
    decoder = Decoder(m, d=3, backend="cpu")
    rows = [decoder.step(q[i], k[i], v[i])[0] for i in range(50)]
    assert decoder.state_size == 2 * 7 * 3 + 3 and decoder.position == 50
    causal = polyth.attention(m, [q, k], {2: v}, method="approx", causal="prefix")
    np.testing.assert_allclose(np.stack(rows), causal, rtol=0, atol=1e-10)
    with pytest.raises(polyth.InputError, match="per channel"):
        Decoder(m, d=3, dv=2)


@settings(max_examples=20)
@given(
    n=st.integers(1, 30),
    D=st.integers(1, 4),
    order=st.sampled_from([0, 2, 4, 6]),
    chunk=st.integers(1, 12),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_elementwise_matches_the_definition_for_any_shape(n, D, order, chunk, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (uniform(rng, (1, n, D), 1.5) for _ in range(3))
    out = polyth_kernels.elementwise_attention(q, k, v, order, causal=causal, chunk=chunk)
    np.testing.assert_allclose(out, taylor_oracle(q, k, v, order, causal), rtol=0, atol=1e-10)
