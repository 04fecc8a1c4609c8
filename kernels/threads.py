"""How the CPU kernels use the cores: numba threads with one BLAS thread each, and no thread
pool at all for small work.

Two effects, both measured on the 2-core machine (docs/design.md §5), set the rules:

- **A parallel region waits for its slowest thread.** When another process holds a core, a
  numba ``prange`` region (OpenMP underneath) waits up to a scheduler time slice for its
  second thread: a path-3 call at n = 16 took 4–40 ms instead of 0.25 ms with one core busy.
  :func:`launch` therefore runs a kernel on one thread (``numba.set_num_threads(1)``, which
  keeps the pool asleep) when its work is below :data:`PARALLEL_MIN_WORK` operations;
  larger kernels use every numba thread.
- **A multithreaded BLAS keeps spinning after it returns.** OpenBLAS workers busy-wait
  after a call, and so does switching the library's thread count back up; the spinning
  threads then compete with the next numba kernel (Strassen at n = 64: 85–108 ms against
  0.5–0.7 ms). So the BLAS that numba's ``np.dot`` calls (SciPy's OpenBLAS) is held at one
  thread: every :func:`launch` checks it (a getter call, under a microsecond) and sets it back
  to one if anything raised it, such as a ``threadpoolctl.threadpool_limits`` block around the
  call, which sets every BLAS to the block's limit. Checking once per process was not enough:
  inside ``polyth report`` each check runs in such a block, and with 2 threads every check
  after the first ran its GEMMs with 2 BLAS threads inside each of 2 numba tasks (star-4 at
  n = 4096: 22 ms first, 73–215 ms after). The kernels parallelise GEMMs themselves, one BLAS
  call per numba task, and never call numpy's own (multithreaded) ``matmul``. Code outside
  polyth that uses SciPy's BLAS then runs single-threaded too; numpy's separate OpenBLAS is
  left as it was.

Example::

    >>> import numpy as np
    >>> launch(np.add, 10, np.ones(2), np.ones(2))   # 10 operations: one thread
    array([2., 2.])
"""

from __future__ import annotations

import functools
import os

import numba
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that numba's np.dot calls)
from threadpoolctl import ThreadpoolController

#: operations (multiply-adds and exps) below which a kernel runs on one thread: about
#: 0.1 ms of single-core work, well under one scheduler time slice (≈ 3–4 ms)
PARALLEL_MIN_WORK = 1 << 22


def _is_scipy_blas(path: str) -> bool:
    return f"{os.sep}scipy.libs{os.sep}" in path or f"{os.sep}scipy{os.sep}" in path


@functools.cache
def _numba_blas() -> tuple:
    """The BLAS libraries that numba's np.dot calls (found once per process): SciPy's bundled
    OpenBLAS for a wheel install; when SciPy links a BLAS shared with numpy (a distribution's
    packages), that shared library."""
    controller = ThreadpoolController().select(user_api="blas")
    scipy_own = [lib for lib in controller.lib_controllers if _is_scipy_blas(lib.filepath)]
    return tuple(scipy_own or controller.lib_controllers)


def single_blas_thread() -> None:
    """Set the BLAS that numba's np.dot calls to one thread, if anything raised it."""
    for lib in _numba_blas():
        if lib.num_threads != 1:
            lib.set_num_threads(1)


def launch(kernel, work: float, *args):
    """``kernel(*args)`` with the BLAS at one thread, on one numba thread when ``work`` (its
    operation count) is below :data:`PARALLEL_MIN_WORK`, else on every numba thread."""
    single_blas_thread()
    if work >= PARALLEL_MIN_WORK:
        return kernel(*args)
    previous = numba.get_num_threads()
    if previous == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)
