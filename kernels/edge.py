"""Flash passes: the edge pass, its per-channel (depthwise) form and the hyperedge pass.

A tree edge of a poly-attention polynomial is eliminated by one *edge pass* (message
passing, Chakrabarti–Pitassi–Alman 2026): with A the parent's query-side features,
K the child's key-side features, bias the child's log-normaliser and W the child's
value message,

    s[i, j] = A[i]·K[j] + bias[j]          (only j ≤ i when causal)
    logz[i] = log Σ_j exp s[i, j]
    out[i, :] = Σ_j exp(s[i, j] − logz[i]) · W[j, :]

computed as flash attention (Dao et al. 2022): tiled, with an online softmax, never
materialising the nq × nk score matrix. The *hyperedge pass* eliminates a variable
shared by a monomial of support s ≥ 3: its rows are the tuples (i_1, …, i_{s−1}) of
the other variables, row = Π_r As[r][i_r] (Hadamard product, formed tile by tile), so
s[i_1, …, i_{s−1}, j] = Σ_D Π_r As[r][i_r, D]·K[j, D] + bias[j] and the n^s scores are
never stored. The per-channel pass runs one independent pass per channel c (C of them)
with M features per side and one value per key.

All three run one kernel (polyth_kernels.edge_cpu on the CPU, polyth_kernels.edge_cuda on cuda
and cudasim). Inputs: float32 or float64 (the output keeps A's dtype), with or without the
leading batch axis. bias may hold −inf (a masked key); a row whose keys are all masked
is an error, and so are NaN/inf inputs or a non-finite result. The edge pass also takes
device arrays (polyth_kernels.device) and then returns device arrays, so that a plan's tree
steps hand their messages to each other on the GPU.
"""

from __future__ import annotations

import numpy as np

from polyth_kernels.backend import resolve_backend
from polyth_kernels.device import full, is_device
from polyth_kernels.edge_cpu import flash_cpu
from polyth_kernels.edge_cuda import flash_cuda
from polyth_kernels.finite import all_finite
from polyth_kernels.threads import launch


def _float_dtype(array: np.ndarray, name: str) -> np.dtype:
    if array.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {array.dtype}; cast it with .astype")
    return array.dtype


def _as(array, dtype, name: str) -> np.ndarray:
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a real array, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def _require_finite(array: np.ndarray, name: str) -> None:
    if not all_finite(array):
        raise ValueError(f"{name} contains NaN or inf; pass finite values")


def _require_bias(bias: np.ndarray) -> None:
    if np.isnan(bias).any() or np.isposinf(bias).any():
        raise ValueError("bias contains NaN or +inf; use finite values, or -inf to mask a key")


def _require_no_overflow(factor_list, K, bias, what: str) -> None:
    """Reject inputs whose scores could leave the float range: |s| ≤ D·Π_r max|F_r|·max|K|
    + max|bias| (bound taken in logs). The CPU kernels run without NaN checks (fastmath),
    so a score that could overflow to inf − inf is stopped here."""
    D = K.shape[-1]
    peaks = [float(np.abs(a).max(initial=0.0)) for a in (*factor_list, K)]
    finite_bias = bias[np.isfinite(bias)]
    bias_peak = float(np.abs(finite_bias).max(initial=0.0))
    log_limit = np.log(np.finfo(K.dtype).max / 4)
    log_dot = -np.inf if min(peaks) == 0.0 else np.log(D) + float(np.sum(np.log(peaks)))
    log_bound = np.logaddexp(log_dot, np.log(bias_peak) if bias_peak > 0 else -np.inf)
    if log_bound > log_limit:
        raise FloatingPointError(
            f"{what}: the scores can reach about 10^{log_bound / np.log(10):.0f}, which overflows "
            f"{K.dtype}; rescale the features or use float64"
        )


def _run(factors, sizes, K, W, bias, causal, backend):
    backend = resolve_backend(backend)
    if backend == "cpu":
        nb, nk, D = K.shape
        work = nb * int(np.prod(sizes)) * nk * (D + W.shape[2] + 1)
        return launch(flash_cpu, work, factors, sizes, K, W, bias, causal)
    return flash_cuda(factors, sizes, K, W, bias, causal)


def _check_result(logz: np.ndarray, out: np.ndarray, what: str) -> None:
    if np.isneginf(logz).any():
        raise ValueError(f"{what}: some query row has every key masked (bias -inf on all its keys)")
    if not (all_finite(logz) and all_finite(out)):
        raise FloatingPointError(
            f"{what}: the result overflowed the {logz.dtype} range (NaN or inf); "
            "rescale the features or use float64"
        )


