"""method="approx" runs the plan the theory predicts: the same steps, degrees and ranks.

For every mechanism of the zoo and random ones (per-channel, untied, causal, other value
variables), the step records of ``polyth.attention(method="approx", return_timings=True)``
are held against :func:`polyth.theory.approximation.approximate` for the same B, eps (or
degree), d and mask: each table's degree and rank, and the plan's steps in order. The output
is held against the brute-force reference within the predicted bound.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyth
from polyth import Mechanism, zoo
from polyth.mechanism.similarity import Taylor
from polyth.theory.approximation import approximate

ZOO = [
    "self",
    "path:3",
    "path:4",
    "star:4",
    "strassen",
    "tensor:3",
    "cycle:4",
    "clique:4",
    "tree:1-2,2-3,2-4",
]


def _inputs(m: Mechanism, n: int, d: int, B: float, seed: int, batch: int = 2):
    rng = np.random.default_rng(seed)
    Q = [rng.uniform(-B, B, (batch, n, d)) for _ in m.input_slots]
    dv = d if m.per_channel else 3
    V = {a + 1: rng.standard_normal((batch, n, dv)) for a in m.values}
    return Q, V


def _check_runs_the_prediction(m: Mechanism, causal, B: float, n: int = 7, d: int = 2, eps=None, degree=None):
    Q, V = _inputs(m, n, d, B, seed=len(str(m)) + n)
    run = polyth.attention(
        m,
        Q,
        V,
        method="approx",
        B=None if degree is not None else B,
        eps=eps,
        degree=degree,
        causal=causal,
        return_timings=True,
    )
    predicted = approximate(
        m,
        B if degree is None else max(float(np.abs(q).max()) for q in Q),
        eps=eps,
        d=d,
        causal=causal,
        degree=degree,
    )
    assert [(tuple(t["support"]), t["degree"], t["rank"]) for t in run.tables] == [
        (f.support, f.degree, f.rank) for f in predicted.factors
    ]
    ran = [(r.variable, r.kind) for r in run.steps if r.kind != "taylor_features"]
    planned = [(s.eliminated, s.kind) for s in predicted.plan.steps if s.kind != "normalize"]
    assert ran == planned
    reference = polyth.reference.attention(m, Q, V, causal=causal)
    value_peak = float(np.prod([np.abs(v).max() for v in V.values()]))
    assert np.abs(run.output - reference).max() <= predicted.output_error * value_peak + 1e-12


@pytest.mark.parametrize("spec", ZOO)
@pytest.mark.parametrize("causal", [None, "prefix"])
def test_zoo_runs_the_predicted_degree_and_rank(spec, causal):
    _check_runs_the_prediction(zoo.from_spec(spec), causal, B=0.8, eps=1e-3)


@pytest.mark.parametrize("spec", ["path:3", "star:4", "tree:1-2,2-3,2-4"])
def test_nested_mask_runs_the_prediction(spec):
    _check_runs_the_prediction(zoo.from_spec(spec), "nested", B=0.8, eps=1e-3)


def test_per_channel_uses_the_per_channel_range():
    """The case the executor once got wrong: R = scale·B^k per channel, not scale·d·B^k."""
    m = Mechanism.from_polynomial("x1*x2 + x2*x3", per_channel=True)
    a = approximate(m, B=1.0, eps=1e-3, d=8)
    assert [(f.R, f.degree) for f in a.factors] == [(0.125, 2), (0.125, 2)]
    _check_runs_the_prediction(m, None, B=1.0, d=8, eps=1e-3)


def test_explicit_degree_runs_that_degree():
    _check_runs_the_prediction(zoo.strassen(), None, B=0.5, degree=4)


def test_taylor_similarity_runs_its_order():
    m = zoo.path(3).replace(similarity=Taylor(4))
    Q, V = _inputs(m, 6, 2, 0.5, seed=3)
    run = polyth.attention(m, Q, V, method="approx", return_timings=True)
    assert [(t["degree"], t["rank"]) for t in run.tables] == [(4, 15), (4, 15)]


def test_elementwise_kernel_records_its_degree_and_rank():
    m = zoo.elementwise(6)
    Q, V = _inputs(m, 8, 3, 0.5, seed=4)
    run = polyth.attention(m, Q, V, method="approx", return_timings=True)
    predicted = approximate(m, 0.5, degree=6, d=3)
    assert [(t["degree"], t["rank"]) for t in run.tables] == [(f.degree, f.rank) for f in predicted.factors]
    assert run.tables[0]["rank"] == 7  # per channel: C(1 + 6, 6)


@st.composite
def mechanisms(draw):
    t = draw(st.integers(2, 4))
    monomials = []
    for _ in range(draw(st.integers(1, 4))):
        support = draw(st.lists(st.integers(0, t - 1), min_size=1, max_size=min(t, 3), unique=True))
        powers = [0] * t
        for a in support:
            powers[a] = draw(st.integers(1, 2))
        coefficient = draw(st.sampled_from(["1", "-1", "2", "0.5"]))
        monomials.append(coefficient + "*" + "*".join(f"x{a + 1}**{p}" for a, p in enumerate(powers) if p))
    text = " + ".join(monomials) + " + " + " + ".join(f"x1*x{a}" for a in range(2, t + 1))
    m = Mechanism.from_polynomial(text, per_channel=draw(st.booleans()), untied=draw(st.booleans()))
    values = draw(st.lists(st.integers(1, m.t), min_size=1, max_size=m.t, unique=True))
    return m.replace(values=values)


@settings(max_examples=20)
@given(mechanisms(), st.sampled_from([None, "prefix"]))
def test_random_mechanisms_run_the_prediction(m, causal):
    _check_runs_the_prediction(m, causal, B=0.6, n=5, eps=1e-3)


def test_an_explicit_degree_records_its_bound_at_the_inputs_range_and_warns_above_eps():
    m = zoo.self_attention()
    rng = np.random.default_rng(5)
    Q = [rng.uniform(-0.5, 0.5, (16, 2)) for _ in range(2)]
    V = {2: rng.standard_normal((16, 2))}
    R = max(abs(q).max() for q in Q) ** 2  # scale 1/d · d · max|Q|², the inputs' own range
    run = polyth.attention(m, Q, V, method="approx", degree=4, return_timings=True)
    (table,) = run.tables
    assert table["R"] == pytest.approx(R) and table["degree"] == 4
    assert table["error"] == pytest.approx(
        approximate(m, max(abs(q).max() for q in Q), degree=4, d=2).factors[0].error
    )
    assert run.steps[0].extra["output_error"] >= table["error"]
    with pytest.warns(polyth.AccuracyWarning, match="Taylor degree 2 .* above eps = 1e-06"):
        polyth.attention(m, Q, V, method="approx", degree=2, eps=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", polyth.AccuracyWarning)
        polyth.attention(m, Q, V, method="approx", degree=12, eps=1e-3)  # within eps: silent


def test_float32_cancellation_is_warned():
    m = zoo.self_attention()
    rng = np.random.default_rng(6)
    Q = [rng.uniform(-2.5, 2.5, (16, 2)).astype(np.float32) for _ in range(2)]
    V = {2: rng.standard_normal((16, 2)).astype(np.float32)}
    with pytest.warns(polyth.AccuracyWarning, match="cancels.*float32 rounding"):
        polyth.attention(m, Q, V, method="approx", B=2.5, eps=1e-4)


def test_taylor_similarity_reports_its_range_and_bound():
    m = zoo.elementwise(6)
    rng = np.random.default_rng(7)
    q, k, v = (rng.uniform(-1, 1, (12, 3)) for _ in range(3))
    run = polyth.attention(m, [q, k], {2: v}, method="approx", return_timings=True)
    (table,) = run.tables
    assert table["degree"] == 6 and table["rank"] == 7
    assert table["R"] == pytest.approx(2 * max(abs(q).max(), abs(k).max()) ** 2)
    assert 0 < table["error"] < 1
