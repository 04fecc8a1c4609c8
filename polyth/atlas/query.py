"""Questions to the atlas: which mechanisms solve a task, cost n^x, have a gap, simulate another.

:func:`select` filters a DataFrame of :func:`polyth.atlas.load`; every answer is a column the
engine wrote, except ``simulates``, which asks :func:`polyth.theory.reductions.reduction` (the
reduction of docs/design.md §3) about each remaining row. :func:`theorem_check` counts the
atlas against "only trees are quadratic" [CPA26].

Example::

    >>> import polyth.atlas
    >>> frame = polyth.atlas.load()
    >>> select(frame, solves="compose:3", cheapest=True).mechanism.tolist()
    ['x1*x2 + x2*x3 + x3*x4']
"""

from __future__ import annotations

import math

import pandas as pd

from polyth.atlas.columns import task_column
from polyth.atlas.enumeration import Member
from polyth.errors import PolyError
from polyth.mechanism import Mechanism, zoo
from polyth.tasks.predict import normalise_task
from polyth.theory.reductions import reduction

#: the order of "cheapest", the order search's own objective (docs/design.md §3): the exponent
#: at the best known ω, then at ω = 3, then the operations at n = 1024, d = dv = 64
CHEAPEST = ("exponent_best", "exponent_omega_3", "operations")


def _exponent_filter(frame: pd.DataFrame, exponent: str) -> pd.Series:
    """Rows at ``exponent``: a number is compared with ``exponent_best`` (the value at the best
    known ω), anything else with the symbolic ``exponent`` as text (``omega + 1``, ``ω+1``)."""
    text = str(exponent).strip()
    try:
        value = float(text)
    except ValueError:
        wanted = text.replace("ω", "omega").replace(" ", "")
        return frame["exponent"].str.replace(" ", "", regex=False) == wanted
    if not math.isfinite(value):
        raise PolyError(f"--exponent must be finite, got {exponent!r}")
    return (frame["exponent_best"] - value).abs() < 1e-9


def select(
    frame: pd.DataFrame,
    *,
    solves: str | None = None,
    exponent: str | float | None = None,
    gap: bool = False,
    simulates: str | Mechanism | None = None,
    t: int | None = None,
    hyperedges: int | None = None,
    cheapest: bool = False,
) -> pd.DataFrame:
    """The rows of ``frame`` that match every filter given, in atlas order.

    ``solves``: the task is predicted "yes" (``match3``, ``compose:3``, …); ``exponent``: the
    exact exponent (a number at the best known ω, or symbolic text); ``gap``: the best algorithm
    and the best lower bound differ (verdict gap or open: polyth's open problems);
    ``simulates``: the mechanism simulates this one (a zoo spec, a polynomial or a Mechanism;
    adds the column ``simulation`` saying how); ``t``, ``hyperedges``: the family;
    ``cheapest``: of what is left, the rows tied at the least cost in the order of :data:`CHEAPEST`.
    """
    keep = pd.Series(True, index=frame.index)
    if solves is not None:
        keep &= frame[task_column(normalise_task(solves))] == "yes"
    if exponent is not None:
        keep &= _exponent_filter(frame, exponent)
    if gap:
        keep &= frame["verdict"] != "tight"
    if t is not None:
        keep &= frame["t"] == t
    if hyperedges is not None:
        keep &= frame["hyperedges"] == hyperedges
    out = frame[keep]
    if simulates is not None:
        out = _simulating(out, simulates)
    if cheapest and len(out):
        least = out.sort_values(list(CHEAPEST)).iloc[0]
        out = out[(out[list(CHEAPEST)] == least[list(CHEAPEST)]).all(axis=1)]
    return out


def _simulating(frame: pd.DataFrame, pattern: str | Mechanism) -> pd.DataFrame:
    target = zoo.from_spec(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(target, Mechanism):
        raise PolyError(f"simulates needs a mechanism spec or a Mechanism, got {type(pattern).__name__}")
    how = {}
    for index, text in frame["mechanism"][frame["t"] >= target.t].items():
        m = Member.from_polynomial(text).mechanism()
        found = reduction(m, target)
        if found is not None:
            how[index] = found.describe()
    out = frame.loc[list(how)].copy()
    out["simulation"] = pd.Series(how, dtype=object)
    return out


def theorem_check(frame: pd.DataFrame) -> pd.DataFrame:
    """The theorem "only trees are quadratic" [CPA26] over the atlas, one line per kind of mechanism.

    Connected mechanisms are what the theorem speaks of: every tree should have exponent 2 and
    every other one an exponent above 2 (at the best known ω, and at ω = 3). Disconnected
    mechanisms are listed apart (a forest is a sum of trees).
    """
    quadratic = frame["exponent"] == "2"
    above = (frame["exponent_best"] > 2) & (frame["exponent_omega_3"] > 2)
    kinds = [
        ("connected trees", frame["connected"] & frame["tree"], quadratic, "exponent 2"),
        ("connected non-trees", frame["connected"] & ~frame["tree"], above, "exponent above 2"),
        ("forests (disconnected)", ~frame["connected"] & frame["tree"], quadratic, "exponent 2"),
        ("disconnected non-forests", ~frame["connected"] & ~frame["tree"], above, "exponent above 2"),
    ]
    rows = [
        {
            "kind": name,
            "mechanisms": int(which.sum()),
            "expected": what,
            "as expected": int((which & ok).sum()),
        }
        for name, which, ok, what in kinds
    ]
    return pd.DataFrame(rows)
