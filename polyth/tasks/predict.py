"""Which polyadic tasks can one head of a mechanism solve? A prediction from the structure alone.

The tasks are Match2, Match3 (Sanford, Hsu, Telgarsky 2023) and r-fold function composition
for r ≤ 4 (``compose:R``, Peng, Narayanan, Papadimitriou 2024). Each answer is ``"yes"``,
``"no"`` or ``"unknown"``, with the reason, the source and a note on the head count. The
known results are those of docs/design.md §3; nothing is looked up by a mechanism's name.

Both directions use one mechanism, the reductions of :mod:`polyth.theory.reductions`
("M simulates M′": M′'s output is M's on inputs built by renaming, deleting variables, fixing
coordinates to 1 and one block of channels per monomial, with d multiplied by E):

* **positive results lift**: if this mechanism M simulates a structure P with a known
  construction (the path for composition, 3-tensor and Strassen for Match3, …), a head of M
  runs P's construction on the lifted inputs, so M solves the task;
* **negative results inherit**: if a structure N with a proved head lower bound (self-attention
  for 2-fold composition and Match3; Strassen and 3-tensor for 3-fold composition) simulates M,
  then H heads of M solving the task would give H heads of N solving it, so M inherits N's
  bound, under N's source's conditions on heads, embedding dimension and precision with the
  dimension multiplied by E. The lift uses the constant coordinate 1, so this reads the sources'
  models as allowing a constant input coordinate, as polyth's constructions do.

What this assumes: softmax (exp) similarity, attention over whole vectors, a non-zero scale
(:func:`polyth.theory.reductions.why_not`). Composition of r > 2 (resp. r > 3) functions
contains composition of 2 (resp. 3) as the special case where the later functions are the
identity, so a result against r-fold composition is applied to larger r with that remark.
Everything else is ``"unknown"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.theory import reductions
from polyth.theory.lower_bounds import CPA_2026
from polyth.theory.reductions import reduction

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
        "Strassen attention needs n^{1−o(1)} heads for 3-fold composition (the paper's conditions on "
        "embedding dimension and precision could not be checked here)",
        CPA_2026,
        "needs n^{1−o(1)} heads",
    ),
    KnownResult(
        zoo.tensor,
        "3-tensor x1·x2·x3",
        tuple(f"compose:{r}" for r in range(3, MAX_FOLD + 1)),
        "3-tensor attention needs n^{1−o(1)} heads for 3-fold composition (the paper's conditions on "
        "embedding dimension and precision could not be checked here)",
        CPA_2026,
        "needs n^{1−o(1)} heads",
    ),
)


# ------------------------------------------------------------------ prediction
def _negative(m: Mechanism, task: str) -> Prediction | None:
    found = []
    for result in NEGATIVE:
        if task in result.tasks:
            simulation = reduction(result.structure(), m)
            if simulation is not None:
                found.append((simulation.blocks, len(simulation.moves), result, simulation))
    if not found:
        return None
    _, _, result, simulation = min(found, key=lambda item: item[:2])
    fold = int(task.split(":")[1]) if task.startswith("compose:") else None
    proved = min(int(t.split(":")[1]) for t in result.tasks) if fold else None
    reason = f"{result.label}: {result.statement}"
    if simulation.moves:
        reason += f"; {result.label} simulates this mechanism ({simulation.describe()})"
    if fold and fold > proved:
        later = f"f_{fold}" if fold == proved + 1 else f"f_{proved + 1} … f_{fold}"
        reason += f"; {fold}-fold composition contains {proved}-fold composition ({later} the identity)"
    heads = result.heads_note
    if simulation.blocks > 1:
        heads += f" (inherited: the simulating head has d × {simulation.blocks})"
    return Prediction(task, "no", reason, result.source, heads)


def _positive(m: Mechanism, task: str) -> Prediction | None:
    found = []
    for result in POSITIVE:
        if task not in result.tasks:
            continue
        simulation = reduction(m, result.structure())
        if simulation is not None:
            found.append((result, simulation))
    if not found:
        return None

    def preference(item):  # the structure itself first, then recorded head counts, fewest first
        result, simulation = item
        direct = simulation.blocks == 1 and all(move.kind == "rename" for move in simulation.moves)
        return (not direct, result.heads is None, result.heads or 0)

    found.sort(key=preference)
    parts = []
    for result, simulation in found:
        how = simulation.describe()
        via = "this mechanism itself" if how == "as it stands" else f"simulated: {how}"
        parts.append(f"{result.label} ({result.statement}): {via}")
    best = found[0][0]
    fewest = min((r.heads for r, _ in found if r.heads is not None), default=None)
    heads_note = best.heads_note
    if best.heads is None and fewest is not None:
        heads_note = f"{fewest} head{'s' if fewest > 1 else ''}"
    sources = "; ".join(dict.fromkeys(r.source for r, _ in found))
    return Prediction(task, "yes", " | also: ".join(parts), sources, heads_note)


def predict(mechanism: Mechanism | str, tasks: tuple[str, ...] = TASKS) -> list[Prediction]:
    """One :class:`Prediction` per task (default :data:`TASKS`) for one head of ``mechanism``.

    ``mechanism`` is a :class:`Mechanism` or a spec for :func:`polyth.zoo.from_spec`. The
    answer is "no" where a structure with a negative result simulates this mechanism, "yes"
    where the mechanism simulates a structure with a positive result, else "unknown".
    """
    m = zoo.from_spec(mechanism) if isinstance(mechanism, str) else mechanism
    if not isinstance(m, Mechanism):
        raise InputError(f"predict needs a Mechanism or a spec string, got {type(mechanism).__name__}")
    tasks = tuple(normalise_task(t) for t in tasks)
    why_not = reductions.why_not(m)
    out = []
    for task in tasks:
        prediction = None if why_not else (_negative(m, task) or _positive(m, task))
        if prediction is None:
            reason = f"no known result ({why_not})" if why_not else "no known result"
            prediction = Prediction(task, "unknown", reason, "", "")
        out.append(prediction)
    return out
