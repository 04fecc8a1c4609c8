"""The atlas's columns: the one place that says what a row holds (docs/design.md §9).

Each :class:`Column` has a name, an Arrow type, what it means, and how it reads its value
from a :class:`~polyth.atlas.classify.Classification` (what the engine said). Adding a
column is one entry of :data:`COLUMNS`; the Parquet schema, the row builder
:func:`row` and ``polyth atlas query --json`` all follow it. A column of a new field of
``polyth.bounds(m).to_dict()`` reads ``found.report[...]``.

Example::

    >>> from polyth.atlas.enumeration import Member
    >>> r = row(Member(((1, 2), (1, 3), (2, 3))))
    >>> r["mechanism"], r["exponent"], r["exponent_best"], r["lower_hypothesis"], r["verdict"]
    ('x1*x2 + x1*x3 + x2*x3', 'omega', 2.371339, 'Max-2SAT conjecture', 'tight')
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sympy

from polyth.atlas.classify import Classification, classify
from polyth.atlas.enumeration import Member
from polyth.tasks.predict import TASKS
from polyth.theory import cost
from polyth.theory.terms import REFERENCE_SIZES


@dataclass(frozen=True)
class Column:
    """One column: ``value(found)`` is its entry for the classified mechanism ``found``."""

    name: str
    type: pa.DataType
    doc: str
    value: Callable[[Classification], Any]


def task_column(task: str) -> str:
    """The column of a task's answer: ``compose:3`` → ``compose3``."""
    return task.replace(":", "")


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _best_lower(found: Classification) -> dict:
    return found.bounds.best_lower.to_dict()


def _operations(found: Classification) -> float:
    # a float: n^6·d at n = 1024 is past 2^63 (exact below 2^53, rounded to 53 bits above,
    # which keeps the order that "cheapest" reads)
    sizes = (REFERENCE_SIZES[k] for k in ("n", "d", "dv"))
    return float(cost.operation_count(found.bounds.plan, *sizes).total)


def _largest_fold(found: Classification) -> int:
    folds = [int(task.split(":")[1]) for task, p in found.predictions.items() if task.startswith("compose:")]
    return max((r for r in folds if found.predictions[f"compose:{r}"].answer == "yes"), default=0)


def _task_columns(task: str) -> list[Column]:
    name = task_column(task)
    return [
        Column(
            name,
            pa.string(),
            f"can one head solve {task}: yes, no or unknown (polyth tasks predict)",
            lambda f: f.predictions[task].answer,
        ),
        Column(f"{name}_reason", pa.string(), f"why, for {task}", lambda f: f.predictions[task].reason),
        Column(
            f"{name}_source",
            pa.string(),
            f"the source of the result that decides {task}",
            lambda f: f.predictions[task].source,
        ),
        Column(
            f"{name}_heads",
            pa.string(),
            f"the head count the source states for {task}",
            lambda f: f.predictions[task].heads_note,
        ),
        Column(
            f"{name}_construction",
            pa.string(),
            f"registered constructions for {task} that lift to this mechanism by simulation ('' if none)",
            lambda f: f.constructions[task],
        ),
    ]


