"""What the engine says about one mechanism of the atlas; nothing is decided here.

:func:`classify` asks the engine once per mechanism, and every column of
:mod:`polyth.atlas.columns` reads its value from what the engine answered:

- ``polyth.bounds(m).to_dict()``: the exact plan, its exponent (symbolic, at ω = 3, at the
  best known ω), the lower bounds with their hypotheses, the verdict, the approximation
  threshold (the same data ``polyth bounds --json`` prints);
- the exact plan under the prefix-causal mask, :func:`polyth.theory.plan.exact_plan`
  ``(m, "prefix")``, the plan ``polyth.bounds(m, causal="prefix")`` reports (calling
  ``bounds`` would also search the causal low-rank plan, which no column reads and which
  costs as much as the rest of the row): its cost divided by n is the per-token decoding cost
  (:func:`polyth.theory.cost.amortised_per_token`, the "exact decoding" row of
  ``polyth bounds --causal prefix``);
- :func:`polyth.tasks.predict.predict`: Match2, Match3 and compose:1 … 4, each with its reason;
- :func:`polyth.tasks.find` and :func:`polyth.theory.reductions.reduction`: the registered
  constructions that lift to m. A construction of the task for a mechanism P carries over to m
  when m simulates P (docs/design.md §3, Reductions). The construction chooses its value
  variables (``find`` ignores them), and a value variable fed the constant 1 is no value at
  all, so m is given values on every variable, the query included, and the reduction sets
  the values P does not use to 1. It also chooses the scale, as ``find`` lets it
  (:func:`polyth.tasks.constructions.simulation.runs_on`): the path x1x2 + x2x3 + x3x4 runs the
  compose:3 construction as it stands, not on three blocks that absorb another scale.

Example::

    >>> from polyth.atlas.enumeration import Member
    >>> found = classify(Member(((1, 2), (2, 3), (3, 4))))
    >>> str(found.bounds.exponent), found.bounds.verdict, found.predictions["compose:3"].answer
    ('2', 'tight', 'yes')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from polyth.atlas.enumeration import Member
from polyth.mechanism import Mechanism
from polyth.tasks import CONSTRUCTIONS, find
from polyth.tasks.constructions.simulation import runs_on
from polyth.tasks.predict import TASKS, Prediction, predict
from polyth.theory.bounds import Bounds, bounds
from polyth.theory.plan import Plan, exact_plan
from polyth.theory.reductions import reduction


@dataclass(frozen=True)
class Classification:
    """What the engine says about one mechanism; the columns read from it."""

    member: Member
    mechanism: Mechanism
    bounds: Bounds
    report: dict  # bounds.to_dict()
    causal: Plan  # exact_plan(m, "prefix")
    predictions: dict[str, Prediction]

    @cached_property
    def constructions(self) -> dict[str, str]:
        """Per task, the registered constructions that lift to this mechanism ('' if none)."""
        every_value = self.mechanism.replace(values=range(1, self.mechanism.t + 1))
        found: dict[str, list[str]] = {task: [] for task in TASKS}
        for spec, task in CONSTRUCTIONS:
            construction = find(spec, task)
            simulation = reduction(runs_on(every_value, construction.mechanism), construction.mechanism)
            if simulation is not None:
                how = simulation.describe()
                heads = f"{construction.heads} head{'s' if construction.heads > 1 else ''}"
                found[task].append(f"{spec} ({heads}): {how}")
        return {task: " | ".join(found[task]) for task in TASKS}


def classify(member: Member) -> Classification:
    """Ask the engine about ``member``'s mechanism (the calls of the module docstring).

    The mechanism is read from the row's polynomial as ``polyth bounds 'x1*x2 + …'`` reads it,
    so a row says word for word what the command line says: the engine's texts (reductions'
    dropped monomials, ties in the order search) follow the order of the monomials.
    """
    m = Mechanism.from_polynomial(member.polynomial)
    report = bounds(m)
    return Classification(
        member,
        m,
        report,
        report.to_dict(),
        exact_plan(m, "prefix"),
        {p.task: p for p in predict(m)},
    )
