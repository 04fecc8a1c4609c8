"""polyth_kernels.stream: the streamed causal pass against a dense float64 numpy oracle (n × n tables)."""

import numpy as np
import pytest
from scipy.special import logsumexp

from polyth_kernels.stream import stream_pass

BACKENDS = ["cpu", "cudasim"]


def oracle(Aq, Ku, Au, Kb, Wu, Wb, bias_u, bias_b, masked):
    """The pass by its definition, with the n × n tables in float64 (one batch entry at a time)."""
    outs, logzs = [], []
    n = Aq.shape[1]
    allowed_b = np.tril(np.ones((n, n), dtype=bool))  # [j ≤ i] over (i, j)
    for bi in range(Aq.shape[0]):
        f64 = [None if x is None else np.asarray(x[bi], dtype=np.float64) for x in (Aq, Ku, Au, Kb, Wu, Wb)]
        aq, ku, au, kb, wu, wb = f64
        s_ub = au @ kb.T + bias_b[bi][None, :]  # (u, j)
        s_pu = aq @ ku.T + bias_u[bi][None, :]  # (i, u)
        # the message M(i, u): keys j ≤ i of the table {u, b}
        joint = np.where(allowed_b[:, None, :], s_ub[None, :, :], -np.inf)  # (i, u, j)
        log_m = logsumexp(joint, axis=2)
        weights = np.exp(joint - log_m[..., None])
        m_val = weights @ wb if wb is not None else None  # (i, u, C)
        total = s_pu + log_m
        if masked:
            total = np.where(allowed_b, total, -np.inf)  # [u ≤ i]
        logz = logsumexp(total, axis=1)
        p = np.exp(total - logz[:, None])
        value = np.ones((n, n, 1))
        if m_val is not None:
            value = value * m_val
        if wu is not None:
            value = value * wu[None, :, :]
        outs.append(np.einsum("iu,iuc->ic", p, value))
        logzs.append(logz)
    return np.stack(logzs), np.stack(outs)


def inputs(rng, nb, n, D1, D2, C, dtype, scale=1.0):
    def draw(*shape):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return draw(nb, n, D1), draw(nb, n, D1), draw(nb, n, D2), draw(nb, n, D2), draw(nb, n, C), draw(nb, n, C)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("values", ["both", "u", "b", "none"])
def test_stream_pass_matches_the_dense_oracle(backend, dtype, masked, values):
    rng = np.random.default_rng(3)
    n = 70 if backend == "cpu" else 9  # the CPU size spans several chunks of u
    Aq, Ku, Au, Kb, Wu, Wb = inputs(rng, 2, n, 3, 2, 4, dtype, scale=1.5)
    Wu = Wu if values in ("both", "u") else None
    Wb = Wb if values in ("both", "b") else None
    bias_u = rng.standard_normal((2, n)).astype(dtype)
    bias_b = rng.standard_normal((2, n)).astype(dtype)
    logz, out = stream_pass(Aq, Ku, Au, Kb, Wu, Wb, bias_u, bias_b, masked=masked, backend=backend)
    want_logz, want_out = oracle(Aq, Ku, Au, Kb, Wu, Wb, bias_u, bias_b, masked)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert logz.dtype == dtype and out.dtype == dtype
    np.testing.assert_allclose(logz, want_logz, rtol=tol, atol=tol)
    if values == "none":
        assert out.shape == (2, n, 0)
    else:
        np.testing.assert_allclose(out, want_out, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_scores_stay_finite(backend):
    """Scores of ±500 overflow exp in float64 without the running maxima; the pass keeps them."""
    rng = np.random.default_rng(4)
    n = 40 if backend == "cpu" else 8
    Aq, Ku, Au, Kb, Wu, Wb = inputs(rng, 1, n, 2, 2, 3, np.float64, scale=16.0)
    zero = np.zeros((1, n))
    logz, out = stream_pass(Aq, Ku, Au, Kb, Wu, Wb, zero, zero, masked=True, backend=backend)
    want_logz, want_out = oracle(Aq, Ku, Au, Kb, Wu, Wb, zero, zero, True)
    assert np.abs(want_logz).max() > 300
    np.testing.assert_allclose(logz, want_logz, rtol=1e-10)
    np.testing.assert_allclose(out, want_out, rtol=1e-8, atol=1e-8)


def test_bad_arrays_are_refused():
    rng = np.random.default_rng(5)
    Aq, Ku, Au, Kb, Wu, Wb = inputs(rng, 1, 5, 2, 2, 3, np.float64)
    with pytest.raises(ValueError, match="Ku must have shape"):
        stream_pass(Aq, Ku[:, :4], Au, Kb)
    with pytest.raises(ValueError, match="one width C"):
        stream_pass(Aq, Ku, Au, Kb, Wu, Wb[..., :2])
    Kb[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stream_pass(Aq, Ku, Au, Kb)
