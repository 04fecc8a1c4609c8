"""What every torch module of polyth checks before it computes: its options and its input.

A bad option or input is a :class:`polyth.InputError` naming it, never a torch traceback;
a call whose predicted memory or time is over budget is a :class:`polyth.BudgetError`
(:mod:`polyth.limits`), and an allocation torch's allocator refuses anyway becomes one too.

Example::

    >>> import torch
    >>> check_layer_input(torch.zeros(2, 5, 8), 8, torch.zeros(8, 8))
    >>> positive_int("heads", 2)
    2
"""

from __future__ import annotations

import contextlib
import math

import torch

from polyth import limits
from polyth.errors import BudgetError, InputError


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def heads_and_width(dim, heads, head_dim=None) -> int:
    """The width of one head: ``head_dim``, or dim / heads when it divides."""
    positive_int("dim", dim)
    positive_int("heads", heads)
    if head_dim is None:
        if dim % heads:
            raise InputError(f"dim = {dim} is not a multiple of heads = {heads}; pass head_dim")
        return dim // heads
    return positive_int("head_dim", head_dim)


def flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return value


def positive_float(name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value > 0 and math.isfinite(value))
    ):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_layer_input(x, dim: int, weight: torch.Tensor) -> None:
    """An InputError (not a torch traceback) unless x is a floating tensor (…, n, dim) with n ≥ 1,
    of the dtype (unless autocast converts it) and on the device of the layer's ``weight``."""
    is_tensor = isinstance(x, torch.Tensor)
    if not is_tensor or not x.is_floating_point() or x.ndim < 2 or x.shape[-1] != dim or x.shape[-2] < 1:
        what = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if is_tensor else type(x).__name__
        raise InputError(
            f"the attention layer takes a floating-point tensor (…, n, {dim}) with n ≥ 1, got {what}"
        )
    if x.device != weight.device or (x.dtype != weight.dtype and not torch.is_autocast_enabled()):
        raise InputError(
            f"the layer's weights are {weight.dtype} on {weight.device}, the input {x.dtype} on {x.device}: "
            "convert one (x.to(...) or layer.to(...))"
        )


@contextlib.contextmanager
def allocator_refusals():
    """Turn torch's out-of-memory errors (CPU allocator or CUDA) into a :class:`BudgetError`."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise BudgetError(f"torch ran out of memory: {exc}; use a smaller n or batch") from None
    except RuntimeError as exc:
        if "allocate" not in str(exc) and "out of memory" not in str(exc):
            raise
        raise BudgetError(
            f"torch's allocator refused: {' '.join(str(exc).split())[:200]}; use a smaller n or batch"
        ) from None


def check_budget(
    what: str, entries: int, madds: int, exps: int, itemsize: int, max_memory, max_seconds
) -> None:
    """Refuse (:class:`BudgetError`) a torch computation over budget, before it allocates."""
    ways = (("a smaller n or batch", "a smaller --n"),)
    limits.check(limits.Price(what, entries * itemsize, madds, exps, lambda: ways), max_memory, max_seconds)
