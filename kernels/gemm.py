"""Batched dense matrix product on CUDA: a tiled shared-memory GEMM (FP32/FP64 FMA).

    C[b] = op(A[b]) @ op(B[b])        op(X) = X or Xᵀ,   C[b] ∈ R^{M×N},  inner size K

Each block computes a BM × BN tile of C, staging BK-wide slices of op(A) and op(B) in
shared memory; each of its 16 × 16 threads accumulates TM × TN = 4 × 4 outputs in
registers, at rows ty + 16·u and columns tx + 16·v (strided, so shared-memory reads
are free of bank conflicts and the stores to C are coalesced). The epilogue can add
to C instead of overwriting it (``accumulate``) and can keep only the lower triangle
j ≤ i of each product (``lower``: the causal mask inside one chunk of a linear scan).

This is the one GEMM of the CUDA side; ``batched_gemm`` is its host wrapper and
``gemm_on_device`` launches it on device arrays for kernels that keep their intermediates on
the GPU. There are no tensor cores: FP32 FMA.

Its CPU twin :func:`gemm_cpu` splits the output into tiles of ``CPU_ROWS`` rows per batch
entry, one numba ``prange`` task each, and calls BLAS (at one thread, polyth_kernels.threads)
once per task: the GEMMs of the CPU kernels never start numpy's own BLAS thread pool.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import cuda, prange

from polyth_kernels.device import to_device, to_host
from polyth_kernels.threads import launch

TILE_M = 64
TILE_N = 64
TILE_K = 16
THREADS_SIDE = 16  # a 16 × 16 block of threads
PER_THREAD = TILE_M // THREADS_SIDE  # 4 × 4 outputs per thread
MAX_GRID_Z = 65535
CPU_ROWS = 64  # output rows per task of the CPU GEMM


def blocks(count: int, per_block: int) -> int:
    """Number of blocks of ``per_block`` threads that cover ``count`` items (at least 1)."""
    return max(1, (count + per_block - 1) // per_block)


@functools.cache
def _gemm_kernel(dtype: np.dtype):
    """The tiled GEMM kernel compiled for one float dtype (literals typed, so float32 stays float32)."""
    nbtype = numba.from_dtype(dtype)
    zero = dtype.type(0)

    @cuda.jit
    def gemm_kernel(A, B, C, trans_a, trans_b, accumulate, lower):
        batch = C.shape[0]
        M = C.shape[1]
        N = C.shape[2]
        K = B.shape[2] if trans_b else B.shape[1]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * THREADS_SIDE + tx
        row0 = cuda.blockIdx.y * TILE_M
        col0 = cuda.blockIdx.x * TILE_N
        a_tile = cuda.shared.array((TILE_K, TILE_M), nbtype)
        b_tile = cuda.shared.array((TILE_K, TILE_N), nbtype)
        acc = cuda.local.array((PER_THREAD, PER_THREAD), nbtype)
        a_reg = cuda.local.array(PER_THREAD, nbtype)
        b_reg = cuda.local.array(PER_THREAD, nbtype)
        for bb in range(cuda.blockIdx.z, batch, cuda.gridDim.z):
            for u in range(PER_THREAD):
                for v in range(PER_THREAD):
                    acc[u, v] = zero
            for k0 in range(0, K, TILE_K):
                # each thread stages TILE_K·TILE_M / 256 = 4 elements of each operand
                for q in range(PER_THREAD):
                    e = tid + q * THREADS_SIDE * THREADS_SIDE
                    if trans_a:  # A stored (K, M): walk m fastest for coalesced reads
                        kk = e // TILE_M
                        mm = e % TILE_M
                    else:  # A stored (M, K): walk k fastest
                        mm = e // TILE_K
                        kk = e % TILE_K
                    gm = row0 + mm
                    gk = k0 + kk
                    value = zero
                    if gm < M and gk < K:
                        value = A[bb, gk, gm] if trans_a else A[bb, gm, gk]
                    a_tile[kk, mm] = value
                    if trans_b:  # B stored (N, K)
                        nn = e // TILE_K
                        kk = e % TILE_K
                    else:  # B stored (K, N)
                        kk = e // TILE_N
                        nn = e % TILE_N
                    gn = col0 + nn
                    gk = k0 + kk
                    value = zero
                    if gn < N and gk < K:
                        value = B[bb, gn, gk] if trans_b else B[bb, gk, gn]
                    b_tile[kk, nn] = value
                cuda.syncthreads()
                for kk in range(TILE_K):
                    for u in range(PER_THREAD):
                        a_reg[u] = a_tile[kk, ty + u * THREADS_SIDE]
                    for v in range(PER_THREAD):
                        b_reg[v] = b_tile[kk, tx + v * THREADS_SIDE]
                    for u in range(PER_THREAD):
                        for v in range(PER_THREAD):
                            acc[u, v] += a_reg[u] * b_reg[v]
                cuda.syncthreads()
            for u in range(PER_THREAD):
                gm = row0 + ty + u * THREADS_SIDE
                for v in range(PER_THREAD):
                    gn = col0 + tx + v * THREADS_SIDE
                    if gm < M and gn < N:
                        value = acc[u, v]
                        if lower and gn > gm:
                            value = zero
                        if accumulate:
                            C[bb, gm, gn] += value
                        else:
                            C[bb, gm, gn] = value

    return gemm_kernel


def gemm_on_device(
    A, B, C, trans_a: bool = False, trans_b: bool = False, accumulate: bool = False, lower: bool = False
) -> None:
    """Launch C[b] (=|+=) op(A[b]) @ op(B[b]) on 3-D device arrays of one float dtype.

    ``lower`` zeroes the product's entries above the diagonal (column > row) before they
    are written or added. Shapes are the caller's contract (checked by the host wrappers).
    """
    batch, m, n = C.shape
    grid = (blocks(n, TILE_N), blocks(m, TILE_M), min(batch, MAX_GRID_Z))
    kernel = _gemm_kernel(np.dtype(C.dtype))
    kernel[grid, (THREADS_SIDE, THREADS_SIDE)](A, B, C, trans_a, trans_b, accumulate, lower)


@numba.njit(parallel=True, cache=True)
def _gemm_cpu(A, B, out, trans_b):
    """out[b] = A[b] @ B[b] (B (b, K, N)) or A[b] @ B[b]ᵀ (trans_b: B (b, N, K)), C-contiguous."""
    nb, M, _ = A.shape
    tiles = (M + CPU_ROWS - 1) // CPU_ROWS
    if trans_b:
        for task in prange(nb * tiles):
            bb = task // tiles
            r0 = (task % tiles) * CPU_ROWS
            r1 = min(M, r0 + CPU_ROWS)
            np.dot(A[bb, r0:r1], B[bb].T, out[bb, r0:r1])
    else:
        for task in prange(nb * tiles):
            bb = task // tiles
            r0 = (task % tiles) * CPU_ROWS
            r1 = min(M, r0 + CPU_ROWS)
            np.dot(A[bb, r0:r1], B[bb], out[bb, r0:r1])


def gemm_cpu(A: np.ndarray, B: np.ndarray, trans_b: bool = False) -> np.ndarray:
    """A[b] @ B[b] (or @ B[b]ᵀ) for 3-D arrays of one float dtype, on the numba threads (see above)."""
    A = np.ascontiguousarray(A)
    B = np.ascontiguousarray(B)
    nb, M, K = A.shape
    N = B.shape[1] if trans_b else B.shape[2]
    out = np.empty((nb, M, N), dtype=A.dtype)
    if out.size and K:
        launch(_gemm_cpu, nb * M * N * K, A, B, out, bool(trans_b))
    else:
        out[...] = 0
    return out


def batched_gemm(
    A: np.ndarray, B: np.ndarray, trans_a: bool = False, trans_b: bool = False, backend: str = "cpu"
) -> np.ndarray:
    """op(A) @ op(B) for 3-D arrays (b, ·, ·) of one float dtype: BLAS on the CPU, the tiled
    kernel on cuda/cudasim. Returns a new (b, M, N) array in the input dtype."""
    A = np.asarray(A)
    B = np.asarray(B)
    if A.ndim != 3 or B.ndim != 3 or A.shape[0] != B.shape[0]:
        raise ValueError(
            f"batched_gemm needs two 3-D arrays with one batch size, got {A.shape} and {B.shape}"
        )
    if A.dtype != B.dtype or A.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"batched_gemm needs float32 or float64 arrays of one dtype, got {A.dtype}, {B.dtype}"
        )
    opa = A.transpose(0, 2, 1) if trans_a else A
    opb = B.transpose(0, 2, 1) if trans_b else B
    if opa.shape[2] != opb.shape[1]:
        raise ValueError(f"batched_gemm: inner sizes differ ({opa.shape[2]} vs {opb.shape[1]})")
    if backend == "cpu":
        return gemm_cpu(opa, B, trans_b) if trans_b else gemm_cpu(opa, opb)
    C = cuda.device_array((A.shape[0], opa.shape[1], opb.shape[2]), dtype=A.dtype)
    gemm_on_device(
        to_device(np.ascontiguousarray(A)), to_device(np.ascontiguousarray(B)), C, trans_a, trans_b
    )
    return to_host(C)
