"""Linear attention (Katharopoulos et al. 2020) as a polyth mechanism: similarity, costs, kernels, runs."""

import json

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
import polyth_kernels  # noqa: I001  (after polyth: the simulator is switched on by conftest)
from polyth import zoo
from polyth.cli import main as cli
from polyth.compute.decoding import Decoder
from polyth.mechanism.similarity import Exp, FeatureMap
from polyth.reference import feature_map_attention
from polyth.theory.cost import cost, exponent, last_token_cost, operation_count, recurrent_form
from polyth.theory.cost import d as D_SYM
from polyth.theory.cost import dv as DV_SYM
from polyth.theory.cost import n as N_SYM
from polyth.theory.plan import exact_plan, low_rank_plan

BACKENDS = ["cpu", "cudasim"]


def features(x):
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def inputs(rng, b, n, d, dv, dtype=np.float64):
    return (
        rng.standard_normal((b, n, d)).astype(dtype),
        rng.standard_normal((b, n, d)).astype(dtype),
        rng.standard_normal((b, n, dv)).astype(dtype),
    )


# ---------------------------------------------------------------- the mechanism


def test_linear_is_bilinear_with_a_feature_map():
    m = zoo.linear()
    assert m.similarity == FeatureMap("elu+1", 1e-6)
    assert m.polynomial == sympy.Symbol("x1", real=True) * sympy.Symbol("x2", real=True)
    assert m != zoo.self_attention() and hash(m) != hash(zoo.self_attention())
    assert m == zoo.linear() and m != zoo.linear(eps=1e-3)
    assert m.replace(similarity=Exp()) == zoo.self_attention()
    assert "feature map" in repr(m) and "elu+1" in m.describe()
    assert not m.in_paper_class  # softmax results do not transfer
    assert zoo.from_spec("linear") == m and zoo.source("linear") == "Katharopoulos et al. 2020"


@pytest.mark.parametrize(
    "build",
    [
        lambda: polyth.Mechanism.from_polynomial("x1*x2 + x2*x3", similarity=FeatureMap()),
        lambda: polyth.Mechanism.from_polynomial("2*x1*x2", similarity=FeatureMap()),
        lambda: polyth.Mechanism.from_polynomial("x1*x2", per_channel=True, similarity=FeatureMap()),
        lambda: polyth.Mechanism.from_polynomial("x1*x2", scale=0.5, similarity=FeatureMap()),
        lambda: FeatureMap("softplus"),
        lambda: FeatureMap("elu+1", eps=-1.0),
        lambda: polyth.Mechanism.from_polynomial("x1*x2", similarity="elu"),
        lambda: zoo.from_spec("linear:tanh"),
    ],
)
def test_bad_feature_maps_raise_poly_errors(build):
    with pytest.raises(polyth.PolyError):
        build()


# ---------------------------------------------------------------- costs from the engine


def test_linear_costs_come_from_the_low_rank_plan():
    m = zoo.linear()
    plan = exact_plan(m)
    assert plan.low_rank and plan.rank == D_SYM
    total = cost(plan)
    assert exponent(plan) == 1
    assert sympy.Poly(total, N_SYM).degree() == 1
    assert sympy.Poly(total, D_SYM, DV_SYM).total_degree() == 2  # O(n·d·dv)
    assert total.coeff(N_SYM).coeff(D_SYM).coeff(DV_SYM) > 0
    assert operation_count(plan, 1024, 64, 64).total == int(total.subs({N_SYM: 1024, D_SYM: 64, DV_SYM: 64}))
    causal = exact_plan(m, "prefix")
    recurrent = recurrent_form(causal)
    assert N_SYM not in recurrent.state_size.free_symbols and N_SYM not in recurrent.per_token.free_symbols
    assert sympy.Poly(recurrent.state_size, D_SYM, DV_SYM).total_degree() == 2  # O(d·dv) state
    assert sympy.Poly(recurrent.per_token, D_SYM, DV_SYM).total_degree() == 2
    assert sympy.simplify(last_token_cost(causal) - recurrent.per_token) == 0
    assert low_rank_plan(m).rank == D_SYM


def test_softmax_kv_cache_per_token_grows_with_n():
    kv = last_token_cost(exact_plan(zoo.self_attention(), "prefix"))
    assert sympy.Poly(kv, N_SYM).degree() == 1
    assert kv.coeff(N_SYM).coeff(D_SYM) > 0  # O(n·d) per generated token


