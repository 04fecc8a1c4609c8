"""Polyadic tasks and the ways polyth answers "can this mechanism solve this task?".

* :mod:`polyth.tasks.generators`: seeded batches of r-fold function composition,
  Match3, Match2 and binary relation composition (:class:`TaskBatch`, numpy arrays,
  torch tensors on request).
* :mod:`polyth.tasks.constructions`: explicit one-layer weights run through
  ``polyth.attention`` (:class:`Construction`, :func:`find`, :func:`accuracy`).

* :mod:`polyth.tasks.training` (polyth's protocol), :mod:`polyth.tasks.authors_protocol`
  with :mod:`polyth.tasks.authors_model` (the authors' composition experiment) and
  :mod:`polyth.tasks.sweep` (runs as Dask tasks): learning, with the torch extra; not
  imported here.

torch is imported only by :meth:`TaskBatch.torch`.
"""

from polyth.tasks.constructions import CONSTRUCTIONS, Construction, accuracy, find
from polyth.tasks.generators import (
    TaskBatch,
    composition,
    default_modulus,
    generate,
    match2,
    match3,
    relation_composition,
)

__all__ = [
    "CONSTRUCTIONS",
    "Construction",
    "TaskBatch",
    "accuracy",
    "composition",
    "default_modulus",
    "find",
    "generate",
    "match2",
    "match3",
    "relation_composition",
]
