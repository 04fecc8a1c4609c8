"""Arrays on the CUDA device: every host ↔ device copy of the kernels goes through here.

The CUDA kernels accept host (numpy) or device arrays and can leave their results on the
device, so that a plan's steps pass device arrays to each other and only the inputs go in
and the output comes out. :data:`TRANSFERS` counts the copies (``"to_device"``,
``"to_host"``), which is how the tests check that, under the simulator too.

Between steps the compute layer needs a few element-wise operations on device arrays:
:func:`combine` (a sum of log-factors, a product of value messages, with a batch axis of
size 1 broadcast), :func:`reverse_rows` (a reversed token axis, for the nested mask's
keys-above-the-query pass), :func:`broadcast_batch` and :func:`full`. Each runs on the host for numpy arrays
and as a one-thread-per-element CUDA kernel for device arrays.

Example::

    >>> import numpy as np
    >>> combine(np.ones((1, 3)), np.full((2, 3), 2.0), "mul")
    array([[2., 2., 2.],
           [2., 2., 2.]])
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
from numba import cuda

THREADS = 128

#: host → device ("to_device") and device → host ("to_host") copies made by the kernels
TRANSFERS: Counter = Counter()


def is_device(x) -> bool:
    """Whether x lives on the device (a numba device array, real or simulated)."""
    return hasattr(x, "copy_to_host")


def to_device(x):
    """x itself when it is on the device, else a (counted) copy of it there."""
    if is_device(x):
        return x
    TRANSFERS["to_device"] += 1
    return cuda.to_device(np.ascontiguousarray(x))


def to_host(x) -> np.ndarray:
    """x itself when it is a numpy array, else a (counted) copy of it on the host."""
    if not is_device(x):
        return np.asarray(x)
    TRANSFERS["to_host"] += 1
    return x.copy_to_host()


def _blocks(count: int) -> int:
    return max(1, (count + THREADS - 1) // THREADS)


@functools.cache
def _combine_kernel(op: str):
    @cuda.jit
    def combine_kernel(a, b, out):
        """out[i, e] = a[i or 0, e] (+ or ×) b[i or 0, e]: a batch axis of size 1 is broadcast."""
        task = cuda.grid(1)
        rest = out.shape[1]
        if task >= out.shape[0] * rest:
            return
        i = task // rest
        e = task % rest
        x = a[i if a.shape[0] > 1 else 0, e]
        y = b[i if b.shape[0] > 1 else 0, e]
        out[i, e] = x + y if op == "add" else x * y

    return combine_kernel


@cuda.jit
def _reverse_kernel(x, out):
    task = cuda.grid(1)
    n = x.shape[1]
    rest = x.shape[2]
    if task >= x.shape[0] * n * rest:
        return
    i = task // (n * rest)
    j = (task // rest) % n
    e = task % rest
    out[i, n - 1 - j, e] = x[i, j, e]


def combine(a, b, op: str):
    """a + b (``"add"``) or a · b (``"mul"``) of two arrays of one shape apart from a leading
    batch axis of size 1; on the device when either is there."""
    if op not in ("add", "mul"):
        raise ValueError(f"combine: op must be 'add' or 'mul', got {op!r}")
    if not (is_device(a) or is_device(b)):
        with np.errstate(over="ignore"):
            return a + b if op == "add" else a * b
    a, b = to_device(a), to_device(b)
    shape = (max(a.shape[0], b.shape[0]),) + tuple(a.shape[1:])
    rest = int(np.prod(shape[1:]))
    out = cuda.device_array(shape, dtype=a.dtype)
    flat = out.reshape(shape[0], rest)
    _combine_kernel(op)[_blocks(flat.size), THREADS](
        a.reshape(a.shape[0], rest), b.reshape(b.shape[0], rest), flat
    )
    return out


def reverse_rows(x):
    """x[:, ::-1] (the token axis reversed), as a contiguous array where x is."""
    if not is_device(x):
        return np.ascontiguousarray(x[:, ::-1])
    shape = tuple(x.shape)
    flat = x.reshape(shape[0], shape[1], int(np.prod(shape[2:])))
    out = cuda.device_array(flat.shape, dtype=x.dtype)
    _reverse_kernel[_blocks(flat.size), THREADS](flat, out)
    return out.reshape(shape)


def broadcast_batch(x, batch: int):
    """x with its leading batch axis of size 1 (or ``batch``) made ``batch`` long, contiguous."""
    if x.shape[0] == batch:
        return x
    if not is_device(x):
        return np.ascontiguousarray(np.broadcast_to(x, (batch,) + tuple(x.shape[1:])))
    return combine(x, full((batch,) + tuple(x.shape[1:]), 0, x.dtype, on_device=True), "add")


def full(shape, value, dtype, on_device: bool):
    """An array of ``shape`` filled with ``value``: made on the device (no copy) or on the host."""
    if not on_device:
        return np.full(shape, value, dtype=dtype)
    out = cuda.device_array(shape, dtype=dtype)
    flat = out.reshape(int(np.prod(shape)))
    _fill_kernel[_blocks(flat.size), THREADS](flat, np.dtype(dtype).type(value))
    return out


@cuda.jit
def _fill_kernel(out, value):
    task = cuda.grid(1)
    if task < out.shape[0]:
        out[task] = value
