"""Explicit one-layer constructions (:mod:`.base`), the registered ones (:mod:`.compose`,
:mod:`.match`), their lift to every mechanism that simulates one (:mod:`.simulation`) and the
lookup (:mod:`.registry`)."""

from polyth.tasks.constructions.base import Construction, accuracy, instance_batches, solved
from polyth.tasks.constructions.registry import CONSTRUCTIONS, find, simulations
from polyth.tasks.constructions.simulation import SimulatedConstruction

__all__ = [
    "CONSTRUCTIONS",
    "Construction",
    "SimulatedConstruction",
    "accuracy",
    "find",
    "instance_batches",
    "simulations",
    "solved",
]
