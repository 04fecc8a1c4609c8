"""Explicit one-layer constructions: weights with which a mechanism solves a task.

A :class:`Construction` fixes a mechanism (its scale stated explicitly), the task, the
number of heads, and how each head's ``Q(a)`` is a fixed linear map of the token
features one-hot(symbol) ⊕ one-hot(index) ⊕ one-hot(kind) ⊕ 1, with every entry
bounded by the entry bound B in absolute value; the readout after attention is a
fixed argmax or threshold. Each head is one ``polyth.attention(m, Q, V,
method="exact")`` call. The registry :data:`CONSTRUCTIONS` maps a (canonical
mechanism spec, task) pair to a factory; :func:`find` looks a pair up by the
mechanism's canonical form, so ``"x1*x2 + x2*x3"`` finds ``path:3``.

The constructions themselves live in :mod:`polyth.tasks.construct_compose` (path
and Strassen attention for function composition) and
:mod:`polyth.tasks.construct_match` (Match3 / Match2); each exposes ``REGISTRY``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from polyth import zoo
from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.tasks.generators import TaskBatch, generate

#: the largest chunk of instances handed to one ``polyth.attention`` call by :func:`accuracy`
CHUNK = 256


@dataclass(frozen=True)
class Construction:
    """Weights with which ``mechanism`` solves ``task`` (see the module docstring).

    ``bound(n, domain)`` gives the default entry bound B (the formula ``entry_bound``);
    ``forward(batch, B, backend)`` builds Q and V from the batch's tokens, runs the
    heads and returns the predictions, shaped like ``batch.targets``.
    """

    mechanism: Mechanism
    task: str
    heads: int
    embedding_dim: str
    entry_bound: str
    source: str
    bound: Callable[[int, int], float] = field(repr=False, compare=False)
    forward: Callable[[TaskBatch, float, str], np.ndarray] = field(repr=False, compare=False)

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
        return self.forward(batch, float(B), backend)


def _registry() -> dict[tuple[str, str], Callable[[], Construction]]:
    from polyth.tasks import construct_compose, construct_match

    return {**construct_compose.REGISTRY, **construct_match.REGISTRY}


CONSTRUCTIONS: dict[tuple[str, str], Callable[[], Construction]] = _registry()


def _structure(m: Mechanism) -> Mechanism:
    """The polynomial and its options without the scale and the value variables: a
    construction chooses both as part of its weights."""
    return m.replace(scale=None, name=None, values=None)


def find(mechanism_spec: str, task: str) -> Construction | None:
    """The registered construction for (mechanism, task), or None.

    ``mechanism_spec`` is a zoo spec or a polynomial (:func:`polyth.zoo.from_spec`);
    it matches a registered mechanism with the same canonical form (renaming the
    non-query variables does not matter, nor do the scale and the value variables, which
    the construction chooses).
    """
    task = str(task).strip()
    factory = CONSTRUCTIONS.get((str(mechanism_spec).strip(), task))
    if factory is not None:
        return factory()
    wanted = _structure(zoo.from_spec(mechanism_spec))
    for (_, registered_task), factory in CONSTRUCTIONS.items():
        if registered_task != task:
            continue
        construction = factory()
        if _structure(construction.mechanism) == wanted:
            return construction
    return None


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
