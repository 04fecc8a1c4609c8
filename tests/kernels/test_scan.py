"""polyth_kernels.scan: prefix log-sum-exp scan and full reduction against a float64 numpy oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth_kernels.scan import prefix_scan, reduce_launch_threads, reduce_lse
from tests.backends import BACKENDS

DTYPES = [np.float32, np.float64]


def lse_oracle(L, W):
    """Reduction over the last axis of L (…, n) with W (…, n, C) or None, in float64."""
    L = L.astype(np.float64)
    m = L.max(axis=-1, keepdims=True)
    safe = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(L - safe)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        logz = (safe + np.log(total))[..., 0]
    if W is None:
        return logz, None
    weights = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return logz, np.einsum("...n,...nc->...c", weights, W.astype(np.float64))


def scan_oracle(L, W):
    n = L.shape[-1]
    parts = [lse_oracle(L[..., : j + 1], None if W is None else W[..., : j + 1, :]) for j in range(n)]
    logz = np.stack([p[0] for p in parts], axis=-1)
    return logz, None if W is None else np.stack([p[1] for p in parts], axis=-2)


def assert_close(got, want, dtype):
    assert got.dtype == dtype
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    scale = max(1.0, float(np.abs(want[finite]).max(initial=0.0)))
    tol = 2e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol * scale)


def random_rows(rng, shape, C, dtype, scale):
    L = (rng.standard_normal(shape) * scale).astype(dtype)
    W = rng.standard_normal(shape + (C,)).astype(dtype)
    return L, W


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 3e3])
def test_prefix_scan_matches_the_oracle(backend, dtype, scale):
    rng = np.random.default_rng(1)
    L, W = random_rows(rng, (2, 3, 40 if backend == "cpu" else 12), 5, dtype, scale)
    L[0, 1, :4] = -np.inf  # an empty prefix, then entries
    L[1, 2, 7] = -np.inf
    logz, out = prefix_scan(L, W, backend=backend)
    want_logz, want_out = scan_oracle(L, W)
    assert logz.shape == L.shape and out.shape == W.shape
    assert_close(logz, want_logz, dtype)
    assert_close(out, want_out, dtype)
    assert np.all(out[0, 1, :4] == 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 3e3])
def test_reduce_lse_matches_the_oracle(backend, dtype, scale):
    rng = np.random.default_rng(2)
    L, W = random_rows(rng, (2, 3, 150 if backend == "cpu" else 70), 4, dtype, scale)
    L[1, 0, :] = -np.inf  # an empty row
    L[0, 2, ::2] = -np.inf
    logz, out = reduce_lse(L, W, backend=backend)
    want_logz, want_out = lse_oracle(L, W)
    assert logz.shape == (2, 3) and out.shape == (2, 3, 4)
    assert_close(logz, want_logz, dtype)
    assert_close(out, want_out, dtype)
    assert logz[1, 0] == -np.inf and np.all(out[1, 0] == 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_values_and_without_batch_axis(backend):
    rng = np.random.default_rng(3)
    L = rng.standard_normal((3, 9))
    logz, out = prefix_scan(L, backend=backend)
    assert out is None and logz.shape == (3, 9)
    assert_close(logz, np.logaddexp.accumulate(L, axis=-1), np.float64)
    total, none = reduce_lse(L, backend=backend)
    assert none is None
    assert_close(total, np.logaddexp.reduce(L, axis=-1), np.float64)


@settings(max_examples=30)
@given(
    rows=st.integers(1, 4),
    n=st.integers(1, 30),
    C=st.integers(1, 3),
    scale=st.sampled_from([0.1, 10.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_scan_and_reduce_agree_on_cpu(rows, n, C, scale, seed):
    """The last column of the scan is the reduction, and both match the oracle."""
    rng = np.random.default_rng(seed)
    L, W = random_rows(rng, (1, rows, n), C, np.float64, scale)
    logz, out = prefix_scan(L, W)
    total, mean = reduce_lse(L, W)
    want_logz, want_out = scan_oracle(L, W)
    assert_close(logz, want_logz, np.float64)
    assert_close(out, want_out, np.float64)
    assert_close(total, logz[..., -1], np.float64)
    assert_close(mean, out[..., -1, :], np.float64)


def test_reduction_threads_fit_in_shared_memory():
    assert reduce_launch_threads(4, 8) == 64
    wide = reduce_launch_threads(1000, 8)
    assert wide * 1002 * 8 <= 48 * 1024 and wide >= 1


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda L, W: prefix_scan(L, W[..., :3, :]), "W must have shape"),
        (lambda L, W: prefix_scan(L.astype(np.int32)), "float32 or float64"),
        (lambda L, W: reduce_lse(L * np.nan), "NaN"),
        (lambda L, W: reduce_lse(L + np.inf), r"\+inf"),
        (lambda L, W: reduce_lse(L, W * np.inf), "NaN or inf"),
        (lambda L, W: reduce_lse(L[0, 0]), r"\(b, R, n\)"),
        (lambda L, W: reduce_lse(L, backend="gpu"), "unknown backend"),
    ],
)
def test_bad_input_raises_a_clear_error(call, words):
    rng = np.random.default_rng(4)
    L, W = random_rows(rng, (1, 2, 5), 2, np.float64, 1.0)
    with pytest.raises((ValueError, RuntimeError), match=words):
        call(L, W)
