"""polyth.attention against the brute-force reference: every method on the backends under test
(cpu and cudasim, or cuda with POLYTH_TEST_REAL_CUDA=1: tests/backends.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
from polyth import zoo
from polyth.compute.front import attention
from tests.backends import BACKENDS, GPU


@st.composite
def mechanisms(draw, max_t=4, max_degree=3):
    """Random mechanisms: t ≤ 4, degree ≤ 3, real coefficients, tied or untied, value subsets."""
    t = draw(st.integers(2, max_t))
    terms = {}
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, min(t, max_degree)))
        support = draw(st.lists(st.integers(0, t - 1), min_size=size, max_size=size, unique=True))
        powers = [0] * t
        budget = max_degree - size
        for a in support:
            extra = draw(st.integers(0, budget))
            budget -= extra
            powers[a] = 1 + extra
        coefficient = draw(st.sampled_from([1.0, -1.0, 0.5, 1.5, -0.75, 2.0]))
        terms[tuple(powers)] = coefficient
    for a in range(t):  # every variable appears, the query included
        if not any(p[a] for p in terms):
            other = draw(st.integers(0, t - 1).filter(lambda x, a=a: x != a))
            powers = [0] * t
            powers[a] = powers[other] = 1
            terms[tuple(powers)] = 1.0
    text = " + ".join(
        f"({c})*" + "*".join(f"x{a + 1}**{p}" for a, p in enumerate(pw) if p) for pw, c in terms.items()
    )
    values = draw(st.lists(st.integers(1, t), min_size=1, max_size=t, unique=True))
    return polyth.Mechanism.from_polynomial(text, values=values, untied=draw(st.booleans()))


def random_inputs(m, n, d, dv, rng, dtype=np.float64, spread=1.0, batch=None):
    dv = d if m.per_channel else dv
    lead = (batch,) if batch else ()
    Q = [(spread * rng.uniform(-1, 1, lead + (n, d))).astype(dtype) for _ in m.input_slots]
    V = {a + 1: rng.standard_normal(lead + (n, dv)).astype(dtype) for a in m.values}
    return Q, V


def causal_modes(m):
    modes = [None, "prefix"]
    if m.is_tree and m.is_connected:
        modes.append("nested")
    return modes


@settings(max_examples=40)
@given(mechanisms(), st.integers(1, 12), st.integers(0, 2**16), st.data())
def test_exact_and_naive_match_reference_on_random_mechanisms(m, n, seed, data):
    rng = np.random.default_rng(seed)
    causal = data.draw(st.sampled_from(causal_modes(m)))
    Q, V = random_inputs(m, n, 3, 2, rng, batch=data.draw(st.sampled_from([None, 2])))
    ref = polyth.reference.attention(m, Q, V, causal=causal)
    for method in ("exact", "naive"):
        out = attention(m, Q, V, method=method, backend="cpu", causal=causal)
        np.testing.assert_allclose(out, ref, atol=1e-9, rtol=0, err_msg=f"{method} {m} {causal}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["exact", "naive"])
@pytest.mark.parametrize(
    "spec,causal",
    [
        ("self", None),
        ("path:3", None),
        ("path:3", "nested"),
        ("path:3", "prefix"),
        ("star:3", "prefix"),
        ("strassen", None),
        ("tensor:3", None),
        ("x1**2*x2 - 0.5*x2*x3 + x3", None),
    ],
)
def test_methods_on_every_backend_match_reference(spec, causal, method, backend):
    if method == "naive" and backend != "cpu" and spec != "self":
        pytest.skip(
            "the naive CUDA kernel takes minutes per t = 3 case in the simulator; "
            "tests/kernels/test_naive.py covers it on the CUDA kernels at t = 3"
        )
    m = zoo.from_spec(spec)
    rng = np.random.default_rng(7)
    Q, V = random_inputs(m, 8, 3, 2, rng, batch=2)
    ref = polyth.reference.attention(m, Q, V, causal=causal)
    out = attention(m, Q, V, method=method, backend=backend, causal=causal)
    np.testing.assert_allclose(out, ref, atol=1e-9, rtol=0)
    Q32 = [q.astype(np.float32) for q in Q]
    V32 = {k: v.astype(np.float32) for k, v in V.items()}
    out32 = attention(m, Q32, V32, method=method, backend=backend, causal=causal)
    assert out32.dtype == np.float32
    assert np.abs(out32 - ref).max() <= 2e-4 * np.abs(ref).max()


@pytest.mark.parametrize("backend", BACKENDS)
def test_untied_per_channel_and_query_values(backend):
    rng = np.random.default_rng(3)
    cases = [
        polyth.Mechanism.from_polynomial("x1*x2 + x2*x3", untied=True),
        polyth.Mechanism.from_polynomial("x1*x2 + x2*x3", values=[1, 3]),
        polyth.Mechanism.from_polynomial("-(x1 - x2)**2", scale=1, per_channel=True),
    ]
    for m in cases:
        Q, V = random_inputs(m, 9, 4, 3, rng)
        ref = polyth.reference.attention(m, Q, V)
        for method in ("exact", "naive"):
            out = attention(m, Q, V, method=method, backend=backend)
            np.testing.assert_allclose(out, ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("spec", ["self", "path:3", "strassen", "tensor:3", "x1*x2 + x2*x3 + x3*x4 + x4*x1"])
def test_huge_scores_stay_finite_and_exact(spec):
    """|S| up to about 1e4: the log domain keeps every output finite and equal to the reference."""
    m = zoo.from_spec(spec).replace(scale=1.0)
    rng = np.random.default_rng(11)
    Q, V = random_inputs(m, 10, 4, 2, rng, spread=40.0 if m.k == 2 else 12.0)
    ref = polyth.reference.attention(m, Q, V)
    out = attention(m, Q, V, method="exact", backend="cpu")
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, atol=1e-9, rtol=0)


def test_timings_are_returned_per_step():
    m = zoo.path(4)
    Q, V = random_inputs(m, 16, 4, 2, np.random.default_rng(0))
    timed = attention(m, Q, V, return_timings=True, backend="cpu")
    assert [s.kernel for s in timed.steps] == ["edge_pass"] * 3
    assert all(s.seconds >= 0 for s in timed.steps)
    assert timed.backend == "cpu" and timed.method == "exact"


def test_bad_arguments_are_clear_errors():
    m = zoo.self_attention()
    Q, V = random_inputs(m, 4, 2, 2, np.random.default_rng(0))
    with pytest.raises(polyth.InputError, match="unknown method"):
        attention(m, Q, V, method="fast")
    with pytest.raises(polyth.InputError, match="backend"):
        attention(m, Q, V, backend="cuda")
    with pytest.raises(polyth.InputError, match="needs B and eps"):
        attention(m, Q, V, method="approx")
    bad = [Q[0].copy(), Q[1]]
    bad[0][0, 0] = np.nan
    with pytest.raises(polyth.InputError, match="NaN"):
        attention(m, bad, V)
    with pytest.raises(polyth.InputError, match="magnitude"):
        attention(m, [q * 10 for q in Q], V, method="approx", B=1.0, eps=1e-3)


def test_value_overflow_is_detected_not_returned():
    m = zoo.path(3)
    Q, V = random_inputs(m, 5, 2, 2, np.random.default_rng(0))
    V = {k: np.full_like(v, 1e200) for k, v in V.items()}
    with pytest.raises(polyth.NumericalError):
        attention(m, Q, V, backend="cpu")


@pytest.mark.parametrize(
    "spec,causal",
    [
        ("self", None),
        ("path:3", None),
        ("path:3", "nested"),
        ("star:3", "prefix"),
        ("path:3", "prefix"),
        ("strassen", None),
        ("tensor:3", None),
    ],
)
def test_approx_error_within_the_engines_bound(spec, causal, backend="cpu"):
    """Entries in [−B, B]: |approx − exact| ≤ output_error · max|Π V| (polyth.bounds' prediction)."""
    m = zoo.from_spec(spec)
    d, B, eps = 2, 1.0, 1e-3
    rng = np.random.default_rng(5)
    n = 10
    Q = [rng.uniform(-B, B, (n, d)) for _ in m.input_slots]
    V = {a + 1: rng.standard_normal((n, 2)) for a in m.values}
    predicted = polyth.bounds(m, B=B, eps=eps, d=d).to_dict()["approx"]
    exact = polyth.reference.attention(m, Q, V, causal=causal)
    approx = attention(m, Q, V, method="approx", B=B, eps=eps, causal=causal, backend=backend)
    value_peak = np.prod([np.abs(v).max() for v in V.values()])
    assert np.abs(approx - exact).max() <= predicted["output_error"] * value_peak
    sharper = attention(
        m, Q, V, method="approx", degree=predicted["degree"] + 4, causal=causal, backend=backend
    )
    assert np.abs(sharper - exact).max() < np.abs(approx - exact).max()


def test_approx_on_the_cuda_simulator_matches_cpu():
    test_approx_error_within_the_engines_bound("path:3", None, backend=GPU)


def test_approx_elementwise_per_channel_keeps_square_factors_exact():
    m = polyth.Mechanism.from_polynomial("-(x1 - x2)**2", scale=1, per_channel=True)
    rng = np.random.default_rng(2)
    Q = [rng.uniform(-1, 1, (12, 4)) for _ in range(2)]
    V = {2: rng.standard_normal((12, 4))}
    exact = polyth.reference.attention(m, Q, V)
    errors = [np.abs(attention(m, Q, V, method="approx", degree=g) - exact).max() for g in (2, 4, 6, 8)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-4


@pytest.mark.parametrize(
    "spec,causal",
    [
        ("path:4", None),
        ("path:4", "nested"),
        ("path:4", "prefix"),
        ("strassen", None),
        ("tensor:3", None),
        ("cycle:4", None),
        ("cycle:5", None),
        ("clique:4", None),
        ("star:4", "prefix"),
    ],
)
def test_the_executor_runs_the_plans_steps(spec, causal):
    """Each step runs as the kind the cost engine priced, so its operation count is what ran."""
    from polyth.theory.plan import cached_exact_plan

    m = zoo.from_spec(spec)
    Q, V = random_inputs(m, 6, 3, 2, np.random.default_rng(1))
    timed = attention(m, Q, V, causal=causal, backend="cpu", return_timings=True)
    plan = cached_exact_plan(m, causal)
    assert [s.kind for s in timed.steps] == [s.kind for s in plan.steps if s.kind != "normalize"]
    assert [s.variable for s in timed.steps] == list(plan.order)
    np.testing.assert_allclose(timed.output, polyth.reference.attention(m, Q, V, causal=causal), atol=1e-9)


@pytest.mark.parametrize(
    "text,causal",
    [
        ("x1*x2 + x2*x3 + x3*x4", "prefix"),
        ("x1*x2 + x2*x3 + x3*x4", "nested"),
        ("x1*x2 + x2*x3 + x3*x4 + x4*x1", None),
        ("x1*x2*x3 + x3*x4 - 0.3*x2**2", "prefix"),
    ],
)
def test_every_elimination_order_executes_correctly(text, causal):
    """Not only the best order: every plan the engine can price runs and matches the reference."""
    import itertools

    from polyth.compute.exact import Elimination, live_factors
    from polyth.compute.inputs import prepare
    from polyth.theory.plan import plan_with_order

    m = polyth.Mechanism.from_polynomial(text)
    Q, V = random_inputs(m, 6, 3, 2, np.random.default_rng(4), batch=2)
    ref = polyth.reference.attention(m, Q, V, causal=causal)
    inputs = prepare(m, Q, V, causal=causal)
    for order in itertools.permutations(range(1, m.t)):
        plan = plan_with_order(m, order, causal=causal)
        run = Elimination(
            live_factors(plan, inputs.Q, dict(inputs.V), m.scale_for(3)), 6, "cpu", inputs.dtype
        )
        np.testing.assert_allclose(run.run(plan), ref, atol=1e-9, err_msg=str(order))
        assert [r.kind for r in run.records] == [s.kind for s in plan.steps if s.kind != "normalize"]
