"""The registry of explicit constructions, and :func:`find`: one for any mechanism that simulates one.

:data:`CONSTRUCTIONS` maps a (mechanism spec, task) pair to a factory of a
:class:`~polyth.tasks.constructions.base.Construction`. The constructions themselves live in
:mod:`polyth.tasks.constructions.compose` (path and Strassen attention for function
composition) and :mod:`polyth.tasks.constructions.match` (Match3 / Match2); each exposes
``REGISTRY``. :func:`find` looks for a registered construction whose mechanism the given one
simulates (:mod:`polyth.theory.reductions`) and lifts it (:mod:`.simulation`); renaming the
non-query variables is one such simulation, so ``"x1*x3 + x3*x2"`` finds ``path:3``.
"""

from __future__ import annotations

from collections.abc import Callable

from polyth.mechanism import Mechanism, zoo
from polyth.tasks.constructions import compose, match
from polyth.tasks.constructions.base import Construction
from polyth.tasks.constructions.simulation import SimulatedConstruction, simulate


def _registry() -> dict[tuple[str, str], Callable[[], Construction]]:
    return {**compose.REGISTRY, **match.REGISTRY}


CONSTRUCTIONS: dict[tuple[str, str], Callable[[], Construction]] = _registry()


def simulations(mechanism: Mechanism | str, task: str) -> list[SimulatedConstruction]:
    """Every registered construction for ``task`` whose mechanism ``mechanism`` simulates, lifted
    to it; the preferred first: fewest blocks E, then fewest moves, then fewest heads."""
    m = zoo.from_spec(mechanism) if isinstance(mechanism, str) else mechanism
    task = str(task).strip()
    found = []
    for order, ((spec, registered_task), factory) in enumerate(CONSTRUCTIONS.items()):
        if registered_task == task:
            lifted = simulate(m, spec, factory())
            if lifted is not None:
                r = lifted.reduction
                found.append(((r.blocks, len(r.moves), lifted.heads, order), lifted))
    return [lifted for _, lifted in sorted(found, key=lambda item: item[0])]


def find(mechanism: Mechanism | str, task: str) -> SimulatedConstruction | None:
    """A construction with which ``mechanism`` solves ``task``: the first of :func:`simulations`,
    or None where ``mechanism`` simulates no mechanism with a registered construction for it.

    ``mechanism`` is a :class:`Mechanism` or a zoo spec or polynomial
    (:func:`polyth.zoo.from_spec`). The result always runs ``mechanism`` itself (with the
    construction's scale and value variables); for a registered mechanism the chain is "as it
    stands" and the lift a copy.
    """
    found = simulations(mechanism, task)
    return found[0] if found else None