def test_bounds_linear_prints_the_derived_costs(capsys):
    assert cli.main(["bounds", "linear"]) == 0
    text = capsys.readouterr().out
    for row in ("recurrent decoding", "softmax KV cache", "n·(2d·d_v + 4d + d_v)", "state d·d_v + d"):
        assert row in text
    assert cli.main(["bounds", "linear", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact"]["exponent"] == "1" and report["decoding"]["state_size"] == "d*dv + d"
    assert [entry["id"] for entry in report["lower"]] == ["input"]
    assert cli.main(["bounds", "linear", "--B", "1", "--eps", "0.01"]) == 2
    assert "nothing to approximate" in capsys.readouterr().err


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("backend", BACKENDS)
def test_feature_map_is_elu_plus_one(backend):
    x = np.linspace(-5, 5, 101).reshape(1, 101, 1)
    for dtype in (np.float32, np.float64):
        out = polyth_kernels.feature_map(x.astype(dtype), backend=backend)
        assert out.dtype == dtype and (out > 0).all()
        np.testing.assert_allclose(out, features(x), rtol=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_parallel_form_equals_the_feature_map_definition(backend, causal):
    rng = np.random.default_rng(0)
    q, k, v = inputs(rng, 1, 40, 5, 3)
    ref = feature_map_attention(FeatureMap(), q, k, v, "prefix" if causal else None)
    out = polyth_kernels.linear_attention(q, k, v, causal=causal, eps=1e-6, backend=backend, chunk=16)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    out32 = polyth_kernels.linear_attention(
        *(x.astype(np.float32) for x in (q, k, v)), causal=causal, backend=backend
    )
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, rtol=0, atol=2e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_steps_equal_the_causal_parallel_form(backend):
    rng = np.random.default_rng(1)
    b, n, d, dv = 2, 24, 4, 3
    q, k, v = inputs(rng, b, n, d, dv)
    parallel = polyth_kernels.linear_attention(q, k, v, causal=True, eps=1e-6, backend=backend, chunk=8)
    S, z = polyth_kernels.linear_state(b, d, dv)
    fq, fk = features(q), features(k)
    steps = []
    for i in range(n):
        out, S, z = polyth_kernels.linear_step(S, z, fq[:, i], fk[:, i], v[:, i], eps=1e-6, backend=backend)
        steps.append(out)
        assert S.shape == (b, d, dv) and z.shape == (b, d)  # the state does not grow
    np.testing.assert_allclose(np.stack(steps, axis=1), parallel, rtol=0, atol=1e-10)
    np.testing.assert_allclose(S, np.einsum("bnr,bnc->brc", fk, v), atol=1e-10)


def test_kernels_refuse_bad_arrays():
    S, z = polyth_kernels.linear_state(1, 3, 2)
    with pytest.raises(ValueError, match="shape"):
        polyth_kernels.linear_step(S, z, np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 5)))
    with pytest.raises(ValueError, match="dtype"):
        polyth_kernels.linear_step(S, z.astype(np.float32), np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="backend"):
        polyth_kernels.feature_map(np.ones((2, 2)), backend="tpu")
    with pytest.raises(ValueError, match="NaN"):
        polyth_kernels.feature_map(np.array([np.nan]))
    with pytest.raises(ValueError, match="Q, K"):
        polyth_kernels.linear_attention(np.ones((1, 4, 2)), np.ones((1, 5, 2)), np.ones((1, 4, 2)))


# ---------------------------------------------------------------- polyth.attention and the decoder


@pytest.mark.parametrize("backend", BACKENDS)
def test_polyth_attention_runs_linear_attention(backend):
    rng = np.random.default_rng(2)
    q, k, v = (x[0] for x in inputs(rng, 1, 60, 4, 3))
    m = zoo.linear()
    for causal in (None, "prefix"):
        ref = feature_map_attention(m.similarity, q[None], k[None], v[None], causal)[0]
        out = polyth.attention(m, [q, k], {2: v}, causal=causal, backend=backend)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
        naive = polyth.attention(m, [q, k], {2: v}, causal=causal, method="naive")
        np.testing.assert_allclose(naive, ref, rtol=0, atol=1e-12)
    nested = polyth.attention(m, [q, k], {2: v}, causal="nested", backend=backend)
    np.testing.assert_allclose(nested, polyth.attention(m, [q, k], {2: v}, causal="prefix"), atol=1e-12)
    timed = polyth.attention(m, [q, k], {2: v}, backend=backend, return_timings=True)
    assert timed.steps[0].kernel == "linear_attention" and timed.method == "exact"


def test_linear_attention_refuses_approximation():
    q = np.ones((4, 2))
    with pytest.raises(polyth.InputError, match="nothing to approximate"):
        polyth.attention(zoo.linear(), [q, q], {2: q}, method="approx")
    with pytest.raises(polyth.InputError, match="no B"):
        polyth.attention(zoo.linear(), [q, q], {2: q}, B=1.0, eps=0.1)


def test_decoder_equals_causal_attention_with_constant_state():
    rng = np.random.default_rng(3)
    q, k, v = (x[0] for x in inputs(rng, 1, 50, 4, 3))
    m = zoo.linear()
    decoder = Decoder(m, d=4, dv=3, backend="cpu")
    size = decoder.state_size
    rows = []
    for i in range(50):
        rows.append(decoder.step(q[i], k[i], v[i])[0])
        assert decoder.state_size == size == 4 * 3 + 4
    np.testing.assert_allclose(
        np.stack(rows), polyth.attention(m, [q, k], {2: v}, causal="prefix"), atol=1e-10
    )
    with pytest.raises(polyth.InputError, match="shape"):
        decoder.step(q[0, :3], k[0], v[0])
    with pytest.raises(polyth.InputError, match="recurrent form"):
        Decoder(zoo.self_attention(), d=4)


@settings(max_examples=20)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 5),
    dv=st.integers(1, 4),
    chunk=st.integers(1, 20),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_attention_matches_the_definition_for_any_shape(n, d, dv, chunk, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v = inputs(rng, 1, n, d, dv)
    ref = feature_map_attention(FeatureMap(), 2 * q, 2 * k, v, "prefix" if causal else None)
    out = polyth_kernels.linear_attention(2 * q, 2 * k, v, causal=causal, eps=1e-6, chunk=chunk)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
