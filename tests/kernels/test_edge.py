"""polyth_kernels.edge: edge, per-channel and hyperedge flash passes against a float64 numpy oracle
that materialises every score."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth_kernels.edge import edge_pass, edge_pass_channels, hyperedge_pass
from polyth_kernels.edge_cpu import flash_cpu
from tests.backends import BACKENDS, GPU

DTYPES = [np.float32, np.float64]


def oracle(scores, W):
    """Log-sum-exp over the last axis of scores (…, nk) and the softmax-weighted W (nk, C)-rows."""
    scores = scores.astype(np.float64)
    m = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - m)
    total = e.sum(axis=-1, keepdims=True)
    return (m + np.log(total))[..., 0], e / total


def edge_oracle(A, K, W, bias, causal):
    s = np.einsum("bid,bjd->bij", A.astype(np.float64), K.astype(np.float64))
    if bias is not None:
        s = s + bias.astype(np.float64)[:, None, :]
    if causal:
        n = s.shape[1]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    logz, p = oracle(s, W)
    return logz, np.einsum("bij,bjc->bic", p, W.astype(np.float64))


def assert_close(got, want, dtype):
    """float32: relative 2e-4; float64: 1e-9, both relative to the size of the values."""
    assert got.dtype == dtype
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    tol = 2e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def random_edge(rng, b, nq, nk, D, C, dtype, scale=1.0):
    A = (rng.standard_normal((b, nq, D)) * scale).astype(dtype)
    K = rng.standard_normal((b, nk, D)).astype(dtype)
    W = rng.standard_normal((b, nk, C)).astype(dtype)
    bias = rng.standard_normal((b, nk)).astype(dtype)
    return A, K, W, bias


def sim_size(backend, cpu_size, sim_size):
    return cpu_size if backend == "cpu" else sim_size


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_edge_pass_matches_the_oracle(backend, dtype, causal):
    rng = np.random.default_rng(1)
    n = sim_size(backend, 300, 70)  # not a multiple of any tile: ragged last tiles
    C = sim_size(backend, 17, 3)
    A, K, W, bias = random_edge(rng, 2, n, n, 16 if backend == "cpu" else 4, C, dtype)
    logz, out = edge_pass(A, K, W, bias, causal=causal, backend=backend)
    want_logz, want_out = edge_oracle(A, K, W, bias, causal)
    assert_close(logz, want_logz, dtype)
    assert_close(out, want_out, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_pass_without_batch_axis_and_without_bias(backend):
    rng = np.random.default_rng(2)
    A, K, W, _ = random_edge(rng, 1, 9, 13, 5, 2, np.float64)
    logz, out = edge_pass(A[0], K[0], W[0], backend=backend)
    want_logz, want_out = edge_oracle(A, K, W, None, False)
    assert logz.shape == (9,) and out.shape == (9, 2)
    assert_close(logz, want_logz[0], np.float64)
    assert_close(out, want_out[0], np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_large_scores_float32_stay_finite_and_exact(backend, causal):
    """|S| up to ~7e3 with integer features: float32 scores are exact, so only the
    log-domain softmax is under test (a naive exp would overflow)."""
    rng = np.random.default_rng(3)
    n = sim_size(backend, 200, 40)
    A = rng.integers(-30, 31, (2, n, 8)).astype(np.float32)
    K = rng.integers(-30, 31, (2, n, 8)).astype(np.float32)
    W = rng.standard_normal((2, n, 3)).astype(np.float32)
    bias = rng.integers(-1000, 1001, (2, n)).astype(np.float32)
    logz, out = edge_pass(A, K, W, bias, causal=causal, backend=backend)
    want_logz, want_out = edge_oracle(A, K, W, bias, causal)
    assert np.abs(want_logz).max() > 1e3
    assert_close(logz, want_logz, np.float32)
    assert_close(out, want_out, np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_scores_float64(backend):
    rng = np.random.default_rng(4)
    A, K, W, bias = random_edge(rng, 1, 30, 30, 4, 2, np.float64, scale=2e3)
    logz, out = edge_pass(A, K, W, bias * 1e4, causal=True, backend=backend)
    want_logz, want_out = edge_oracle(A, K, W, bias * 1e4, True)
    assert np.abs(want_logz).max() > 5e3
    assert_close(logz, want_logz, np.float64)
    assert_close(out, want_out, np.float64)


@settings(max_examples=25)
@given(
    b=st.integers(1, 2),
    nq=st.integers(1, 40),
    nk=st.integers(1, 40),
    D=st.integers(1, 6),
    C=st.integers(1, 4),
    tiles=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    seed=st.integers(0, 2**16),
)
def test_cpu_tiles_of_any_size_give_the_same_pass(b, nq, nk, D, C, tiles, seed):
    rng = np.random.default_rng(seed)
    A, K, W, bias = random_edge(rng, b, nq, nk, D, C, np.float64, scale=3.0)
    for causal in (False, True) if nq == nk else (False,):
        logz, out = flash_cpu(A, np.array([nq]), K, W, bias, causal, tiles[0], tiles[1])
        want_logz, want_out = edge_oracle(A, K, W, bias, causal)
        assert_close(logz, want_logz, np.float64)
        assert_close(out, want_out, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_keys_are_skipped(backend):
    rng = np.random.default_rng(5)
    A, K, W, bias = random_edge(rng, 1, 12, 12, 3, 2, np.float32)
    bias[0, ::3] = -np.inf
    logz, out = edge_pass(A, K, W, bias, backend=backend)
    want_logz, want_out = edge_oracle(A, K, W, bias, False)
    assert_close(logz, want_logz, np.float32)
    assert_close(out, want_out, np.float32)


def channels_oracle(A, K, W, bias, causal):
    s = np.einsum("icm,jcm->cij", A.astype(np.float64), K.astype(np.float64))
    if bias is not None:
        s = s + bias.T.astype(np.float64)[:, None, :]
    if causal:
        n = s.shape[1]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    logz, p = oracle(s, W)
    return logz.T, np.einsum("cij,jc->ic", p, W.astype(np.float64))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_edge_pass_channels_matches_the_oracle(backend, dtype, causal):
    rng = np.random.default_rng(6)
    b, n, C, M = 2, sim_size(backend, 150, 20), sim_size(backend, 5, 2), 3
    A = rng.standard_normal((b, n, C, M)).astype(dtype)
    K = rng.standard_normal((b, n, C, M)).astype(dtype)
    W = rng.standard_normal((b, n, C)).astype(dtype)
    bias = rng.standard_normal((b, n, C)).astype(dtype)
    logz, out = edge_pass_channels(A, K, W, bias, causal=causal, backend=backend)
    assert logz.shape == (b, n, C) and out.shape == (b, n, C)
    for bi in range(b):
        want_logz, want_out = channels_oracle(A[bi], K[bi], W[bi], bias[bi], causal)
        assert_close(logz[bi], want_logz, dtype)
        assert_close(out[bi], want_out, dtype)


def test_elementwise_attention_is_a_channel_pass_with_three_features():
    """h = −(x1 − x2)² per channel = −x1² + 2·x1·x2 − x2²: features (−q², 2q, 1)·(1, k, −k²)."""
    rng = np.random.default_rng(7)
    n, C = 64, 4
    q, k, v = (rng.standard_normal((n, C)) for _ in range(3))
    A = np.stack([-(q**2), 2 * q, np.ones_like(q)], axis=-1)
    K = np.stack([np.ones_like(k), k, -(k**2)], axis=-1)
    logz, out = edge_pass_channels(A, K, v)
    s = -((q[:, None, :] - k[None, :, :]) ** 2)  # (i, j, c)
    weights = np.exp(s - s.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    assert_close(out, np.einsum("ijc,jc->ic", weights, v), np.float64)


def hyperedge_oracle(As, K, W, bias):
    letters = "ijklm"[: len(As)]
    spec = ",".join(f"b{x}d" for x in letters) + f",bzd->b{letters}z"
    s = np.einsum(spec, *[a.astype(np.float64) for a in As], K.astype(np.float64))
    if bias is not None:
        s = s + bias.astype(np.float64).reshape((bias.shape[0],) + (1,) * len(As) + (bias.shape[1],))
    logz, p = oracle(s, W)
    return logz, np.einsum(f"b{letters}z,bzc->b{letters}c", p, W.astype(np.float64))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [(7, 5), (4, 3, 5)])
def test_hyperedge_pass_matches_the_oracle(backend, dtype, sizes):
    rng = np.random.default_rng(8)
    b, nk, D, C = 2, sim_size(backend, 33, 9), 4, 3
    As = [rng.standard_normal((b, n, D)).astype(dtype) for n in sizes]
    K = rng.standard_normal((b, nk, D)).astype(dtype)
    W = rng.standard_normal((b, nk, C)).astype(dtype)
    bias = rng.standard_normal((b, nk)).astype(dtype)
    logz, out = hyperedge_pass(As, K, W, bias, backend=backend)
    assert logz.shape == (b, *sizes) and out.shape == (b, *sizes, C)
    want_logz, want_out = hyperedge_oracle(As, K, W, bias)
    assert_close(logz, want_logz, dtype)
    assert_close(out, want_out, dtype)


def test_hyperedge_pass_many_rows_on_cpu_tiles_and_without_batch():
    rng = np.random.default_rng(9)
    sizes, nk, D, C = (40, 9, 3), 50, 5, 2  # 1080 rows: several row tiles, a ragged last one
    As = [rng.standard_normal((n, D)) * 0.5 for n in sizes]
    K, W = rng.standard_normal((nk, D)), rng.standard_normal((nk, C))
    logz, out = hyperedge_pass(As, K, W)
    want_logz, want_out = hyperedge_oracle([a[None] for a in As], K[None], W[None], None)
    assert_close(logz, want_logz[0], np.float64)
    assert_close(out, want_out[0], np.float64)
    i, j, k = 17, 4, 2
    row = As[0][i] * As[1][j] * As[2][k]
    assert logz[i, j, k] == pytest.approx(np.log(np.exp(K @ row).sum()), rel=1e-12)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda A, K, W: edge_pass(A, K, W[:, :5]), ValueError, "W must be"),
        (lambda A, K, W: edge_pass(A, K[:, :5], W[:, :5], causal=True), ValueError, "as many queries"),
        (lambda A, K, W: edge_pass(A.astype(np.int64), K, W), ValueError, "float32 or float64"),
        (lambda A, K, W: edge_pass(A, K, W, bias=np.zeros((1, 3))), ValueError, "bias must be"),
        (lambda A, K, W: edge_pass(A, K, W, bias=np.full((1, 6), -np.inf)), ValueError, "masked"),
        (lambda A, K, W: edge_pass(A * np.nan, K, W), ValueError, "NaN"),
        (lambda A, K, W: edge_pass(A, K, W, bias=np.full((1, 6), np.nan)), ValueError, "NaN"),
        (lambda A, K, W: edge_pass(A[0], K, W), ValueError, "all with the leading batch axis"),
        (lambda A, K, W: edge_pass(A, K, W, backend="tpu"), RuntimeError, "unknown backend"),
        (lambda A, K, W: hyperedge_pass([A], K, W), ValueError, "at least 2"),
        (lambda A, K, W: edge_pass_channels(A, K, W), ValueError, "(b, nq, C, M)"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, words):
    rng = np.random.default_rng(10)
    A, K, W, _ = random_edge(rng, 1, 6, 6, 3, 2, np.float64)
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(A, K, W)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's numpy scalars warn on overflow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("signs", [(1, 1), (1, -1)])
def test_float32_overflowing_scores_raise_instead_of_returning_nan(backend, signs):
    """Scores of ±inf, or NaN from inf − inf, in one row among finite ones are detected."""
    A = np.ones((1, 4, 2), np.float32)
    A[0, 2] = 1e20 * np.array(signs, np.float32)
    with pytest.raises(FloatingPointError, match="overflow"):
        edge_pass(A, np.abs(A), np.ones((1, 4, 1), np.float32), backend=backend)


def test_causal_rows_see_only_their_prefix():
    """Row i of a causal pass equals the non-causal pass over keys 0..i."""
    rng = np.random.default_rng(11)
    A, K, W, bias = random_edge(rng, 1, 25, 25, 4, 2, np.float64)
    logz, out = edge_pass(A, K, W, bias, causal=True)
    for i in itertools.chain(range(3), [24]):
        lz, o = edge_pass(A[:, i : i + 1], K[:, : i + 1], W[:, : i + 1], bias[:, : i + 1])
        assert logz[0, i] == pytest.approx(lz[0, 0], rel=1e-12)
        np.testing.assert_allclose(out[0, i], o[0, 0], rtol=1e-12)


def test_cuda_grid_visits_batches_beyond_the_grid_height(monkeypatch):
    """Batches taller than the grid (65535 on hardware; 1 here) are visited grid-stride."""
    import polyth_kernels.edge_cuda

    monkeypatch.setattr(polyth_kernels.edge_cuda, "MAX_GRID_Y", 1)
    rng = np.random.default_rng(12)
    A, K, W, bias = random_edge(rng, 3, 5, 6, 2, 2, np.float64)
    logz, out = edge_pass(A, K, W, bias, backend=GPU)
    want_logz, want_out = edge_oracle(A, K, W, bias, False)
    assert_close(logz, want_logz, np.float64)
    assert_close(out, want_out, np.float64)


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize(("D", "C"), [(1, 1), (8, 3), (64, 64), (128, 129), (700, 64)])
def test_cuda_launch_fits_static_shared_memory(itemsize, D, C):
    """The block of query rows and the key tile are the largest that fit 48 KB, rows first."""
    from polyth_kernels.edge_cuda import MAX_KEYS, MAX_ROWS, SHARED_BYTES, launch_config, shared_bytes

    grid, threads, rows, keys = launch_config(1000, 3, D, C, itemsize)
    assert shared_bytes(rows, keys, D, C, itemsize) <= SHARED_BYTES
    assert grid == (-(-1000 // rows), 3) and threads >= rows
    if rows < MAX_ROWS:  # twice the rows would not have fitted
        assert shared_bytes(2 * rows, keys, D, C, itemsize) > SHARED_BYTES
    if keys < MAX_KEYS:
        assert shared_bytes(1, 2 * keys, D, C, itemsize) > SHARED_BYTES


def test_cuda_launch_refuses_features_too_wide_for_shared_memory():
    from polyth_kernels.edge_cuda import launch_config

    with pytest.raises(ValueError, match="shared memory; use backend='cpu'"):
        launch_config(10, 1, 6000, 64, 8)
