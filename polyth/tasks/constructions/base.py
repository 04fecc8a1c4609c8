"""A construction: fixed one-layer weights with which a mechanism solves a task, and its accuracy.

A :class:`Construction` fixes a mechanism (its scale stated explicitly), the task, the
number of heads, and how each head's ``Q(a)`` is a fixed linear map of the token
features one-hot(symbol) ⊕ one-hot(index) ⊕ one-hot(kind) ⊕ 1, with every entry
bounded by the entry bound B in absolute value; the readout after attention is a
fixed argmax or threshold. Each head is one call of an :data:`Attend` function, by default
``polyth.attention(m, Q, V, method="exact")`` (:func:`exact`); a construction lifted to a
mechanism that simulates this one (:mod:`.simulation`) passes its own. :func:`accuracy`
counts the random instances solved entirely.

A run is priced before any instance is drawn (:func:`check_run`): the generator's arrays
(:func:`polyth.tasks.generators.generation_entries`), what the construction's forward pass
holds besides its attention calls (its :class:`Footprint`: features, tables) and each call's
exact plan (:func:`polyth.compute.budget.exact_price`), against the free memory or the
limits (:mod:`polyth.limits`); over them it is a :class:`polyth.BudgetError`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyth import limits
from polyth.compute import attention
from polyth.compute.budget import exact_price
from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.tasks.generators import TaskBatch, domain_of, generate, generation_entries

#: the largest chunk of instances handed to one ``polyth.attention`` call by :func:`accuracy`
CHUNK = 256

#: one head: ``attend(mechanism, Q, V)`` returns the attention output of ``mechanism`` on Q, V
Attend = Callable[[Mechanism, Sequence[np.ndarray], Mapping[int, np.ndarray]], np.ndarray]


def exact(backend: str = "cpu") -> Attend:
    """The heads of a construction as they run by default: ``polyth.attention``, exact method."""
    return functools.partial(attention, method="exact", backend=backend)


@dataclass(frozen=True)
class Footprint:
    """What a construction's forward pass over one batch holds and runs, known before the batch
    is drawn: ``entries`` float64 entries held besides its attention calls' inputs (features,
    tables, their temporaries); ``calls`` the ``polyth.attention`` calls as (count, b, d, dv),
    run one after another; ``exps`` other transcendental work (a frequency search)."""

    entries: int
    calls: tuple[tuple[int, int, int, int], ...]
    exps: int = 0


@dataclass(frozen=True)
class Construction:
    """Weights with which ``mechanism`` solves ``task`` (see the module docstring).

    ``bound(n, domain)`` gives the default entry bound B (the formula ``entry_bound``);
    ``forward(batch, B, attend)`` builds Q and V from the batch's tokens, runs each head
    through ``attend`` (:data:`Attend`) and returns the predictions, shaped like
    ``batch.targets``; ``footprint(n, domain, b)`` is its :class:`Footprint` on a batch of b
    instances.
    """

    mechanism: Mechanism
    task: str
    heads: int
    embedding_dim: str
    entry_bound: str
    source: str
    bound: Callable[[int, int], float] = field(repr=False, compare=False)
    forward: Callable[[TaskBatch, float, Attend], np.ndarray] = field(repr=False, compare=False)
    footprint: Callable[[int, int, int], Footprint] = field(repr=False, compare=False)

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


def run_price(construction: Construction, n: int, instances: int) -> limits.Price:
    """The price of :func:`accuracy` over ``instances`` instances of size ``n``: the peak (every
    drawn instance, one batch's generation temporaries, the forward pass's arrays and its largest
    attention call) and the work of every call."""
    instances = _instances(instances)
    domain = domain_of(construction.task, n)
    b = min(CHUNK, instances)
    batches = math.ceil(instances / CHUNK)
    footprint = construction.footprint(n, domain, b)
    m = construction.mechanism
    call_bytes, madds, exps = 0, 0, batches * footprint.exps
    for count, b_call, d, dv in footprint.calls:
        price = exact_price(m, b_call, n, d, dv)
        call_bytes = max(call_bytes, price.bytes)
        madds += batches * count * price.madds
        exps += batches * count * price.exps
    kept = 4 * instances * n  # every batch's symbols, index, kind and targets (instance_batches)
    entries = kept + generation_entries(construction.task, n, b) + footprint.entries
    return limits.Price(
        f"the {construction.task} construction of {m.name or m.polynomial} at n = {n:,}, {instances:,} "
        f"instances in batches of {b} (domain {domain:,})",
        8 * entries + call_bytes,
        madds,
        exps,
        lambda: (("a smaller n", "a smaller --n"), ("fewer instances", "fewer --instances")),
    )


def check_run(construction: Construction, n: int, instances: int, max_memory=None, max_seconds=None) -> None:
    """Refuse (:class:`polyth.BudgetError`) a run of :func:`accuracy` over budget, before any
    instance is drawn (:func:`run_price`; limits as in :func:`polyth.limits.check`)."""
    limits.check(run_price(construction, n, instances), max_memory, max_seconds)


def _instances(instances) -> int:
    if isinstance(instances, bool) or not isinstance(instances, (int, np.integer)) or instances < 1:
        raise InputError(f"instances must be a positive integer, got {instances!r}")
    return int(instances)


def instance_batches(task: str, n: int, instances: int, seed=0) -> list[TaskBatch]:
    """The random instances :func:`accuracy` runs: ``instances`` of size ``n`` drawn by
    :func:`polyth.tasks.generate` from ``seed``, in batches of at most :data:`CHUNK`."""
    total = _instances(instances)
    rng = np.random.default_rng(seed)
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
    max_memory=None,
    max_seconds=None,
) -> float:
    """The fraction of ``instances`` random instances of size ``n`` solved entirely
    (:func:`solved` over :func:`instance_batches`), after :func:`check_run`."""
    check_run(construction, n, instances, max_memory, max_seconds)
    batches = instance_batches(construction.task, n, instances, seed)
    return sum(int(solved(construction, batch, B, backend).sum()) for batch in batches) / int(instances)
