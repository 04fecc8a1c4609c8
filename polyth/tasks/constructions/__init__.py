"""Explicit one-layer constructions (:mod:`.base`), the registered ones (:mod:`.compose`,
:mod:`.match`) and their lookup by canonical form (:mod:`.registry`)."""

from polyth.tasks.constructions.base import Construction, accuracy, instance_batches, solved
from polyth.tasks.constructions.registry import CONSTRUCTIONS, find

__all__ = ["CONSTRUCTIONS", "Construction", "accuracy", "find", "instance_batches", "solved"]
