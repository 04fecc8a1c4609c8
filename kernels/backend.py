"""Backend selection: ``cuda`` (a real GPU), ``cudasim`` (the same CUDA kernels under
numba's simulator) and ``cpu`` (numba ``njit(parallel=True)`` twins).

Detection never touches the driver when there is none: the simulator flag is read
first, then ``cuda.is_available()`` (False, without a crash, when no driver exists).
"""

from __future__ import annotations

import numba

BACKENDS = ("auto", "cpu", "cuda", "cudasim")


class BackendError(RuntimeError):
    """A backend was asked for that this machine cannot run."""


def simulator_enabled() -> bool:
    return bool(numba.config.ENABLE_CUDASIM)


def gpu_available() -> bool:
    """Whether a real CUDA GPU can run the kernels (False under the simulator)."""
    if simulator_enabled():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a broken driver install reads as no GPU
        return False


def available_backends() -> tuple[str, ...]:
    found = ["cpu"]
    if gpu_available():
        found.append("cuda")
    if simulator_enabled():
        found.append("cudasim")
    return tuple(found)


def resolve_backend(backend: str) -> str:
    """Turn ``auto|cpu|cuda|cudasim`` into the backend that will run, or raise BackendError."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "cuda" if gpu_available() else "cpu"
    if backend == "cuda" and not gpu_available():
        hint = (
            "the CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1): use backend='cudasim'"
            if simulator_enabled()
            else "no CUDA GPU was found (install polyth[cuda] on a machine with an NVIDIA GPU), "
            "use backend='cpu'"
        )
        raise BackendError(f"backend='cuda' needs a GPU: {hint}")
    if backend == "cudasim" and not simulator_enabled():
        raise BackendError(
            "backend='cudasim' needs NUMBA_ENABLE_CUDASIM=1 set before numba is imported "
            "(the test suite sets it in tests/conftest.py)"
        )
    return backend
