"""Array kernels for polyth: numba CUDA kernels and their numba CPU twins.

This package knows nothing of polynomials: every function takes arrays and sizes.
It never imports ``polyth``.
"""

from polyth_kernels.backend import BackendError, available_backends, resolve_backend
from polyth_kernels.edge import edge_pass, edge_pass_channels, hyperedge_pass
from polyth_kernels.elementwise import elementwise_attention, elementwise_state, elementwise_step
from polyth_kernels.features import monomial_features, multi_indices, taylor_weights
from polyth_kernels.gemm import batched_gemm
from polyth_kernels.linear import feature_map, linear_attention, linear_state, linear_step
from polyth_kernels.lowrank import lowrank_pass
from polyth_kernels.matmul import lse_matmul
from polyth_kernels.naive import naive_attention
from polyth_kernels.scan import prefix_scan, reduce_lse
from polyth_kernels.stream import stream_pass

__all__ = [
    "BackendError",
    "available_backends",
    "batched_gemm",
    "edge_pass",
    "edge_pass_channels",
    "elementwise_attention",
    "elementwise_state",
    "elementwise_step",
    "feature_map",
    "hyperedge_pass",
    "linear_attention",
    "linear_state",
    "linear_step",
    "lowrank_pass",
    "lse_matmul",
    "monomial_features",
    "multi_indices",
    "naive_attention",
    "prefix_scan",
    "reduce_lse",
    "resolve_backend",
    "stream_pass",
    "taylor_weights",
]
