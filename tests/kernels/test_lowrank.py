"""polyth_kernels.lowrank.lowrank_pass against the materialised nq × nk weight matrix."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth_kernels.features import monomial_features, multi_indices, taylor_weights
from polyth_kernels.lowrank import lowrank_pass
from tests.backends import BACKENDS, GPU


def oracle(Phi, Psi, W, causal):
    w = np.einsum("bir,bjr->bij", Phi.astype(np.float64), Psi.astype(np.float64))
    if causal:
        w = np.tril(w)
    z = w.sum(axis=-1)
    return z, np.einsum("bij,bjc->bic", w, W.astype(np.float64)) / z[..., None]


def check(Phi, Psi, W, causal, backend, chunk=None):
    z, out = lowrank_pass(Phi, Psi, W, causal, backend=backend, chunk=chunk)
    z0, out0 = oracle(Phi, Psi, W, causal)
    assert z.dtype == Phi.dtype and out.dtype == Phi.dtype and z.shape == z0.shape and out.shape == out0.shape
    rtol = 2e-4 if Phi.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(z, z0, rtol=rtol)
    np.testing.assert_allclose(
        out, out0, rtol=0, atol=(2e-4 if Phi.dtype == np.float32 else 1e-9) * np.abs(W).max()
    )


def positive_inputs(rng, dtype, b, nq, nk, r, c):
    return (
        rng.random((b, nq, r)).astype(dtype),
        rng.random((b, nk, r)).astype(dtype),
        rng.standard_normal((b, nk, c)).astype(dtype),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_causal_matches_the_oracle(backend, dtype):
    Phi, Psi, W = positive_inputs(np.random.default_rng(0), dtype, 2, 7, 9, 4, 3)
    check(Phi, Psi, W, False, backend)
    z, out = lowrank_pass(Phi[0], Psi[0], W[0])
    assert z.shape == (7,) and out.shape == (7, 3)


@pytest.mark.parametrize(("backend", "dtype"), [("cpu", np.float32), ("cpu", np.float64), (GPU, np.float64)])
def test_causal_chunks_carry_the_prefix_state(backend, dtype):
    Phi, Psi, W = positive_inputs(np.random.default_rng(1), dtype, 1, 11, 11, 3, 2)
    check(Phi, Psi, W, True, backend, chunk=6)  # two chunks, the last one padded
    check(Phi, Psi, W, True, "cpu", chunk=4)  # three chunks


@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 6), st.integers(1, 4)),
    chunk=st.integers(1, 70) | st.none(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 1000),
)
def test_cpu_causal_and_not_on_random_shapes(shape, chunk, dtype, seed):
    b, n, r, c = shape
    rng = np.random.default_rng(seed)
    Phi, Psi, W = positive_inputs(rng, dtype, b, n, n, r, c)
    check(Phi, Psi, W, True, "cpu", chunk)
    check(Phi, Psi, W, False, "cpu")


def test_even_taylor_features_approximate_softmax_attention():
    """exp(q·k) ≈ φ(q)·ψ(k) with the degree-g Taylor features: attention to within the Taylor remainder."""
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal((2, 12, 3)) * 0.3
    v = rng.standard_normal((12, 2))
    alphas = multi_indices(3, 6)
    phi = monomial_features(q, alphas, taylor_weights(alphas))
    psi = monomial_features(k, alphas)
    _, out = lowrank_pass(phi, psi, v, causal=True)
    s = np.tril(np.exp(q @ k.T))
    exact = s @ v / s.sum(axis=1, keepdims=True)
    bound = max(abs(x) for x in (q @ k.T).ravel()) ** 7 / math.factorial(7) * math.e
    assert np.abs(out - exact).max() < 4 * bound * np.abs(v).max() + 1e-12


def test_vanishing_denominators_are_reported_with_their_count():
    Phi = np.array([[1.0], [-1.0], [1.0]])
    Psi = np.array([[1.0], [1.0], [1.0]])
    with pytest.raises(ValueError, match="for 1 of 3 rows"):
        lowrank_pass(Phi, Psi, np.ones((3, 1)))
    with pytest.raises(ValueError, match="for 2 of 3 rows"):
        lowrank_pass(np.array([[1.0], [-1.0], [0.0]]), Psi, np.ones((3, 1)), causal=True)


def test_bad_inputs_raise():
    ok = np.ones((1, 3, 2))
    with pytest.raises(ValueError, match="as many queries as keys"):
        lowrank_pass(np.ones((1, 2, 2)), ok, ok, causal=True)
    with pytest.raises(ValueError, match="shapes disagree"):
        lowrank_pass(ok, np.ones((1, 3, 4)), ok)
    with pytest.raises(ValueError, match="NaN or inf"):
        lowrank_pass(ok, ok, np.full((1, 3, 2), np.nan))
    with pytest.raises(ValueError, match="dtype"):
        lowrank_pass(ok, ok, ok.astype(np.float32))
    with pytest.raises(ValueError, match="chunk"):
        lowrank_pass(ok, ok, ok, causal=True, chunk=0)