def _flash_on_device(factor_list, K, W, bias, causal, backend, what):
    """The pass on arrays already on the device (a plan's intermediates, which the compute
    layer built and checked): shapes are checked here, values by the caller's final output
    check (the CUDA kernels run without fastmath, so a NaN or inf propagates to it).
    Returns device arrays."""
    if resolve_backend(backend) == "cpu" or len(factor_list) != 1:
        raise ValueError(f"{what}: device arrays need backend 'cuda' or 'cudasim' and one query-side array")
    (A,) = factor_list
    nb, nk, D = K.shape
    if len(A.shape) != 3 or A.shape[0] != nb or A.shape[2] != D or tuple(W.shape[:2]) != (nb, nk):
        raise ValueError(f"{what}: shapes disagree: A {A.shape}, K {K.shape}, W {W.shape}")
    if bias is None:
        bias = full((nb, nk), 0, K.dtype, on_device=True)
    if tuple(bias.shape) != (nb, nk) or nk == 0:
        raise ValueError(f"{what}: bias must be (b={nb}, nk={nk}) with nk ≥ 1, got {bias.shape}")
    sizes = np.array([A.shape[1]], dtype=np.int64)
    return flash_cuda(A, sizes, K, W, bias, causal, device_out=True)


def _flash(factor_list, K, W, bias, causal, backend, what):
    """Validate batched (b, ·, ·) inputs, pack the row factors, run, check."""
    if any(is_device(x) for x in (*factor_list, K, W, bias)):
        return _flash_on_device(factor_list, K, W, bias, causal, backend, what)
    dtype = _float_dtype(factor_list[0], f"{what}: the first query-side array")
    factor_list = [_as(f, dtype, f"{what}: query-side features") for f in factor_list]
    K = _as(K, dtype, f"{what}: K")
    W = _as(W, dtype, f"{what}: W")
    if K.ndim != 3 or W.ndim != 3:
        raise ValueError(f"{what}: K must be (b, nk, D) and W (b, nk, C), got {K.shape} and {W.shape}")
    nb, nk, D = K.shape
    for f in factor_list:
        if f.ndim != 3 or f.shape[0] != nb or f.shape[2] != D:
            raise ValueError(f"{what}: query-side features must be (b={nb}, n, D={D}), got {f.shape}")
    if W.shape[:2] != (nb, nk):
        raise ValueError(f"{what}: W must be (b={nb}, nk={nk}, C), got {W.shape}")
    if bias is None:
        bias = np.zeros((nb, nk), dtype=dtype)
    bias = _as(bias, dtype, f"{what}: bias")
    if bias.shape != (nb, nk):
        raise ValueError(f"{what}: bias must be (b={nb}, nk={nk}), got {bias.shape}")
    if nk == 0:
        raise ValueError(f"{what}: there are no keys (nk = 0): every row would be empty")
    for f in factor_list:
        _require_finite(f, f"{what}: query-side features")
    _require_finite(K, f"{what}: K")
    _require_finite(W, f"{what}: W")
    _require_bias(bias)
    _require_no_overflow(factor_list, K, bias, what)
    sizes = np.array([f.shape[1] for f in factor_list], dtype=np.int64)
    n_rows = int(np.prod(sizes))
    if nb == 0 or n_rows == 0:
        return np.empty((nb, n_rows), dtype), np.empty((nb, n_rows, W.shape[2]), dtype)
    factors = factor_list[0] if len(factor_list) == 1 else np.concatenate(factor_list, axis=1)
    logz, out = _run(factors, sizes, K, W, bias, causal, backend)
    _check_result(logz, out, what)
    return logz, out


def _has_batch_axis(usage: str, *pairs) -> bool:
    """Whether the inputs carry the leading batch axis: each (array, ndim with the axis)
    pair must agree (None arrays are skipped); usage names the expected shapes."""
    offsets = {_ndim(a) - ndim for a, ndim in pairs if a is not None}
    if offsets == {0}:
        return True
    if offsets == {-1}:
        return False
    shapes = ", ".join(str(_shape(a)) for a, _ in pairs if a is not None)
    raise ValueError(f"{usage}, all with the leading batch axis b or all without it; got shapes {shapes}")


def _shape(a) -> tuple:
    """The shape of a device array, or of anything numpy reads as an array (no copy to the host)."""
    return tuple(a.shape) if is_device(a) else np.shape(a)


def _ndim(a) -> int:
    return len(_shape(a))


def _add_batch_axis(*arrays):
    def add(a):
        if a is None:
            return None
        return a.reshape((1,) + tuple(a.shape)) if is_device(a) else np.asarray(a)[None]

    return tuple(add(a) for a in arrays)


