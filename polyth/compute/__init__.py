"""The compute layer: runs what the theory's plan says, with the kernels.

:func:`attention` (the one front door, :mod:`.front`) validates the inputs (:mod:`.inputs`),
picks the backend, dispatches to the executor registered for the method and the similarity,
times it and checks the output is finite.
"""

from polyth.compute.front import attention

__all__ = ["attention"]
