"""One BLAS thread per numba thread while a CPU kernel runs.

The CPU twins call BLAS (numba's np.dot, through SciPy's OpenBLAS) from inside
``prange`` loops. A multithreaded BLAS called from every numba thread oversubscribes
the cores: on 2 cores, the 4096 × 4096 flash pass takes about 70 ms instead of 34 ms.
``single_threaded_blas()`` limits every loaded BLAS to one thread for the duration
(threadpoolctl), and restores the previous setting afterwards.
"""

from __future__ import annotations

import contextlib
import functools

import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that numba's np.dot calls)
from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas():
    with _controller().limit(limits=1, user_api="blas"):
        yield
