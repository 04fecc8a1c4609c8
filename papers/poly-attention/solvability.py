"""The solvability table: prediction, construction and learning side by side, disagreements marked.

    python papers/poly-attention/solvability.py [--results DIR] [--out FILE]

Rows are mechanisms, columns the tasks of :data:`polyth.tasks.predict.TASKS` (Match2, Match3,
r-fold composition for r ≤ 4). Each cell holds three answers:

* the prediction from the structure (:func:`polyth.tasks.predict.predict`): yes / no / unknown;
* the explicit construction (``results/constructions.json``, written by constructions.py;
  "via P (d × E)" where the mechanism runs the registered construction of P by simulation, its
  chain listed under the table, where every predicted "yes" without a construction is listed too):
  "✓ n ≤ N" when every checked size up to N was 100% accurate, "✗ a at n = N" at the first
  size that was not, "—" when polyth has no construction for the pair;
* learning (``results/training_authors.json``, written by ``train_composition.py --protocol
  authors``; ``results/training.json`` and ``results/training_match3.json``, written by
  train_composition.py and train_match3.py under polyth's protocol): a one-layer model
  "solves" the task when its final held-out accuracy is ≥ 0.99 in a strict majority of its
  finished seeds; "✓ k/s" or "✗ k/s (best a)" per model and protocol, followed by the runs
  still unfinished (their step and last accuracy, from the checkpoints; they decide nothing),
  "—" when no one-layer model of that mechanism was trained.

A missing results file makes its answers "not run"; an unreadable one "unreadable"; the
script never fails on them. Results are matched to rows by mechanism equality (renaming of
variables, :class:`polyth.Mechanism`), so ``x1*x2 + x2*x3`` counts for ``path:3``; mechanisms
found only in the results get rows of their own. Writes ``solvability.md`` beside this script
(default) from whatever results exist.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from polyth import zoo
from polyth.errors import PolyError
from polyth.mechanism import Mechanism
from polyth.tasks.predict import TASKS, normalise_task, predict, task_label

HERE = Path(__file__).resolve().parent
ROWS = ["self", "path:3", "path:4", "path:5", "star:4", "strassen", "tensor:3", "cycle:4", "clique:4"]
CONSTRUCTIONS_FILE = "constructions.json"
TRAINING_FILES = ("training_authors.json", "training.json", "training_match3.json")
POLYTH_PROTOCOL = "polyth protocol"
AUTHORS_SOURCES = {  # semantics of a run of the authors' protocol → how a cell names it
    "authors": "authors' code",
    "definition-2.2": "Def. 2.2, authors' protocol",
}
SOLVED_ACCURACY = 0.99
ALIASES = {"torch-self": "self"}  # the plain-torch self-attention baseline of the training runs

RULES = f"""\
Each cell reads **prediction / construction / learning**.

