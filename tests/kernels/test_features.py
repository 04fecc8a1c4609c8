"""polyth_kernels.features: multi-indices, Taylor weights, the identity (*) and the feature kernel."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth_kernels.features import monomial_features, multi_indices, taylor_weights
from tests.backends import BACKENDS


@given(d=st.integers(1, 6), g=st.integers(0, 5))
def test_multi_indices_are_every_alpha_up_to_degree_g_in_graded_order(d, g):
    alphas = multi_indices(d, g)
    assert alphas.shape == (math.comb(d + g, g), d)
    assert (alphas >= 0).all()
    degrees = alphas.sum(axis=1)
    assert degrees.max() == g and np.all(np.diff(degrees) >= 0)
    assert len({tuple(a) for a in alphas}) == len(alphas)


def test_graded_lexicographic_order_and_weights():
    alphas = multi_indices(2, 2)
    assert alphas.tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    np.testing.assert_allclose(taylor_weights(alphas), [1, 1, 1, 0.5, 1, 0.5])
    assert taylor_weights(np.array([[3, 2, 0]]))[0] == pytest.approx(1 / 12)


def oracle(X, alphas, weights):
    X = X.astype(np.float64)
    return weights * np.prod(X[..., None, :] ** alphas, axis=-1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_match_the_oracle(backend, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 4, 3)).astype(dtype)
    alphas = multi_indices(3, 3)
    weights = taylor_weights(alphas)
    F = monomial_features(X, alphas, weights, backend=backend)
    assert F.dtype == dtype and F.shape == (2, 4, 20)
    rtol = 2e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(F, oracle(X, alphas, weights), rtol=rtol, atol=1e-30)
    unweighted = monomial_features(X[0], alphas, backend=backend)
    np.testing.assert_allclose(unweighted, oracle(X[0], alphas, 1.0), rtol=rtol, atol=1e-30)


@given(d=st.integers(1, 4), g=st.integers(0, 6), seed=st.integers(0, 1000))
def test_taylor_identity_for_the_inner_product(d, g, seed):
    """Σ_α x^α y^α / α! = Σ_{p ≤ g} (x·y)^p / p!."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((2, 3, d))
    alphas = multi_indices(d, g)
    lhs = monomial_features(x, alphas, taylor_weights(alphas)) @ monomial_features(y, alphas).T
    xy = x @ y.T
    rhs = sum(xy**p / math.factorial(p) for p in range(g + 1))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_degree_three_monomial_splits_into_per_variable_features():
    """Σ_α (x1^α / α!) x2^α x3^α = Σ_{p ≤ g} (Σ_c x1c x2c x3c)^p / p!: features of the 3-tensor monomial."""
    rng = np.random.default_rng(1)
    x1, x2, x3 = rng.standard_normal((3, 4)) * 0.8
    alphas = multi_indices(4, 5)
    f1 = monomial_features(x1[None], alphas, taylor_weights(alphas))[0]
    f2, f3 = (monomial_features(v[None], alphas)[0] for v in (x2, x3))
    inner = np.sum(x1 * x2 * x3)
    np.testing.assert_allclose(
        np.sum(f1 * f2 * f3), sum(inner**p / math.factorial(p) for p in range(6)), rtol=1e-12
    )


def test_overflow_and_bad_inputs_raise():
    with pytest.raises(FloatingPointError, match="overflowed"):
        monomial_features(np.full((1, 2, 1), 1e30, dtype=np.float32), np.array([[2]]))
    with pytest.raises(ValueError, match="alphas"):
        monomial_features(np.ones((2, 3)), np.ones((4, 2), dtype=int))
    with pytest.raises(ValueError, match="negative"):
        monomial_features(np.ones((2, 1)), np.array([[-1]]))
    with pytest.raises(ValueError, match="NaN"):
        monomial_features(np.full((2, 1), np.nan), np.array([[1]]))
    with pytest.raises(ValueError, match="weights"):
        monomial_features(np.ones((2, 1)), np.array([[1]]), weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="d ≥ 1"):
        multi_indices(0, 2)
    with pytest.raises(ValueError, match="too many"):
        multi_indices(64, 12)