COLUMNS: tuple[Column, ...] = (
    # ---------------------------------------------------------------- the mechanism
    Column(
        "mechanism",
        pa.string(),
        "the representative polynomial (a polyth spec)",
        lambda f: f.member.polynomial,
    ),
    Column("t", pa.int8(), "variables", lambda f: f.mechanism.t),
    Column(
        "hyperedges",
        pa.int8(),
        "the largest hyperedge size (2: a graph)",
        lambda f: max(len(e) for e in f.member.edges),
    ),
    Column("monomials", pa.int8(), "hyperedges (monomials)", lambda f: len(f.member.edges)),
    Column(
        "connected",
        pa.bool_(),
        "the primal graph is connected",
        lambda f: f.report["structure"]["is_connected"],
    ),
    Column(
        "tree",
        pa.bool_(),
        "every support ≤ 2 and the primal graph a forest (a tree when connected)",
        lambda f: f.report["structure"]["is_tree"],
    ),
    # ---------------------------------------------------------------- exact time
    Column("algorithm", pa.string(), "the exact plan's steps", lambda f: f.report["exact"]["algorithm"]),
    Column("cost", pa.string(), "the exact plan's cost polynomial", lambda f: f.report["exact"]["cost"]),
    Column(
        "exponent",
        pa.string(),
        "the exact plan's exponent, symbolic in omega",
        lambda f: f.report["exact"]["exponent"],
    ),
    Column(
        "exponent_omega_3",
        pa.float64(),
        "the exponent at ω = 3 (what the kernels run)",
        lambda f: f.report["exact"]["exponent_omega_3"],
    ),
    Column(
        "exponent_best",
        pa.float64(),
        "the best known exponent: at ω = 2.371339 and the published rectangular bounds",
        lambda f: f.report["exact"]["exponent_omega_best"],
    ),
    Column(
        "rectangular",
        pa.string(),
        "the unbalanced products ω(a, b, c) of the exact plan, with their best known bounds (JSON list)",
        lambda f: _json(f.report["exact"]["rectangular"]),
    ),
    Column(
        "exhaustive", pa.bool_(), "the order search was exhaustive", lambda f: f.report["exact"]["exhaustive"]
    ),
    Column(
        "operations",
        pa.float64(),
        "the exact plan's operations at n = 1024, d = dv = 64 (ω = 3)",
        _operations,
    ),
    # ---------------------------------------------------------------- lower bounds
    Column(
        "lower_exponent",
        pa.string(),
        "the best lower bound's exponent (strict: the exponent exceeds it)",
        lambda f: _best_lower(f)["exponent"],
    ),
    Column(
        "lower_strict",
        pa.bool_(),
        "the best lower bound is strict (> rather than ≥)",
        lambda f: _best_lower(f)["strict"],
    ),
    Column(
        "lower_hypothesis",
        pa.string(),
        "the hypothesis of the best lower bound",
        lambda f: _best_lower(f)["hypothesis"],
    ),
    Column(
        "lower_source", pa.string(), "the source of the best lower bound", lambda f: _best_lower(f)["source"]
    ),
    Column(
        "lower_target",
        pa.string(),
        "the mechanism the best lower bound is proved for (this one, or one it simulates)",
        lambda f: _best_lower(f)["target"],
    ),
    Column(
        "lower_chain",
        pa.string(),
        "the reduction by which this mechanism simulates lower_target ('' when it is that mechanism)",
        lambda f: _best_lower(f)["chain"],
    ),
    Column(
        "lower",
        pa.string(),
        "the best lower bound, every field polyth.bounds reports (JSON)",
        lambda f: _json(_best_lower(f)),
    ),
    Column(
        "lower_bounds",
        pa.string(),
        "every lower bound that applies (JSON list)",
        lambda f: _json(f.report["lower"]),
    ),
    Column("verdict", pa.string(), "tight, gap or open", lambda f: f.report["verdict"]),
    Column("gap", pa.string(), "upper minus lower exponent (null when tight)", lambda f: f.report["gap"]),
    # ---------------------------------------------------------------- approximation
    Column(
        "approx_threshold_exponent",
        pa.float64(),
        "almost-linear approximation iff B = o((log n)^this)",
        lambda f: f.report["approx"]["threshold_exponent"],
    ),
    Column(
        "approx_sources",
        pa.string(),
        "the threshold results that apply (JSON list)",
        lambda f: _json(f.report["approx"]["sources"]),
    ),
    Column(
        "low_rank_exponent",
        pa.string(),
        "the exponent of the low-rank (polynomial method) plan",
        lambda f: f.report["approx"]["low_rank_exponent"],
    ),
    # ---------------------------------------------------------------- decoding
    Column(
        "causal_exponent",
        pa.string(),
        "the exponent of the exact plan under the prefix-causal mask",
        lambda f: str(cost.exponent(f.causal)),
    ),
    Column(
        "decode_per_token",
        pa.string(),
        "work per generated token under the prefix-causal mask (the causal plan's cost / n, KV cache)",
        lambda f: str(cost.amortised_per_token(f.causal)),
    ),
    Column(
        "decode_exponent",
        pa.string(),
        "the exponent of decode_per_token: causal_exponent − 1",
        lambda f: str(sympy.simplify(cost.exponent(f.causal) - 1)),
    ),
    # ---------------------------------------------------------------- expressivity
    Column(
        "max_compose", pa.int8(), "the largest r ≤ 4 with compose:r predicted yes (0: none)", _largest_fold
    ),
    *(column for task in TASKS for column in _task_columns(task)),
)


def schema() -> pa.Schema:
    """The Arrow schema of an atlas partition."""
    return pa.schema([pa.field(c.name, c.type) for c in COLUMNS])


def row(member: Member) -> dict:
    """The atlas row of ``member``: ``{column name: value}`` in the order of :data:`COLUMNS`."""
    found = classify(member)
    return {column.name: column.value(found) for column in COLUMNS}