- **Prediction** (`polyth tasks predict MECH`): "yes" where the mechanism simulates a structure with a
  published positive result (deleting variables, fixing variables to a constant, one block of
  channels per monomial), "no" where a structure with a published negative result simulates
  the mechanism in the same way (the negative result carries over, with the source's conditions),
  "unknown" otherwise; one head unless the head count is noted below.
- **Construction** (`results/{CONSTRUCTIONS_FILE}`, `polyth tasks check MECH TASK`; "via P (d × E)": a
  construction by simulation, P's registered weights lifted to the mechanism by the chain of moves listed
  below the table and run on the mechanism itself with E times P's dimension; without "via" the
  mechanism is the registered one): "✓ n ≤ N" when the
  explicit weights were 100% accurate at every checked size up to N; "✗ a at n = N" at the first size
  that was not; "—" where polyth has no construction for the pair.
- **Learning** (`results/{TRAINING_FILES[0]}`: the authors' protocol, 30000 steps, run under the authors'
  code's semantics and under Definition 2.2; `results/{TRAINING_FILES[1]}`, `results/{TRAINING_FILES[2]}`:
  polyth's protocol): a one-layer model solves the task when its final accuracy is ≥ {SOLVED_ACCURACY} in a
  strict majority of its finished seeds: "✓ k/s" (k of s seeds), "✗ k/s (best a)"; where one cell has
  several models or protocols each is named, and the cell's answer is yes when any of them solves the
  task. "(unfinished: seed S at step s of N: a)" names a run still training, with the accuracy of its
  last window so far; unfinished runs decide nothing. The authors' code runs the polynomial with its
  first value at the query and a clamp on the scores (docs/design.md §1); it is listed under the
  polynomial's row. "—" where no one-layer model of
  that mechanism was trained. Two-layer runs are listed below the table, not compared.
- "not run": the results file does not exist yet; "unreadable": it exists but is not valid JSON.
- **≠** marks a disagreement: two of the three answers are definite (yes/✓ or no/✗) and differ. A failed
  training run is weak evidence (the optimiser or the budget may be at fault), a failed construction
  points at the construction or its entry bound, and a success against a "no" is below the size where
  the asymptotic lower bound binds or contradicts it; each disagreement is explained below the table.
"""


@dataclass
class Outcome:
    """One source's answer for a (mechanism, task) cell: text for the cell, yes/no or None."""

    text: str
    answer: str | None  # "yes", "no" or None (nothing definite)
    detail: str = ""


@dataclass
class Source:
    """The outcomes one kind of results file gives, keyed by (mechanism, task)."""

    status: str  # "ok", "not run" or "unreadable"
    cells: dict[tuple[Mechanism, str], Outcome] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    chains: dict[tuple[Mechanism, str], str] = field(default_factory=dict)  # constructions by simulation

    def outcome(self, m: Mechanism, task: str) -> Outcome:
        if self.status != "ok":
            return Outcome(self.status, None)
        return self.cells.get((m, task), Outcome("—", None))


def _read(path: Path) -> tuple[str, dict | None]:
    if not path.exists():
        return "not run", None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return "unreadable", None
    return ("ok", data) if isinstance(data, dict) else ("unreadable", None)


def _mechanism(spec, notes: list[str]) -> Mechanism | None:
    try:
        return zoo.from_spec(ALIASES.get(spec, spec))
    except (PolyError, TypeError, ValueError) as exc:
        notes.append(f"skipped a result for mechanism {spec!r}: {exc}")
        return None


def _task(text, notes: list[str]) -> str | None:
    try:
        return normalise_task(text)
    except (PolyError, ValueError):
        notes.append(f"results for task {text!r} are outside this table")
        return None


def construction_outcomes(results: Path) -> Source:
    """Cells from ``constructions.json``: 100% at every size up to N → ✓, else ✗ at the first failure."""
    status, data = _read(results / CONSTRUCTIONS_FILE)
    source = Source(status)
    if data is None:
        return source
    for entry in data.get("constructions", []):
        if not isinstance(entry, dict):
            continue
        m = _mechanism(entry.get("mechanism"), source.notes)
        task = _task(entry.get("task"), source.notes)
        checks = sorted(
            (c for c in entry.get("accuracy", []) if isinstance(c, dict) and "n" in c and "accuracy" in c),
            key=lambda c: c["n"],
        )
        if m is None or task is None or not checks:
            continue
        heads = entry.get("heads", 1)
        suffix = f", {heads} heads" if isinstance(heads, int) and heads > 1 else ""
        via = entry.get("via") if isinstance(entry.get("via"), dict) else None
        if via:
            suffix += f" via {via.get('construction')} (d × {via.get('d_factor')})"
        failed = next((c for c in checks if c["accuracy"] < 1.0), None)
        if failed is None:
            top = checks[-1]["n"]
            source.cells[(m, task)] = Outcome(f"✓ n ≤ {top}{suffix}", "yes", f"100% up to n = {top}{suffix}")
        else:
            text = f"✗ {failed['accuracy']:.1%} at n = {failed['n']}{suffix}"
            source.cells[(m, task)] = Outcome(text, "no", text[2:])
        if via:
            source.chains[(m, task)] = _chain(entry, via, checks)
    return source


def _chain(entry: dict, via: dict, checks: list[dict]) -> str:
    """One line on a construction by simulation: what it lifts, how, and what the lift cost in B."""
    lifted = [c for c in checks if isinstance(c.get("B_lifted"), (int, float))]
    bounds = ", ".join(f"n = {c['n']}: B = {c['B']:.3g} → B_lift = {c['B_lifted']:.3g}" for c in lifted)
    return f"{via.get('construction')}'s construction, d × {via.get('d_factor')}: {via.get('chain')}" + (
        f" ({bounds})" if bounds else ""
    )


def _layers(run: dict) -> int:
    found = re.search(r"-(\d+)L$", str(run.get("model", "")))
    return int(found.group(1)) if found else int(run.get("config", {}).get("layers", 1))


def learning_outcomes(results: Path) -> tuple[Source, list[str]]:
    """Cells from the training files (one-layer models) and lines for the deeper models."""
    statuses, groups, deeper = [], {}, []
    source = Source("ok")
    for name in TRAINING_FILES:
        status, data = _read(results / name)
        statuses.append(status)
        # finished runs give final accuracies; unfinished ones (their checkpoints) only where they are
        finished = [(r, False) for r in (data or {}).get("runs", [])]
        for run, unfinished in finished + [(r, True) for r in (data or {}).get("in_progress", [])]:
            if not isinstance(run, dict):
                continue
            accuracy = run.get("accuracy") if unfinished else run.get("final_accuracy")
            if not (isinstance(accuracy, list) and accuracy) and not isinstance(accuracy, (int, float)):
                continue
            m = _mechanism(run.get("mechanism"), source.notes)
            task = _task(run.get("task"), source.notes)
            if m is None or task is None:
                continue
            protocol = AUTHORS_SOURCES.get(run.get("semantics"), POLYTH_PROTOCOL)
            finals, running = groups.setdefault(
                (m, task, str(run.get("model")), _layers(run), protocol), ([], [])
            )
            if unfinished:
                where = f"step {run.get('steps_done')} of {run.get('steps_total', '?')}"
                running.append(f"seed {run.get('seed')} at {where}: {accuracy[-1]:.2f}")
            else:
                finals.append(accuracy)
    source.notes += [
        f"results/{name}: {status}" for name, status in zip(TRAINING_FILES, statuses) if status != "ok"
    ]
    if all(s != "ok" for s in statuses):
        source.status = "unreadable" if "unreadable" in statuses else "not run"
        return source, deeper
    verdicts: dict[tuple[Mechanism, str], list[tuple[str, str, bool | None, str]]] = {}
    for (m, task, model, layers, protocol), (finals, running) in groups.items():
        solved = sum(a >= SOLVED_ACCURACY for a in finals)
        ok = solved > len(finals) / 2 if finals else None  # None: no finished seed, nothing definite
        text = "" if ok is None else f"✓ {solved}/{len(finals)}"
        if ok is False:
            text = f"✗ {solved}/{len(finals)} (best {max(finals):.2f})"
        if running:
            text = f"{text} (unfinished: {'; '.join(running)})".strip()
        if layers == 1:
            verdicts.setdefault((m, task), []).append((model, protocol, ok, text))
        else:
            where = "" if protocol == POLYTH_PROTOCOL else f", {protocol}"
            deeper.append(f"{model} ({layers} layers{where}) on {task_label(task)}: {text}")
    for key, found in verdicts.items():
        several = len({protocol for _, protocol, _, _ in found}) > 1
        items = [
            (f"{model} ({protocol})" if several else model, ok, text) for model, protocol, ok, text in found
        ]
        label = [f"{text} {model}" if len(items) > 1 else text for model, _, text in items]
        detail = "; ".join(f"{model}: {text}" for model, _, text in items)
        answers = {ok for _, ok, _ in items}
        answer = "yes" if True in answers else "no" if False in answers else None
        source.cells[key] = Outcome(", ".join(label), answer, detail)
    return source, deeper


_EXPLAIN = {
    ("prediction", "yes", "construction", "no"): "the construction fails although a published one exists: "
    "a bug in it or an entry bound B too small for this n",
    ("prediction", "yes", "learning", "no"): "one-layer training did not reach the accuracy in most seeds; "
    "the optimiser, the budget or the head count may be at fault rather than the theory",
    ("prediction", "no", "construction", "yes"): "a construction succeeds where a lower bound says no: "
    "the sizes checked are below where the asymptotic bound binds, or a contradiction",
    ("prediction", "no", "learning", "yes"): "training succeeds where a lower bound says no: the size is "
    "below where the asymptotic bound binds (heads·d·precision against n log n), or a contradiction",
    (
        "construction",
        "yes",
        "learning",
        "no",
    ): "weights exist (the construction) but training did not find them",
    ("construction", "no", "learning", "yes"): "training succeeds where polyth's construction fails: "
    "the construction is at fault",
}


def disagreements(answers: dict[str, str | None]) -> list[tuple[str, str, str, str]]:
    """Pairs of definite answers that differ, as (source, answer, other source, other answer)."""
    names = ["prediction", "construction", "learning"]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            x, y = answers.get(a), answers.get(b)
            if x in ("yes", "no") and y in ("yes", "no") and x != y:
                out.append((a, x, b, y))
    return out


def _row_mechanisms(rows: list[str], found: list[Mechanism]) -> list[tuple[str, Mechanism]]:
    out = [(spec, zoo.from_spec(spec)) for spec in rows]
    for m in found:
        if all(m != other for _, other in out):
            out.append((m.name or str(m.polynomial), m))
    return out


def build_table(results: Path, rows: list[str] = ROWS) -> str:
    """The Markdown document: rules, the table, disagreements, prediction reasons, notes."""
    constructions = construction_outcomes(results)
    learning, deeper = learning_outcomes(results)
    found = [m for m, _ in constructions.cells] + [m for m, _ in learning.cells]
    mechanisms = _row_mechanisms(rows, found)
    header = "| mechanism | h | " + " | ".join(task_label(t) for t in TASKS) + " |"
    lines = [
        "# Solvability: prediction / construction / learning",
        "",
        "Generated by `python papers/poly-attention/solvability.py` from `results/`; do not edit by hand.",
        "",
        RULES,
        header,
        "|" + "---|" * (len(TASKS) + 2),
    ]
    conflicts, reasons, lifted, missing = [], [], [], []
    for spec, m in mechanisms:
        predictions = {p.task: p for p in predict(m)}
        cells = []
        for task in TASKS:
            p = predictions[task]
            c, lrn = constructions.outcome(m, task), learning.outcome(m, task)
            prediction = p.answer + (
                f" ({p.heads_note})" if p.answer == "yes" and p.heads_note != "1 head" else ""
            )
            cell = f"{prediction} / {c.text} / {lrn.text}"
            pairs = disagreements({"prediction": p.answer, "construction": c.answer, "learning": lrn.answer})
            if pairs:
                cell = "**≠** " + cell
                details = {"prediction": p.reason, "construction": c.detail, "learning": lrn.detail}
                for a, x, b, y in pairs:
                    why = _EXPLAIN.get((a, x, b, y), "")
                    why = why[:1].upper() + why[1:]
                    if a == "prediction":  # the prediction's reason is listed below: the other side
                        evidence = details[b] or details[a]
                    else:  # construction against learning: both, the construction with its chain
                        evidence = "; ".join(f"{s}: {details[s]}" for s in (a, b) if details[s])
                    conflicts.append(
                        f"- **{spec}, {task_label(task)}**: {a} {x} vs {b} {y} ({evidence}). {why}"
                    )
            cells.append(cell)
            if (m, task) in constructions.chains:
                lifted.append(f"- **{spec}, {task_label(task)}**: {constructions.chains[(m, task)]}.")
            if p.answer == "yes" and constructions.status == "ok" and c.answer is None:
                missing.append(f"{spec} {task_label(task)}")
            if p.answer != "unknown":
                reasons.append(
                    f"- {spec}, {task_label(task)}: **{p.answer}**. {p.reason}. Source: {p.source}."
                )
        lines.append(f"| {spec} | `{m.polynomial}` | " + " | ".join(cells) + " |")
    lines += ["", "## Disagreements", ""]
    lines += conflicts or ["None among the results present."]
    if constructions.status == "ok":
        lines += ["", "## Constructions by simulation", ""]
        lines += [
            "Each mechanism runs a registered construction of a mechanism it simulates "
            "(`polyth.tasks.constructions.simulation`): the construction's inputs are lifted by the chain "
            "of moves and the mechanism itself runs through `polyth.attention`. B_lift bounds the lifted "
            "entries (checked on every head).",
            "",
        ]
        lines += lifted or ["None among the results present."]
        lines += [
            "",
            "Predicted yes without a construction: " + (", ".join(missing) if missing else "none") + ".",
        ]
    if deeper:
        lines += ["", "## Deeper models (not compared with the one-head predictions)", ""]
        lines += [f"- {line}" for line in deeper]
    lines += ["", "## Why each prediction", ""] + reasons
    notes = sorted(set(constructions.notes + learning.notes))
    if notes:
        lines += ["", "## Notes on the results files", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results", type=Path, default=HERE / "results", help="directory of the results JSON"
    )
    parser.add_argument("--out", type=Path, default=HERE / "solvability.md", help="Markdown file to write")
    args = parser.parse_args(argv)
    args.out.write_text(build_table(args.results))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
