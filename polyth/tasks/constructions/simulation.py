"""Constructions by simulation: a registered construction for M′, run on a mechanism M that simulates M′.

If M simulates M′ (:mod:`polyth.theory.reductions`: M′'s output on inputs (Q′, V′) of width d′
is M's output on the lifted inputs (Q, V) of width E·d′), then a construction for M′ is one for
M (docs/design.md §3, *Reductions*: a positive construction lifts). Each head builds M′'s inputs
from the tokens exactly as the registered construction does, :meth:`Reduction.lift
<polyth.theory.reductions.Reduction.lift>` turns them into M's, and ``polyth.attention`` runs M
itself; the readout sees the same outputs, so the predictions are the registered construction's.

What the lift changes, with the registered construction at entry bound B:

* **M's options**: the construction chooses the scale and the value variables, as it does for
  the mechanism it was written for: M runs with the construction's scale, and its value
  variables are its own plus the query where the construction reads a value at the query
  (the Match constructions). Variables the target does not use get values 1.
* **the dimension**: d = E·d′, one block of d′ channels per target monomial when E > 1.
* **the entry bound**: every entry of the lifted Q is at most
  B_lift = max(λ·B, B, 1) (:meth:`Reduction.entry_bound
  <polyth.theory.reductions.Reduction.entry_bound>`), λ = max_j |κ_j| the largest factor by
  which a block's projection absorbs a coefficient, the 1 only where a variable is fixed to the
  constant 1. With the same scale on both sides κ_j^p = c′_j / (c_h(j)·2^|Σ_j|) for a fixed scale
  and E·c′_j / (c_h(j)·2^|Σ_j|) for the scale 1/d (M's d is E times larger; a host repeated on
  2^|Σ_j| sign blocks counts once per copy). With coefficients 1 and no signs, B_lift = B under a
  fixed scale for any E (the composition constructions, scale 1) and under 1/d with one block;
  under 1/d with E > 1 blocks it is (E/2^|Σ_j|)^(1/p)·B at most, p the pivot's power (E·B for the
  Match constructions on E plain blocks, whose monomials have powers 1).

Every head checks both bounds on the arrays it builds: max |Q′| ≤ B (the registered
construction's own claim) and max |Q| ≤ B_lift; a violation is a bug in polyth and raises
RuntimeError. :attr:`SimulatedConstruction.entries` keeps the largest entries seen.

Example::

    >>> from polyth.tasks.constructions import find
    >>> c = find("x1*x2 + x1*x3 + x3*x4", "compose:2")
    >>> print(c.target_spec, "|", c.reduction.describe())
    path:3 | read x2 as x3, x3 as x4; set Q(x2) = 0, V(x2) = 1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polyth.mechanism import Mechanism
from polyth.tasks.constructions.base import Attend, Construction, Footprint
from polyth.tasks.generators import TaskBatch
from polyth.theory.reductions import Reduction, reduction, why_not

#: relative slack of the entry checks (the lift multiplies by κ in float64)
TOLERANCE = 1e-12


@dataclass
class LiftedEntries:
    """The largest entries a simulated construction has built so far, over all heads and batches."""

    target: float = 0.0  # max |Q′| of the registered construction's inputs
    lifted: float = 0.0  # max |Q| of the lifted inputs, run on the simulating mechanism


@dataclass(frozen=True)
class SimulatedConstruction(Construction):
    """``target`` (registered for ``target_spec``) run on ``mechanism`` through ``reduction``.

    ``mechanism`` is ``reduction.source``: the simulating mechanism with the construction's scale
    and value variables. :meth:`lifted_B` is the entry bound of the inputs that actually run.
    """

    target: Construction = field(repr=False)
    target_spec: str
    reduction: Reduction = field(repr=False)
    entries: LiftedEntries = field(default_factory=LiftedEntries, repr=False, compare=False)

    @property
    def chain(self) -> str:
        """The moves by which ``mechanism`` simulates the target (or "as it stands")."""
        return self.reduction.describe()

    def lifted_B(self, B: float) -> float:
        """B_lift: the bound on the lifted Q's entries when the construction's are at most B.

        Both sides have the same scale, so κ_j does not depend on the width d′ (module docstring).
        """
        return self.reduction.entry_bound(B, 1)


def runs_on(m: Mechanism, target: Mechanism) -> Mechanism:
    """``m`` with the scale and value variables a construction for ``target`` gives it: the
    target's scale, and ``m``'s value variables plus the query when the target reads one there."""
    values = sorted(set(m.values) | ({0} & set(target.values)))
    return m.replace(scale=target.scale, values=[a + 1 for a in values])


def simulate(m: Mechanism, spec: str, construction: Construction) -> SimulatedConstruction | None:
    """``construction`` (registered for ``spec``) lifted to ``m``, or None where ``m`` does not
    simulate the construction's mechanism by the moves of :mod:`polyth.theory.reductions`."""
    if why_not(m) is not None:
        return None
    target = construction.mechanism
    found = reduction(runs_on(m, target), target)
    if found is None:
        return None
    source = found.source
    entries = LiftedEntries()

    def forward(batch: TaskBatch, B: float, attend: Attend) -> np.ndarray:
        def lifted(mechanism: Mechanism, Q, V) -> np.ndarray:
            if mechanism != target:
                raise RuntimeError(f"polyth bug: a head of {spec} ran {mechanism}, not {target}")
            built = max(float(np.abs(q).max()) for q in Q)
            lifted_Q, lifted_V = found.lift(Q, V)
            largest = max(float(np.abs(q).max()) for q in lifted_Q)
            bound = found.entry_bound(B, np.shape(Q[0])[-1])
            if built > B * (1 + TOLERANCE) or largest > bound * (1 + TOLERANCE):
                raise RuntimeError(
                    f"polyth bug: entries {built:.6g} (construction, B = {B:.6g}) and {largest:.6g} "
                    f"(lifted, bound {bound:.6g}) for {spec} on {source.text()}"
                )
            entries.target = max(entries.target, built)
            entries.lifted = max(entries.lifted, largest)
            return attend(source, lifted_Q, lifted_V)

        return construction.forward(batch, B, lifted)

    E = found.blocks

    def footprint(n: int, domain: int, b: int) -> Footprint:
        # the registered construction's arrays, plus one call's lifted Q (t tensors of width d·E) and V;
        # every call runs on the simulating mechanism at width d·E
        inner = construction.footprint(n, domain, b)
        lifted = max((bc * n * (source.t * d * E + dv) for _, bc, d, dv in inner.calls), default=0)
        calls = tuple((count, bc, d * E, dv) for count, bc, d, dv in inner.calls)
        return Footprint(inner.entries + lifted, calls, inner.exps)

    return SimulatedConstruction(
        mechanism=source,
        task=construction.task,
        heads=construction.heads,
        embedding_dim=construction.embedding_dim if E == 1 else f"{E} × ({construction.embedding_dim})",
        entry_bound=construction.entry_bound,
        source=construction.source + (f"; lifted by simulation of {spec}" if found.moves else ""),
        bound=construction.bound,
        forward=forward,
        footprint=footprint,
        target=construction,
        target_spec=spec,
        reduction=found,
        entries=entries,
    )
