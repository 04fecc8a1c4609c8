"""Which polyadic tasks can one head of a mechanism solve? A prediction from the structure alone.

The tasks are Match2, Match3 (Sanford, Hsu, Telgarsky 2023) and r-fold function composition
for r ≤ 4 (``compose:R``, Peng, Narayanan, Papadimitriou 2024). Each answer is ``"yes"``,
``"no"`` or ``"unknown"``, with the reason, the source and a note on the head count. The
known results are those of docs/design.md §3; nothing is looked up by a mechanism's name.

**Positive results transfer by simulation.** Mechanism M (one head, dimension d_M) simulates
a pattern P (a known positive, all coefficients 1, multilinear, tied inputs, values on all
non-query variables) when there is an injective map φ from P's variables into M's with
φ(query) = query such that every monomial e of P has a *host*: a monomial m of M with
φ(e) ⊆ supp(m) in which every variable of φ(e) has power 1. The simulation gives each host
its own block of channels; on the block of (e, m) the projections of φ(e) are P's (one of
them multiplied by scale_P / (scale_M · coef(m)), which absorbs any non-zero coefficient and
the scale), the variables of supp(m) ∖ φ(e) are the constant 1 (a constant input coordinate,
as the constructions of :mod:`polyth.tasks` allow) and every other variable is 0. A monomial
f of M contributes on that block only if supp(f) ⊆ supp(m); so with tied inputs every other
such f must meet φ(e) at most in the query (a term in the query alone cancels in the
softmax). With untied inputs each monomial has its own projections and the others are set
to 0 (the brief's "single monomials can be deleted"). Variables of M outside φ(P) are 0 on
every block: their positions are summed uniformly and cancel with their values set to the
constant 1, which is the brief's "deleting non-query variables together with every
monomial that contains them". Then S_M(l) = S_P(φ(l)) + g(l_query), so M with one head of
dimension (number of P's monomials)·d_P computes what P computes; the value variables of
P must map to value variables of M (M's other values are set to 1).

What this assumes, conservatively: softmax (exp) similarity, not per-channel mode, a
non-zero scale; P's variables must appear with power exactly 1 in their hosts (a power
> 1 turns a projection q into q^p, which we do not claim to undo); the blow-up of the
dimension by a constant factor is harmless for the results used (each is stated for d
growing with n). Fixing variables to 1 inside a host (e.g. 3-tensor x1x2x3 → x1x2 with
x3 ≡ 1) and isolating monomials on channel blocks (e.g. Strassen → the path x1x2 + x2x3)
go beyond the plain deletion of variables; the reason of each answer names what it used.

**Negative results apply only to the structure they are proved for**: M must equal the
proved structure up to renaming, non-zero coefficients, the scale and tied/untied inputs
(every one of these is simulated back by the proved structure with a constant factor more
dimension, through the same channel blocks), with its values on non-query variables.
Composition of r > 2 (resp. r > 3) functions contains composition of 2 (resp. 3) as the
special case where the later functions are the identity, so a result against r-fold
composition is applied to larger r with that remark. Everything else is ``"unknown"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism, Monomial, zoo
from polyth.mechanism.similarity import Exp
from polyth.theory.lower_bounds import CPA_2026

SANFORD_2023 = (
    'Sanford, Hsu, Telgarsky 2023, "Representational strengths and limitations of transformers", NeurIPS 2023'
)
KOZACHINSKIY_2025 = (
    'Kozachinskiy et al. 2025, "Strassen attention, split VC dimension and compositionality in '
    'transformers", arXiv:2501.19215'
)
PENG_2024 = (
    'Peng, Narayanan, Papadimitriou 2024, "On limitations of the transformer architecture", arXiv:2402.08164'
)

MAX_FOLD = 4
TASKS: tuple[str, ...] = ("match2", "match3") + tuple(f"compose:{r}" for r in range(1, MAX_FOLD + 1))


def task_label(task: str) -> str:
    """Display name: ``match3`` → ``Match3``, ``compose:2`` → ``compose:2``."""
    return task.capitalize() if task.startswith("match") else task


def normalise_task(task: str) -> str:
    """A task id of :data:`TASKS` from user text (``Match3``, ``compose:2``); InputError otherwise."""
    text = str(task).strip().lower().replace(" ", "")
    if text not in TASKS:
        raise InputError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    return text


@dataclass(frozen=True)
class Prediction:
    """Can one head of the mechanism solve ``task``? ``answer`` is "yes", "no" or "unknown"."""

    task: str
    answer: str
    reason: str
    source: str
    heads_note: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class KnownResult:
    """A published result: the structure it is proved for, the tasks, what it says, where."""

    structure: Callable[[], Mechanism]
    label: str
    tasks: tuple[str, ...]
    statement: str
    source: str
    heads_note: str
    heads: int | None = None  # heads the positive construction uses (None: not recorded here)


def _path(r: int) -> Callable[[], Mechanism]:
    return lambda: zoo.path(r + 1)


_PATH_STATEMENT = (
    "the path x1·x2 + … + x_r·x_(r+1) rooted at the query performs r-fold composition with one "
    "head (a tree of depth q performs (q−1)-fold composition)"
)

POSITIVE: tuple[KnownResult, ...] = (
    KnownResult(
        zoo.self_attention,
        "self-attention x1·x2",
        ("match2",),
        "one self-attention head solves Match2",
        SANFORD_2023,
        "1 head",
        1,
    ),
    *(
        KnownResult(
            _path(r),
            "the path " + " + ".join(f"x{a}·x{a + 1}" for a in range(1, r + 1)),
            (f"compose:{r}",),
            _PATH_STATEMENT,
            CPA_2026,
            "1 head",
            1,
        )
        for r in range(1, MAX_FOLD + 1)
    ),
    KnownResult(
        zoo.tensor,
        "3-tensor x1·x2·x3",
        ("match3",),
        "one 3-tensor attention head solves Match3",
        SANFORD_2023,
        "1 head",
        1,
    ),
    KnownResult(
        zoo.tensor,
        "3-tensor x1·x2·x3",
        ("compose:2",),
        "3-tensor attention performs 2-fold composition",
        CPA_2026,
        "1 head",
        1,
    ),
    KnownResult(
        zoo.strassen,
        "Strassen x1·x2 + x2·x3 + x3·x1",
        ("match3",),
        "one layer of Strassen attention solves Match3 (2 heads, d = 8)",
        KOZACHINSKIY_2025,
        "2 heads, one layer, d = 8",
        2,
    ),
    KnownResult(
        zoo.strassen,
        "Strassen x1·x2 + x2·x3 + x3·x1",
        ("compose:2",),
        "one layer of Strassen attention performs 2-fold composition",
        KOZACHINSKIY_2025,
        "one layer (head count not recorded here)",
        None,
    ),
)

NEGATIVE: tuple[KnownResult, ...] = (
    KnownResult(
        zoo.self_attention,
        "self-attention x1·x2",
        tuple(f"compose:{r}" for r in range(2, MAX_FOLD + 1)),
        "one layer of H self-attention heads cannot compose two functions unless H(d+1)p ≥ n log n "
        "(p bits of precision)",
        PENG_2024,
        "1 head fails unless H(d+1)p ≥ n log n",
    ),
    KnownResult(
        zoo.self_attention,
        "self-attention x1·x2",
        ("match3",),
        "one-layer self-attention cannot solve Match3 when heads, dimension and precision are n^{o(1)}",
        f"{SANFORD_2023}; {KOZACHINSKIY_2025}",
        "fails at size n^{o(1)}",
    ),
    KnownResult(
        zoo.strassen,
        "Strassen x1·x2 + x2·x3 + x3·x1",
        tuple(f"compose:{r}" for r in range(3, MAX_FOLD + 1)),
        "Strassen attention needs n^{1−o(1)} heads for 3-fold composition",
        CPA_2026,
        "needs n^{1−o(1)} heads",
    ),
    KnownResult(
        zoo.tensor,
        "3-tensor x1·x2·x3",
        tuple(f"compose:{r}" for r in range(3, MAX_FOLD + 1)),
        "3-tensor attention needs n^{1−o(1)} heads for 3-fold composition",
        CPA_2026,
        "needs n^{1−o(1)} heads",
    ),
)


# ------------------------------------------------------------------ simulation
@dataclass(frozen=True)
class Simulation:
    """How M simulates a pattern P: φ (P position → M position) and a host monomial per P monomial."""

    mapping: tuple[int, ...]
    hosts: tuple[int, ...]
    blocks: int  # channel blocks the simulation needs (1: deletion alone, or distinct untied hosts)

    def describe(self, m: Mechanism, pattern: Mechanism) -> str:
        names = m.variables
        used = set(self.mapping)
        parts = []
        renamed = {pattern.variables[b]: names[a] for b, a in enumerate(self.mapping)}
        if any(key != value for key, value in renamed.items()):
            parts.append("renaming " + ", ".join(f"{k}→{v}" for k, v in renamed.items()))
        fixing = []
        for e, host in zip(pattern.monomials, self.hosts):
            image = {self.mapping[b] for b in e.support}
            fixed = [a for a in m.monomials[host].support if a not in image]
            used.update(fixed)
            if fixed:
                what = ", ".join(names[a] for a in fixed)
                fixing.append(f"fixing {what} ≡ 1 within {_term(m, m.monomials[host])}")
        deleted = [names[a] for a in range(m.t) if a not in used]
        if deleted:
            parts.append("deleting " + ", ".join(deleted) + " (projections 0, values 1)")
        parts += fixing
        if self.blocks > 1:
            parts.append(f"one block of channels per monomial (d × {self.blocks})")
        return "; ".join(parts) if parts else "as it stands"


def _term(m: Mechanism, mono: Monomial) -> str:
    return "·".join(m.variables[a] + (f"^{p}" if p > 1 else "") for a, p in enumerate(mono.powers) if p)


def _supported(m: Mechanism) -> str | None:
    """Why the transfer rules do not apply to ``m`` (None when they do)."""
    if not isinstance(m.similarity, Exp):
        return f"the known results are for softmax (exp) attention, not {m.similarity.describe()}"
    if m.per_channel:
        return "the known results are for attention over whole vectors, not per-channel mode"
    if m.scale == 0:
        return "scale 0 makes every score 0 (uniform attention)"
    return None


def _host(m: Mechanism, image: frozenset[int]) -> int | None:
    """A monomial of M that can carry a pattern monomial on ``image`` (see the module docstring)."""
    candidates = []
    for i, mono in enumerate(m.monomials):
        support = set(mono.support)
        if not image <= support or any(mono.powers[a] != 1 for a in image):
            continue
        if not m.untied and any(
            j != i and set(other.support) <= support and not (set(other.support) & image) <= {0}
            for j, other in enumerate(m.monomials)
        ):
            continue
        candidates.append((len(support) - len(image), i))
    return min(candidates)[1] if candidates else None


def simulate(m: Mechanism, pattern: Mechanism) -> Simulation | None:
    """A simulation of ``pattern`` by ``m`` with the query fixed (module docstring), or None.

    Depth-first search over injective maps of the pattern's variables, the query first and
    the others in breadth-first order from it, checking each pattern monomial as soon as its
    variables are placed (t ≤ 16, patterns of ≤ 5 variables: a few thousand partial maps).
    """
    if _supported(m) is not None or pattern.t > m.t:
        return None
    order = [0]
    for b in order:  # breadth-first from the query through shared monomials (grows as it goes)
        for e in pattern.supports:
            if b in e:
                order += [c for c in e if c not in order]
    order += [c for c in range(pattern.t) if c not in order]
    rank = {b: i for i, b in enumerate(order)}
    edges = [(max(rank[b] for b in e), e) for e in pattern.supports]
    mapping: dict[int, int] = {0: 0}
    hosts: dict[int, int] = {}

    def place(depth: int) -> bool:
        for index, (last, e) in enumerate(edges):
            if last == depth - 1:
                host = _host(m, frozenset(mapping[b] for b in e))
                if host is None:
                    return False
                hosts[index] = host
        if depth == pattern.t:
            return True
        b = order[depth]
        for a in range(1, m.t):
            if a in mapping.values() or (b in pattern.values and a not in m.values):
                continue
            mapping[b] = a
            if place(depth + 1):
                return True
            del mapping[b]
        return False

    if pattern.values and 0 in pattern.values and 0 not in m.values:
        return None
    if not place(1):
        return None
    image = set(mapping.values())
    distinct = len(set(hosts.values())) == len(hosts)
    exact = (
        not m.untied
        and distinct
        and all(set(m.monomials[h].support) <= image for h in hosts.values())
        and all(m.monomials[h].coefficient == 1 for h in hosts.values())
        and sum(set(mono.support) <= image for mono in m.monomials) == len(hosts)
    )
    return Simulation(
        tuple(mapping[b] for b in range(pattern.t)),
        tuple(hosts[i] for i in range(len(edges))),
        1 if exact or len(edges) == 1 or (m.untied and distinct) else len(edges),
    )


def lift_inputs(m: Mechanism, pattern: Mechanism, simulation: Simulation, Q, V) -> tuple[list, dict]:
    """The simulation made concrete: inputs of ``m`` whose attention output equals ``pattern``'s.

    ``Q`` holds ``pattern``'s tied inputs, one ``(n, d)`` array per variable, and ``V`` maps its
    1-based value variables to ``(n, dv)`` arrays. Returns ``m``'s inputs (one per
    ``m.input_slots``) of dimension ``E·d``, E the pattern's monomials: block i carries pattern
    monomial i on its host (its variables' inputs, the first scaled by
    scale_P / (scale_M · coefficient), the host's other variables the constant 1) and is 0
    elsewhere; values not in the image of the pattern's are 1.
    """
    Q = [np.asarray(q, dtype=np.float64) for q in Q]
    n, d = Q[0].shape
    blocks = len(pattern.monomials)
    width = blocks * d
    scale_p, scale_m = pattern.scale_for(d), m.scale_for(width)
    owner = {a: b for b, a in enumerate(simulation.mapping)}
    lifted = {slot: np.zeros((n, width)) for slot in m.input_slots}
    for i, (e, host) in enumerate(zip(pattern.supports, simulation.hosts)):
        columns = slice(i * d, (i + 1) * d)
        image = [simulation.mapping[b] for b in e]
        for a in m.monomials[host].support:
            block = Q[owner[a]] if a in image else np.ones((n, d))
            if a == image[0]:
                block = block * (scale_p / (scale_m * m.monomials[host].value))
            lifted[(host if m.untied else None, a)][:, columns] = block
    dv = next(iter(V.values())).shape[-1]
    values = {}
    for a in m.values:
        b = owner.get(a)
        values[a + 1] = np.asarray(V[b + 1], dtype=np.float64) if b in pattern.values else np.ones((n, dv))
    return [lifted[slot] for slot in m.input_slots], values


def is_structure(m: Mechanism, structure: Mechanism) -> bool:
    """M equals ``structure`` up to renaming, non-zero coefficients, scale and untied inputs,
    with its values on non-query variables (so that ``structure`` simulates M)."""
    if _supported(m) is not None or m.t != structure.t or not m.is_multilinear or 0 in m.values:
        return False
    if len(set(m.supports)) != len(m.supports):
        return False
    bare = Mechanism(m.variables, [Monomial(sympy.Integer(1), mono.powers) for mono in m.monomials])
    return bare == Mechanism(structure.variables, structure.monomials)


# ------------------------------------------------------------------ prediction
def _negative(m: Mechanism, task: str) -> Prediction | None:
    for result in NEGATIVE:
        if task in result.tasks and is_structure(m, result.structure()):
            fold = int(task.split(":")[1]) if task.startswith("compose:") else None
            proved = min(int(t.split(":")[1]) for t in result.tasks) if fold else None
            reason = f"{result.label}: {result.statement}"
            if fold and fold > proved:
                later = f"f_{fold}" if fold == proved + 1 else f"f_{proved + 1} … f_{fold}"
                reason += (
                    f"; {fold}-fold composition contains {proved}-fold composition ({later} the identity)"
                )
            return Prediction(task, "no", reason, result.source, result.heads_note)
    return None


def _positive(m: Mechanism, task: str) -> Prediction | None:
    found = []
    for result in POSITIVE:
        if task not in result.tasks:
            continue
        pattern = result.structure()
        simulation = simulate(m, pattern)
        if simulation is not None:
            found.append((result, simulation, pattern))
    if not found:
        return None

    def preference(item):  # the structure itself first, then recorded head counts, fewest first
        result, simulation, pattern = item
        direct = simulation.blocks == 1 and len(simulation.mapping) == m.t and m.t == pattern.t
        return (not direct, result.heads is None, result.heads or 0)

    found.sort(key=preference)
    parts = []
    for result, simulation, pattern in found:
        how = simulation.describe(m, pattern)
        via = "this mechanism itself" if how == "as it stands" else f"simulated by {how}"
        parts.append(f"{result.label} ({result.statement}): {via}")
    best = found[0][0]
    fewest = min((r.heads for r, _, _ in found if r.heads is not None), default=None)
    heads_note = best.heads_note
    if best.heads is None and fewest is not None:
        heads_note = f"{fewest} head{'s' if fewest > 1 else ''}"
    sources = "; ".join(dict.fromkeys(r.source for r, _, _ in found))
    return Prediction(task, "yes", " | also: ".join(parts), sources, heads_note)


def predict(mechanism: Mechanism | str, tasks: tuple[str, ...] = TASKS) -> list[Prediction]:
    """One :class:`Prediction` per task (default :data:`TASKS`) for one head of ``mechanism``.

    ``mechanism`` is a :class:`Mechanism` or a spec for :func:`polyth.zoo.from_spec`. The
    answer is "no" where a negative result is proved for exactly this structure, "yes" where
    the mechanism simulates a structure with a positive result, else "unknown".
    """
    m = zoo.from_spec(mechanism) if isinstance(mechanism, str) else mechanism
    if not isinstance(m, Mechanism):
        raise InputError(f"predict needs a Mechanism or a spec string, got {type(mechanism).__name__}")
    tasks = tuple(normalise_task(t) for t in tasks)
    why_not = _supported(m)
    out = []
    for task in tasks:
        prediction = None if why_not else (_negative(m, task) or _positive(m, task))
        if prediction is None:
            reason = f"no known result ({why_not})" if why_not else "no known result"
            prediction = Prediction(task, "unknown", reason, "", "")
        out.append(prediction)
    return out
