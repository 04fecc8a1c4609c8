"""polyth.theory.taylor and polyth.theory.approximation: degree, rank, error, threshold, crossover."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth import InputError, Mechanism, zoo
from polyth.theory import cost as C
from polyth.theory.approximation import approximate, threshold_exponent
from polyth.theory.taylor import (
    expansion_terms,
    factor_range,
    taylor_degree,
    taylor_rank,
    taylor_relative_error,
)


def _exact_error(g: int, x: float) -> float:
    """Relative error of T_g at x in 80-digit arithmetic."""
    with mpmath.workdps(80):
        x = mpmath.mpf(x)
        partial = mpmath.fsum(x**j / mpmath.factorial(j) for j in range(g + 1))
        return float(abs(partial * mpmath.exp(-x) - 1))


@pytest.mark.parametrize("g,x", [(6, -1.3), (6, 1.3), (25, -20.0), (25, 20.0), (40, -30.0), (3, 0.0)])
def test_stable_error_matches_high_precision(g, x):
    assert taylor_relative_error(g, [x])[0] == pytest.approx(_exact_error(g, x), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("R,eps", [(0.5, 1e-3), (1.0, 1e-3), (3.0, 1e-6), (8.0, 1e-2), (0.1, 0.3)])
def test_taylor_degree_is_the_smallest_that_works(R, eps):
    g = taylor_degree(R, eps)
    grid = np.linspace(-R, R, 201)
    assert max(_exact_error(g, x) for x in grid) <= eps * (1 + 1e-9)
    if g > 0:
        assert max(_exact_error(g - 1, x) for x in (-R, R)) > eps


def test_taylor_degree_grows_with_range_and_precision():
    assert taylor_degree(0, 1e-3) == 0
    assert taylor_degree(2.0, 1e-3) < taylor_degree(4.0, 1e-3) < taylor_degree(4.0, 1e-9)


@pytest.mark.parametrize(
    "width,g,powers", [(1, 3, (1, 1)), (2, 3, (1, 1)), (3, 2, (1, 1)), (2, 4, (1, 1, 1)), (3, 3, (2, 1))]
)
def test_rank_formula_matches_the_expansion(width, g, powers):
    assert expansion_terms(width, g, powers) == taylor_rank(width, g) == math.comb(width + g, g)


def test_approximate_self_attention():
    a = approximate(zoo.self_attention(), B=1.0, eps=1e-3, d=2)
    (factor,) = a.factors
    assert factor.R == pytest.approx(1.0)  # scale 1/d · d · B^2
    assert factor.rank == math.comb(2 + factor.degree, factor.degree)
    assert factor.rank_checked is True
    assert a.threshold_exponent == sympy.Rational(1, 2)
    assert C.exponent(a.plan) == 1
    assert not a.cost.has(C.r)


def test_range_counts_coefficients_degree_and_mode():
    m = Mechanism.from_polynomial("2*x1*x2 - 0.5*x1*x2**2")
    monomials = tuple(range(len(m.monomials)))
    assert factor_range(m, monomials, 2.0, 4) == pytest.approx(2 * 4 + 0.5 * 8)
    per_channel = Mechanism.from_polynomial("-(x1 - x2)**2", per_channel=True, scale=1)
    pair = next(i for i, mono in enumerate(per_channel.monomials) if len(mono.support) == 2)
    assert factor_range(per_channel, (pair,), 1.0, 64) == pytest.approx(2.0)  # no sum over d


def test_threshold_exponents():
    assert threshold_exponent(zoo.self_attention()) == sympy.Rational(1, 2)
    assert threshold_exponent(zoo.strassen()) == sympy.Rational(1, 2)
    assert threshold_exponent(zoo.tensor(3)) == sympy.Rational(1, 3)
    assert threshold_exponent(zoo.tensor(5)) == sympy.Rational(1, 5)


def test_error_bounds():
    a = approximate(zoo.strassen(), B=1.0, eps=1e-3, d=4)
    assert len(a.factors) == 3
    # each table's error is that of its degree on its range (80-digit check), within eps
    for f in a.factors:
        assert f.error <= 1e-3
        assert f.error == pytest.approx(max(_exact_error(f.degree, x) for x in (-f.R, f.R)), rel=1e-6)
    assert a.weight_error == pytest.approx(math.prod(1 + f.error for f in a.factors) - 1)
    assert a.weight_error <= (1 + 1e-3) ** 3 - 1
    delta = a.weight_error
    assert a.output_error == pytest.approx(2 * delta / (1 - delta))


@settings(max_examples=40)
@given(
    st.lists(st.floats(0.01, 10), min_size=2, max_size=8),
    st.lists(st.floats(-5, 5), min_size=8, max_size=8),
    st.floats(0, 0.3),
    st.randoms(use_true_random=False),
)
def test_output_error_bound_holds(weights, values, delta, rnd):
    w = np.array(weights)
    v = np.array(values[: len(w)])
    perturbed = w * np.array([1 + delta * rnd.uniform(-1, 1) for _ in w])
    exact = (w * v).sum() / w.sum()
    approx = (perturbed * v).sum() / perturbed.sum()
    bound = 2 * delta / (1 - delta) * np.abs(v).max()
    assert abs(approx - exact) <= bound + 1e-12


def test_crossover_is_where_approximate_becomes_cheaper():
    a = approximate(zoo.tensor(3), B=1.0, eps=1e-2, d=4)
    n_star = a.crossover_n
    assert n_star is not None and n_star > 1
    exact = C.operation_count
    from polyth.theory.plan import exact_plan

    plan = exact_plan(zoo.tensor(3))
    assert a.operation_count(n_star) < exact(plan, n_star, 4, 4).total
    assert a.operation_count(n_star - 1) >= exact(plan, n_star - 1, 4, 4).total


def test_crossover_never_when_rank_is_astronomical():
    a = approximate(zoo.self_attention(), B=12.0, eps=1e-6, d=64)
    assert a.crossover_n is None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"B": 0, "eps": 1e-3}, "B"),
        ({"B": float("inf"), "eps": 1e-3}, "B"),
        ({"B": 1, "eps": 0.7}, "eps"),
        ({"B": 1, "eps": 0}, "eps"),
        ({"B": 1, "eps": 1e-3, "d": 0}, "d must be"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        approximate(zoo.self_attention(), **kwargs)


# ----------------------------------------------------------------- closed form, bisection, budget


@pytest.mark.parametrize("g,R", [(6, 1.0), (25, 20.0), (40, 30.0), (10, 0.3), (100, 60.0)])
def test_worst_error_is_the_closed_form_at_minus_R(g, R):
    """max over [−R, R] equals the 80-digit error at x = −R (and the stable tail on a fine grid)."""
    from polyth.theory.taylor import max_relative_error

    assert max_relative_error(g, R) == pytest.approx(_exact_error(g, -R), rel=1e-9)
    grid = np.linspace(-R, R, 2001)
    assert max_relative_error(g, R) == pytest.approx(taylor_relative_error(g, grid).max(), rel=1e-9)


@pytest.mark.parametrize("R,eps", [(0.7, 1e-3), (5.0, 1e-8), (40.0, 1e-2), (200.0, 1e-5)])
def test_bisection_finds_the_degree_a_linear_search_finds(R, eps):
    from polyth.theory.taylor import max_relative_error

    g = taylor_degree(R, eps)
    assert max_relative_error(g, R) <= eps < max_relative_error(g - 1, R)


def test_a_range_beyond_the_largest_degree_is_refused_at_once():
    from polyth import BudgetError

    with pytest.raises(BudgetError, match=r"no Taylor degree up to 100,000 .* R = 5e\+04 .* 3.5911·R"):
        taylor_degree(5e4, 1e-3)
