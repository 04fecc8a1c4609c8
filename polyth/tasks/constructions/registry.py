"""The registry of explicit constructions, looked up by the mechanism's canonical form.

:data:`CONSTRUCTIONS` maps a (canonical mechanism spec, task) pair to a factory of a
:class:`~polyth.tasks.constructions.base.Construction`; :func:`find` looks a pair up by the
mechanism's canonical form, so ``"x1*x2 + x2*x3"`` finds ``path:3``. The constructions
themselves live in :mod:`polyth.tasks.constructions.compose` (path and Strassen attention
for function composition) and :mod:`polyth.tasks.constructions.match` (Match3 / Match2);
each exposes ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable

from polyth.mechanism import Mechanism, zoo
from polyth.tasks.constructions import compose, match
from polyth.tasks.constructions.base import Construction


def _registry() -> dict[tuple[str, str], Callable[[], Construction]]:
    return {**compose.REGISTRY, **match.REGISTRY}


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
