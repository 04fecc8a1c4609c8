"""polyth_kernels.gemm: the tiled CUDA GEMM (under the simulator) against numpy."""

import numpy as np
import pytest
from numba import cuda

from polyth_kernels.gemm import batched_gemm, gemm_on_device
from tests.backends import GPU


def _operands(rng, dtype, trans_a, trans_b, m=20, n=9, k=12, batch=1):
    A = rng.standard_normal((batch, k, m) if trans_a else (batch, m, k)).astype(dtype)
    B = rng.standard_normal((batch, n, k) if trans_b else (batch, k, n)).astype(dtype)
    return A, B


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_tiled_gemm_matches_numpy_for_every_transposition(trans_a, trans_b):
    A, B = _operands(np.random.default_rng(0), np.float64, trans_a, trans_b)
    expected = batched_gemm(A, B, trans_a, trans_b, backend="cpu")
    assert expected.shape == (1, 20, 9)
    got = batched_gemm(A, B, trans_a, trans_b, backend=GPU)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_tiled_gemm_float32_crosses_tile_edges():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((1, 3, 17)).astype(np.float32)  # two k tiles
    B = rng.standard_normal((1, 17, 66)).astype(np.float32)  # two column tiles
    got = batched_gemm(A, B, backend=GPU)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, A.astype(np.float64) @ B, rtol=2e-4, atol=1e-5)


def test_accumulate_and_lower_triangle_epilogue():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((1, 6, 4))
    B = rng.standard_normal((1, 6, 4))
    C0 = rng.standard_normal((1, 6, 6))
    C = cuda.to_device(C0)
    gemm_on_device(cuda.to_device(A), cuda.to_device(B), C, trans_b=True, accumulate=True, lower=True)
    expected = C0 + np.tril(A @ B.transpose(0, 2, 1))
    np.testing.assert_allclose(C.copy_to_host(), expected, rtol=0, atol=1e-12)


def test_bad_operands_are_refused():
    with pytest.raises(ValueError, match="inner sizes"):
        batched_gemm(np.ones((1, 2, 3)), np.ones((1, 4, 2)))
    with pytest.raises(ValueError, match="dtype"):
        batched_gemm(np.ones((1, 2, 3)), np.ones((1, 3, 2), np.float32))


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("shape", [(1, 5, 3, 4), (3, 130, 7, 65), (2, 0, 3, 4), (1, 4, 0, 2)])
def test_cpu_gemm_on_numba_tasks_matches_numpy(trans_a, trans_b, shape):
    """gemm_cpu splits the rows into tasks of CPU_ROWS (64): 130 rows cross two task edges."""
    batch, m, k, n = shape
    A, B = _operands(np.random.default_rng(3), np.float64, trans_a, trans_b, m=m, n=n, k=k, batch=batch)
    opa = A.transpose(0, 2, 1) if trans_a else A
    opb = B.transpose(0, 2, 1) if trans_b else B
    got = batched_gemm(A, B, trans_a, trans_b, backend="cpu")
    assert got.shape == (batch, m, n)
    np.testing.assert_allclose(got, np.einsum("bik,bkj->bij", opa, opb), rtol=0, atol=1e-12)
