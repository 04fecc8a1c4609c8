"""The backends the tests run on, chosen by the environment (no numba import here).

Default: ``cpu`` and ``cudasim`` (the CUDA kernels under numba's simulator). With
``POLYTH_TEST_REAL_CUDA=1`` the same kernel and attention tests run on ``cuda``, a real GPU,
and the simulator stays off. tests/conftest.py applies :func:`simulator_wanted` before numba
is imported; test modules parametrise over :data:`BACKENDS` and use :data:`GPU` where a test
is about the CUDA kernels alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def real_cuda(env: Mapping[str, str]) -> bool:
    return env.get("POLYTH_TEST_REAL_CUDA") == "1"


def backends_under_test(env: Mapping[str, str]) -> tuple[str, ...]:
    """``("cuda",)`` in the real-CUDA mode, else ``("cpu", "cudasim")``."""
    return ("cuda",) if real_cuda(env) else ("cpu", "cudasim")


def gpu_backend(env: Mapping[str, str]) -> str:
    """The backend that runs the CUDA kernels: the GPU itself, or the simulator."""
    return "cuda" if real_cuda(env) else "cudasim"


def simulator_wanted(env: Mapping[str, str]) -> bool:
    """Whether NUMBA_ENABLE_CUDASIM must be set (never in the real-CUDA mode)."""
    return not real_cuda(env)


BACKENDS = list(backends_under_test(os.environ))
GPU = gpu_backend(os.environ)
