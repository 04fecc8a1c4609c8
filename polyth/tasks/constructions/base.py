"""A construction: fixed one-layer weights with which a mechanism solves a task, and its accuracy.

A :class:`Construction` fixes a mechanism (its scale stated explicitly), the task, the
number of heads, and how each head's ``Q(a)`` is a fixed linear map of the token
features one-hot(symbol) ⊕ one-hot(index) ⊕ one-hot(kind) ⊕ 1, with every entry
bounded by the entry bound B in absolute value; the readout after attention is a
fixed argmax or threshold. Each head is one call of an :data:`Attend` function, by default
``polyth.attention(m, Q, V, method="exact")`` (:func:`exact`); a construction lifted to a
mechanism that simulates this one (:mod:`.simulation`) passes its own. :func:`accuracy`
counts the random instances solved entirely.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyth.compute import attention
from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.tasks.generators import TaskBatch, generate

#: the largest chunk of instances handed to one ``polyth.attention`` call by :func:`accuracy`
CHUNK = 256

#: one head: ``attend(mechanism, Q, V)`` returns the attention output of ``mechanism`` on Q, V
Attend = Callable[[Mechanism, Sequence[np.ndarray], Mapping[int, np.ndarray]], np.ndarray]


def exact(backend: str = "cpu") -> Attend:
    """The heads of a construction as they run by default: ``polyth.attention``, exact method."""
    return functools.partial(attention, method="exact", backend=backend)


@dataclass(frozen=True)
class Construction:
    """Weights with which ``mechanism`` solves ``task`` (see the module docstring).

    ``bound(n, domain)`` gives the default entry bound B (the formula ``entry_bound``);
    ``forward(batch, B, attend)`` builds Q and V from the batch's tokens, runs each head
    through ``attend`` (:data:`Attend`) and returns the predictions, shaped like
    ``batch.targets``.
    """

    mechanism: Mechanism
    task: str
    heads: int
    embedding_dim: str
    entry_bound: str
    source: str
    bound: Callable[[int, int], float] = field(repr=False, compare=False)
    forward: Callable[[TaskBatch, float, Attend], np.ndarray] = field(repr=False, compare=False)

    def default_B(self, n: int, domain: int) -> float:
        """The entry bound ``entry_bound`` at sequence length n and domain size m (or M)."""
        return float(self.bound(n, domain))

    def run(self, batch: TaskBatch, B: float | None = None, backend: str = "cpu") -> np.ndarray:
        """Predictions for every instance of ``batch`` (shaped like ``batch.targets``)."""
        if batch.task != self.task:
            raise InputError(f"this construction solves {self.task!r}, not {batch.task!r}")
        if B is None:
            B = self.default_B(batch.n, batch.domain)
        if isinstance(B, bool) or not isinstance(B, numbers.Real) or not math.isfinite(B) or B <= 0:
            raise InputError(f"the entry bound B must be a positive finite number, got {B!r}")
        return self.forward(batch, float(B), exact(backend))


def instance_batches(task: str, n: int, instances: int, seed=0) -> list[TaskBatch]:
    """The random instances :func:`accuracy` runs: ``instances`` of size ``n`` drawn by
    :func:`polyth.tasks.generate` from ``seed``, in batches of at most :data:`CHUNK`."""
    if isinstance(instances, bool) or not isinstance(instances, (int, np.integer)) or instances < 1:
        raise InputError(f"instances must be a positive integer, got {instances!r}")
    rng = np.random.default_rng(seed)
    total = int(instances)
    return [generate(task, n, min(CHUNK, total - start), rng) for start in range(0, total, CHUNK)]


def solved(construction: Construction, batch: TaskBatch, B: float | None = None, backend="cpu") -> np.ndarray:
    """(b,) bool: the instances of ``batch`` answered entirely right (compose: the one
    answer; match tasks: all n bits)."""
    right = construction.run(batch, B=B, backend=backend) == batch.targets
    return right.reshape(batch.batch, -1).all(axis=1)


def accuracy(
    construction: Construction,
    n: int,
    instances: int,
    B: float | None = None,
    seed=0,
    backend: str = "cpu",
) -> float:
    """The fraction of ``instances`` random instances of size ``n`` solved entirely
    (:func:`solved` over :func:`instance_batches`)."""
    batches = instance_batches(construction.task, n, instances, seed)
    return sum(int(solved(construction, batch, B, backend).sum()) for batch in batches) / int(instances)
