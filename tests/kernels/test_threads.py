"""polyth_kernels.threads and .finite: small work on one thread, BLAS at one thread, one-pass checks."""

import os

import numba
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from polyth_kernels.finite import all_finite
from polyth_kernels.threads import PARALLEL_MIN_WORK, launch, single_blas_thread


@numba.njit
def _threads_seen():
    return numba.get_num_threads()


def test_small_work_runs_on_one_thread_and_large_work_on_all():
    everyone = numba.get_num_threads()
    assert launch(_threads_seen, PARALLEL_MIN_WORK - 1) == 1
    assert launch(_threads_seen, PARALLEL_MIN_WORK) == everyone
    assert numba.get_num_threads() == everyone  # restored after the small call


def test_the_thread_count_is_restored_when_the_kernel_raises():
    everyone = numba.get_num_threads()

    def fails():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        launch(fails, 1)
    assert numba.get_num_threads() == everyone


def _numba_blas():
    """The BLAS numba's np.dot calls, found independently of the kernels: a wheel's own SciPy
    BLAS, else every BLAS."""
    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return [lib for lib in blas if f"{os.sep}scipy.libs{os.sep}" in lib.filepath] or blas


def test_the_blas_numba_calls_is_left_at_one_thread():
    single_blas_thread()
    assert all(lib.num_threads == 1 for lib in _numba_blas())


def test_a_threadpool_limits_block_cannot_raise_the_kernels_blas_threads():
    """threadpoolctl sets every BLAS to its limit inside the block (verify runs each check in
    one); the next kernel launch sets the one numba calls back to one thread."""
    from threadpoolctl import threadpool_limits

    launch(_threads_seen, 1)
    with threadpool_limits(limits=2):
        for lib in _numba_blas():
            lib.set_num_threads(2)  # what the block does where the machine has 2 cores or more
        launch(_threads_seen, 1)
        assert all(lib.num_threads == 1 for lib in _numba_blas())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_agrees_with_the_elementwise_check(dtype):
    big = np.finfo(dtype).max
    cases = [
        np.zeros(0, dtype),
        np.arange(10, dtype=dtype),
        np.array([big, big], dtype),  # finite entries whose sum overflows
        np.array([1, np.nan], dtype),
        np.array([np.inf, -np.inf], dtype),  # sums to NaN
        np.array([-np.inf, 1], dtype),
    ]
    for x in cases:
        assert all_finite(x) == bool(np.isfinite(x).all()), x
