"""Array kernels for polyth: numba CUDA kernels and their numba CPU twins.

This package knows nothing of polynomials: every function takes arrays and sizes.
It never imports ``polyth``.
"""

from kernels.backend import BackendError, available_backends, resolve_backend
from kernels.edge import edge_pass, edge_pass_channels, hyperedge_pass
from kernels.scan import prefix_scan, reduce_lse

__all__ = [
    "BackendError",
    "available_backends",
    "edge_pass",
    "edge_pass_channels",
    "hyperedge_pass",
    "prefix_scan",
    "reduce_lse",
    "resolve_backend",
]
