"""Array kernels for polyth: numba CUDA kernels and their numba CPU twins.

This package knows nothing of polynomials: every function takes arrays and sizes.
It never imports ``polyth``.
"""

from kernels.backend import BackendError, available_backends, resolve_backend

__all__ = ["BackendError", "available_backends", "resolve_backend"]
