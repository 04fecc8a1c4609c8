"""polyth_kernels.matmul.lse_matmul against a float64 oracle that materialises every A[i,k] + B[j,k]."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth_kernels.matmul import lse_matmul, underflow_threshold
from tests.backends import BACKENDS, GPU

RTOL32 = 2e-4


def oracle(A, B, W):
    S = A.astype(np.float64)[:, :, None, :] + B.astype(np.float64)[:, None, :, :]
    m = S.max(axis=-1, keepdims=True)
    finite = np.isfinite(m)
    weights = np.where(finite, np.exp(S - np.where(finite, m, 0)), 0.0)
    Z = weights.sum(axis=-1)
    with np.errstate(divide="ignore"):
        logz = np.where(Z > 0, m[..., 0] + np.log(np.where(Z > 0, Z, 1)), -np.inf)
    out = None
    if W is not None:
        out = np.einsum("bijk,bkc->bijc", weights, W.astype(np.float64)) / np.where(Z > 0, Z, 1)[..., None]
    return logz, out


def check(A, B, W, backend, batched=True):
    dtype = A.dtype
    logz, out, recomputed = (
        lse_matmul(A, B, W, backend=backend)
        if batched
        else lse_matmul(A[0], B[0], None if W is None else W[0], backend=backend)
    )
    if not batched:
        logz = logz[None]
        out = None if out is None else out[None]
    ref_logz, ref_out = oracle(A, B, W)
    assert logz.dtype == dtype and isinstance(recomputed, int)
    assert not np.isnan(logz).any()
    scale = max(1.0, np.abs(ref_logz[np.isfinite(ref_logz)]).max(initial=1.0))
    tol = RTOL32 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(logz, ref_logz, rtol=0, atol=tol * scale)
    if W is None:
        assert out is None
    else:
        assert out.dtype == dtype and np.isfinite(out).all()
        tol = RTOL32 * np.abs(W).max() if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(out, ref_out, rtol=0, atol=tol)
    return recomputed


def inputs(rng, dtype, size, scale, b=2, i=5, j=4, k=7, c=3):
    A = (rng.standard_normal((b, i, k)) * scale).astype(dtype)
    B = (rng.standard_normal((b, j, k)) * scale).astype(dtype)
    W = rng.standard_normal((b, k, c)).astype(dtype)
    return A, B, W


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 3e3])
def test_matches_the_oracle_with_values(backend, dtype, scale):
    A, B, W = inputs(np.random.default_rng(0), dtype, 1, scale)
    recomputed = check(A, B, W, backend)
    if scale > 1e3:  # best k far from both row maxima: the shifted sums underflow and are redone
        assert recomputed > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_normaliser_alone_and_without_batch(backend):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        A, B, W = inputs(rng, dtype, 1, 2.0, b=1)
        check(A, B, None, backend, batched=False)
        check(A, B, W, backend, batched=False)


@given(
    shape=st.tuples(
        st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 20), st.integers(1, 5)
    ),
    log_scale=st.floats(-2, 4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_cpu_matches_the_oracle_on_random_shapes_and_score_ranges(shape, log_scale, dtype, seed):
    b, i, j, k, c = shape
    A, B, W = inputs(np.random.default_rng(seed), dtype, 1, 10.0**log_scale, b, i, j, k, c)
    check(A, B, W, "cpu")


def test_cpu_column_blocks_give_the_same_result(monkeypatch):
    import polyth_kernels.matmul

    monkeypatch.setattr(polyth_kernels.matmul, "BLOCK_ELEMENTS", 30)  # K = 7, C = 3: 1 column j, 4 without W
    A, B, W = inputs(np.random.default_rng(5), np.float64, 1, 500.0, j=5)
    assert check(A, B, W, "cpu") > 0
    check(A, B, None, "cpu")


def test_recompute_happens_exactly_where_the_shifted_sum_underflows():
    # row maxima at k = 0 (A) and k = 1 (B); the pair's best k = 2 sits 800 below both
    A = np.array([[[0.0, -1000.0, -400.0]]])
    B = np.array([[[-1000.0, 0.0, -400.0], [0.0, -1.0, -2.0]]])
    logz, out, recomputed = lse_matmul(A, B, np.ones((1, 3, 1)))
    assert recomputed == 1  # (0, 0) underflows to 0 after shifting; (0, 1) does not
    np.testing.assert_allclose(logz[0, 0], [-800.0 + np.log1p(2 * np.exp(-200.0)), np.log1p(np.exp(-1001.0))])
    np.testing.assert_allclose(out, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_underflow_is_rescued_by_the_float64_gemm(backend, monkeypatch):
    import polyth_kernels.matmul

    def no_exact_pass(*args):
        raise AssertionError("the float64 GEMM should have been enough")

    monkeypatch.setattr(polyth_kernels.matmul, "_exact_entries", no_exact_pass)
    # the pair (0, 0) has its best k = 2 at 150 below a_0 + b_0: e^-150 underflows float32, not float64
    A = np.array([[[0.0, -200.0, -75.0], [0.0, 0.0, 0.0]]], dtype=np.float32)
    B = np.array([[[-200.0, 0.0, -75.0], [0.0, -1.0, -2.0]]], dtype=np.float32)
    W = np.array([[[1.0], [2.0], [3.0]]], dtype=np.float32)
    assert check(A, B, W, backend) == 1


def test_threshold_is_relative_precision_lost_to_underflow():
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        assert underflow_threshold(dtype, 10) == pytest.approx(40 * info.tiny / info.eps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minus_infinity_masks_and_fully_masked_pairs(backend):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((1, 4, 5))
    B = rng.standard_normal((1, 3, 5))
    for i, k in itertools.product(range(4), range(5)):
        if k > i:
            A[0, i, k] = -np.inf  # a prefix mask: l3 ≤ l1
    B[0, 2, 0] = -np.inf  # with A's row 0 this leaves no finite term for the pair (0, 2)
    W = rng.standard_normal((1, 5, 2))
    check(A, B, W, backend)
    logz, out, _ = lse_matmul(A, B, W, backend=backend)
    assert logz[0, 0, 2] == -np.inf and np.all(out[0, 0, 2] == 0)


def test_strassen_attention_by_eliminating_x3():
    """Att[l1] = Σ_{l2,l3} exp(S12 + S23 + S13) V2 ⊙ V3 / Σ exp(...), with l3 eliminated by lse_matmul."""
    rng = np.random.default_rng(4)
    n, d = 6, 3
    Q1, Q2, Q3, V2, V3 = (rng.standard_normal((n, d)) * 3 for _ in range(5))
    S12, S23, S13 = Q1 @ Q2.T, Q2 @ Q3.T, Q1 @ Q3.T
    logz, msg, _ = lse_matmul(S13, S23, V3)  # (l1, l2): log Σ_l3, and the l3-weighted mean of V3
    scores = S12 + logz
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    att = np.einsum("ij,ijc->ic", weights, msg * V2[None]) / weights.sum(axis=1)[:, None]
    full = S12[:, :, None] + S23[None] + S13[:, None, :]
    w = np.exp(full - full.max(axis=(1, 2), keepdims=True))
    expected = np.einsum("ijk,jc,kc->ic", w, V2, V3) / w.sum(axis=(1, 2))[:, None]
    np.testing.assert_allclose(att, expected, rtol=0, atol=1e-12)


def test_bad_inputs_raise_value_errors_that_say_what_is_wrong():
    A = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        lse_matmul(np.full((1, 2, 3), np.nan), A)
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        lse_matmul(A, np.full((1, 2, 3), np.inf))
    with pytest.raises(ValueError, match="share"):
        lse_matmul(A, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="dtype"):
        lse_matmul(A, A.astype(np.float32))
    with pytest.raises(ValueError, match="W must be"):
        lse_matmul(A, A, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="W contains"):
        lse_matmul(A, A, np.full((1, 3, 2), np.inf))
    with pytest.raises(ValueError, match="backend"):
        lse_matmul(A, A, backend="gpu")


# ---------------------------------------------------------------- values on the operand sides


def side_oracle(A, B, W, WA, WB):
    """Σ_k exp(A[i,k] + B[j,k]) · WA[i,k,c] · WB[j,k,c] · W[k,c] / Z, materialised in float64."""
    S = A.astype(np.float64)[:, :, None, :] + B.astype(np.float64)[:, None, :, :]
    m = S.max(axis=-1, keepdims=True)
    weights = np.exp(S - m)
    nb, I, J, K = weights.shape
    C = next(X.shape[-1] for X in (W, WA, WB) if X is not None)
    WA = np.ones((nb, I, K, C)) if WA is None else WA.astype(np.float64)
    WB = np.ones((nb, J, K, C)) if WB is None else WB.astype(np.float64)
    W = np.ones((nb, K, C)) if W is None else W.astype(np.float64)
    products = WA[:, :, None] * WB[:, None] * W[:, None, None]  # (b, I, J, K, C)
    Z = weights.sum(axis=-1)
    out = np.einsum("bijk,bijkc->bijc", weights, products) / Z[..., None]
    return m[..., 0] + np.log(Z), out, np.abs(products).max()


def side_inputs(rng, dtype, sides, scale=1.0, b=2, i=5, j=4, k=7, c=3):
    A = (rng.standard_normal((b, i, k)) * scale).astype(dtype)
    B = (rng.standard_normal((b, j, k)) * scale).astype(dtype)
    shapes = {"W": (b, k, c), "WA": (b, i, k, c), "WB": (b, j, k, c)}
    values = {name: rng.standard_normal(shapes[name]).astype(dtype) for name in sides}
    return A, B, values


def check_sides(A, B, values, backend, batched=True):
    if batched:
        logz, out, recomputed = lse_matmul(A, B, backend=backend, **values)
    else:
        logz, out, recomputed = lse_matmul(
            A[0], B[0], backend=backend, **{name: X[0] for name, X in values.items()}
        )
        logz, out = logz[None], out[None]
    ref_logz, ref_out, largest = side_oracle(A, B, values.get("W"), values.get("WA"), values.get("WB"))
    assert logz.dtype == A.dtype and out.dtype == A.dtype and isinstance(recomputed, int)
    assert logz.shape == ref_logz.shape and out.shape == ref_out.shape
    scale = max(1.0, np.abs(ref_logz).max())
    f32 = A.dtype == np.float32
    np.testing.assert_allclose(logz, ref_logz, rtol=0, atol=(RTOL32 if f32 else 1e-12) * scale)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=RTOL32 * largest if f32 else 1e-9)
    return recomputed


SIDES = [("WA",), ("WB",), ("WA", "WB"), ("W", "WA"), ("W", "WB"), ("W", "WA", "WB")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sides", SIDES, ids="+".join)
def test_cpu_values_on_the_operand_sides_match_the_oracle(dtype, sides):
    rng = np.random.default_rng(len(sides) + 7 * ("WA" in sides))
    A, B, values = side_inputs(rng, dtype, sides, scale=2.0)
    check_sides(A, B, values, "cpu")
    A, B, values = side_inputs(rng, dtype, sides, scale=2.0, b=1, i=3, j=6, k=5, c=2)
    check_sides(A, B, values, "cpu", batched=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sides", [*SIDES[:3], SIDES[-1]], ids="+".join)
def test_gpu_values_on_the_operand_sides_match_the_oracle(dtype, sides):
    # the simulator runs one GEMM of 16 × 16 Python threads per batch and channel: keep it tiny,
    # batched in float32 and without the batch axis in float64
    rng = np.random.default_rng(len(sides))
    if dtype == np.float32:
        A, B, values = side_inputs(rng, dtype, sides, scale=2.0, b=2, i=3, j=4, k=5, c=1)
        check_sides(A, B, values, GPU)
    else:
        A, B, values = side_inputs(rng, dtype, sides, scale=2.0, b=1, i=3, j=4, k=5, c=2)
        check_sides(A, B, values, GPU, batched=False)


@pytest.mark.parametrize(
    "backend, dtype, sides",
    [("cpu", dtype, sides) for dtype in (np.float32, np.float64) for sides in SIDES[:3]]
    + [(GPU, np.float32, ("W", "WA", "WB")), (GPU, np.float64, ("WA",))],
)
def test_large_scores_with_side_values_are_recomputed_exactly(backend, dtype, sides):
    b, c = (2, 3) if backend == "cpu" else (1, 1)
    A, B, values = side_inputs(np.random.default_rng(11), dtype, sides, 1e3, b=b, c=c)
    assert check_sides(A, B, values, backend) > 0  # the recompute path ran, WA / WB included


@given(
    shape=st.tuples(
        st.integers(1, 3), st.integers(1, 8), st.integers(1, 8), st.integers(1, 16), st.integers(1, 4)
    ),
    sides=st.sampled_from(SIDES),
    log_scale=st.floats(-2, 3.5),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_cpu_side_values_on_random_shapes_and_score_ranges(shape, sides, log_scale, dtype, seed):
    A, B, values = side_inputs(np.random.default_rng(seed), dtype, sides, 10.0**log_scale, *shape)
    check_sides(A, B, values, "cpu")


def test_cpu_column_blocks_with_values_on_both_sides(monkeypatch):
    import polyth_kernels.matmul

    monkeypatch.setattr(polyth_kernels.matmul, "BLOCK_ELEMENTS", 30)  # one or two columns j per block
    for sides in (("WA", "WB"), ("W", "WB"), ("W", "WA")):
        A, B, values = side_inputs(np.random.default_rng(6), np.float64, sides, 500.0, j=5)
        assert check_sides(A, B, values, "cpu") > 0


def test_exact_recompute_multiplies_both_side_values():
    # as in the hand example above: (0, 0) underflows after shifting, its best k = 2 is 800 below
    A = np.array([[[0.0, -1000.0, -400.0]]])
    B = np.array([[[-1000.0, 0.0, -400.0], [0.0, -1.0, -2.0]]])
    WA = np.array([[[[1.0], [1.0], [3.0]]]])  # (1, I=1, K=3, C=1)
    WB = np.array([[[[1.0], [1.0], [5.0]], [[2.0], [1.0], [1.0]]]])  # (1, J=2, K=3, C=1)
    W = np.array([[[1.0], [1.0], [0.5]]])
    logz, out, recomputed = lse_matmul(A, B, W, WA=WA, WB=WB)
    assert recomputed == 1
    # (0, 0): terms k = 0, 1 weigh e^-200 each against k = 2, whose value is 3 · 5 · 0.5 = 7.5
    tail = 2 * np.exp(-200.0)
    np.testing.assert_allclose(out[0, 0, 0, 0], (7.5 + tail) / (1 + tail), rtol=1e-14)
    np.testing.assert_allclose(logz[0, 0, 0], -800.0 + np.log1p(tail))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sides", [("WA",), ("WA", "WB")], ids="+".join)
def test_float32_side_values_underflow_is_rescued_by_the_float64_gemm(backend, sides, monkeypatch):
    import polyth_kernels.matmul

    def no_exact_pass(*args):
        raise AssertionError("the float64 GEMM should have been enough")

    monkeypatch.setattr(polyth_kernels.matmul, "_exact_entries", no_exact_pass)
    A = np.array([[[0.0, -200.0, -75.0], [0.0, 0.0, 0.0]]], dtype=np.float32)
    B = np.array([[[-200.0, 0.0, -75.0], [0.0, -1.0, -2.0]]], dtype=np.float32)
    rng = np.random.default_rng(9)
    values = {"WA": rng.standard_normal((1, 2, 3, 1)).astype(np.float32)}
    if "WB" in sides:
        values["WB"] = rng.standard_normal((1, 2, 3, 1)).astype(np.float32)
    assert check_sides(A, B, values, backend) == 1


def test_side_values_that_overflow_raise():
    A = np.zeros((1, 2, 3), dtype=np.float32)
    big = np.full((1, 2, 3, 1), 1e30, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="overflows"):
        lse_matmul(A, A, WA=big, WB=big)


def test_bad_side_values_raise_value_errors_that_say_what_is_wrong():
    A = np.zeros((1, 2, 3))
    B = np.zeros((1, 4, 3))
    with pytest.raises(ValueError, match=r"WA must be \(b, I, K, C\) = \(1, 2, 3, 'C'\)"):
        lse_matmul(A, B, WA=np.zeros((1, 4, 3, 2)))
    with pytest.raises(ValueError, match=r"WB must be \(b, J, K, C\)"):
        lse_matmul(A, B, WB=np.zeros((1, 2, 3, 2)))
    with pytest.raises(ValueError, match="share the channel count"):
        lse_matmul(A, B, np.zeros((1, 3, 2)), WB=np.zeros((1, 4, 3, 3)))
    with pytest.raises(ValueError, match="WB contains NaN"):
        lse_matmul(A, B, WB=np.full((1, 4, 3, 1), np.nan))
    with pytest.raises(ValueError, match="WA has dtype"):
        lse_matmul(A, B, WA=np.zeros((1, 2, 3, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="no channels"):
        lse_matmul(A, B, WA=np.zeros((1, 2, 3, 0)))
    with pytest.raises(ValueError, match="without b"):
        lse_matmul(A[0], B[0], WA=np.zeros((1, 2, 3, 1)))
