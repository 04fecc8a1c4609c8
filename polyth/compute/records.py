"""What ran: one record per executed step, and the timed result of an attention call.

The step records are how a run is held against its prediction: the kind and variable of each
plan step, the kernel that ran it, its wall time, and for the approximate method the Taylor
degree and rank each table actually ran with (``extra["tables"]``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from polyth.errors import NumericalError


@dataclass
class StepRecord:
    """What ran for one step: the variable eliminated (−1: none), the plan step's kind, the
    kernel, the wall time and the output's scope; ``extra`` holds step-specific figures."""

    variable: int
    kind: str
    kernel: str
    seconds: float
    output_scope: tuple[int, ...]
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Timed:
    """The output with the wall time of every step (``return_timings=True``)."""

    output: np.ndarray
    steps: tuple[StepRecord, ...]
    seconds: float
    backend: str
    method: str

    @property
    def tables(self) -> list[dict]:
        """The approximated tables as they ran (support, degree, rank); empty for exact methods."""
        return [table for step in self.steps for table in step.extra.get("tables", ())]


def timed_kernel(kernel, name: str, *args, **kwargs) -> tuple[np.ndarray, list[StepRecord]]:
    """Run one kernel that is a whole method, timed; a kernel's ValueError about its numbers
    (a denominator ≤ 0, a non-finite result) becomes a NumericalError."""
    start = time.perf_counter()
    try:
        out = kernel(*args, **kwargs)
    except ValueError as exc:
        raise NumericalError(str(exc)) from None
    return out, [StepRecord(-1, name, kernel.__name__, time.perf_counter() - start, (0,))]