def edge_pass(A, K, W, bias=None, causal=False, backend="cpu"):
    """One flash pass: A (b, nq, D), K (b, nk, D), W (b, nk, C), bias (b, nk) or None.

    Returns logz (b, nq) = log Σ_j exp(A[i]·K[j] + bias[j]) and out (b, nq, C), the
    softmax-weighted sum of W's rows; causal=True keeps only keys j ≤ i (needs nq = nk).
    The batch axis may be left out of every array (then it is left out of the result).
    """
    batched = _has_batch_axis(
        "edge_pass needs A (b, nq, D), K (b, nk, D), W (b, nk, C), bias (b, nk)",
        (A, 3),
        (K, 3),
        (W, 3),
        (bias, 2),
    )
    if not batched:
        A, K, W, bias = _add_batch_axis(A, K, W, bias)
    if not is_device(A):
        A = np.asarray(A)
    nq, nk = _shape(A)[1:2], _shape(K)[1:2]
    if causal and _ndim(A) == 3 and _ndim(K) == 3 and nq != nk:
        raise ValueError(f"causal=True needs as many queries as keys, got nq={nq[0]}, nk={nk[0]}")
    logz, out = _flash([A], K, W, bias, bool(causal), backend, "edge_pass")
    return (logz, out) if batched else (logz[0], out[0])


def edge_pass_channels(A, K, W, bias=None, causal=False, backend="cpu"):
    """Per-channel (depthwise) flash pass: A (b, nq, C, M), K (b, nk, C, M), W (b, nk, C),
    bias (b, nk, C) or None. For each channel c: s_c[i, j] = Σ_m A[i, c, m]·K[j, c, m] + bias[j, c],
    logz[i, c] = log Σ_j exp s_c[i, j], out[i, c] = Σ_j softmax_j(s_c[i, ·])·W[j, c].
    Returns logz (b, nq, C), out (b, nq, C); the batch axis may be left out everywhere.
    """
    batched = _has_batch_axis(
        "edge_pass_channels needs A (b, nq, C, M), K (b, nk, C, M), W (b, nk, C), bias (b, nk, C)",
        (A, 4),
        (K, 4),
        (W, 3),
        (bias, 3),
    )
    if not batched:
        A, K, W, bias = _add_batch_axis(A, K, W, bias)
    A, K, W = np.asarray(A), np.asarray(K), np.asarray(W)
    if A.ndim != 4 or K.ndim != 4 or W.ndim != 3:
        raise ValueError(
            f"edge_pass_channels needs A (b, nq, C, M), K (b, nk, C, M), W (b, nk, C); "
            f"got {A.shape}, {K.shape}, {W.shape}"
        )
    nb, nq, C, M = A.shape
    nk = K.shape[1]
    if K.shape != (nb, nk, C, M) or W.shape != (nb, nk, C):
        raise ValueError(
            f"edge_pass_channels: K must be (b, nk, C={C}, M={M}) and W (b, nk, C), got {K.shape}, {W.shape}"
        )
    if causal and nq != nk:
        raise ValueError(f"causal=True needs as many queries as keys, got nq={nq}, nk={nk}")
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (nb, nk, C):
            raise ValueError(f"edge_pass_channels: bias must be (b, nk, C) = {(nb, nk, C)}, got {bias.shape}")
        bias = bias.transpose(0, 2, 1).reshape(nb * C, nk)
    # channel c of batch entry b becomes batch entry b·C + c of a plain pass with one value
    logz, out = _flash(
        [A.transpose(0, 2, 1, 3).reshape(nb * C, nq, M)],
        K.transpose(0, 2, 1, 3).reshape(nb * C, nk, M),
        W.transpose(0, 2, 1).reshape(nb * C, nk, 1),
        bias,
        bool(causal),
        backend,
        "edge_pass_channels",
    )
    logz = logz.reshape(nb, C, nq).transpose(0, 2, 1).copy()
    out = out.reshape(nb, C, nq).transpose(0, 2, 1).copy()
    return (logz, out) if batched else (logz[0], out[0])


def hyperedge_pass(As, K, W, bias=None, backend="cpu"):
    """Eliminate the variable of K from a hyperedge factor: As, a list of s − 1 ≥ 2 arrays
    (b, n_r, D); K (b, nk, D); W (b, nk, C); bias (b, nk) or None.

    s[i_1, …, i_{s−1}, j] = Σ_D Π_r As[r][i_r, D]·K[j, D] + bias[j]; returns
    logz (b, n_1, …, n_{s−1}) and out (b, n_1, …, n_{s−1}, C). The batch axis may be
    left out of every array.
    """
    if isinstance(As, np.ndarray) or len(As) < 2:
        raise ValueError(
            "hyperedge_pass needs As as a list of at least 2 arrays (b, n_r, D); use edge_pass for one"
        )
    batched = _has_batch_axis(
        "hyperedge_pass needs As[r] (b, n_r, D), K (b, nk, D), W (b, nk, C), bias (b, nk)",
        *((a, 3) for a in As),
        (K, 3),
        (W, 3),
        (bias, 2),
    )
    if not batched:
        As = _add_batch_axis(*As)
        K, W, bias = _add_batch_axis(K, W, bias)
    As = [np.asarray(a) for a in As]
    logz, out = _flash(As, K, W, bias, False, backend, "hyperedge_pass")
    grid = tuple(a.shape[1] for a in As)
    logz = logz.reshape((logz.shape[0],) + grid)
    out = out.reshape((out.shape[0],) + grid + (out.shape[-1],))
    return (logz, out) if batched else (logz[0], out[0])
