"""The learning column of papers/poly-attention/solvability.py with the authors'-protocol results."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from polyth.tasks.predict import TASKS

ROOT = Path(__file__).resolve().parents[1]


def _solvability():
    spec = importlib.util.spec_from_file_location(
        "solvability", ROOT / "papers/poly-attention/solvability.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["solvability"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def _cells(document: str, mechanism: str) -> dict[str, str]:
    line = next(r for r in document.splitlines() if r.startswith(f"| {mechanism} |"))
    return dict(zip(TASKS, [cell.strip() for cell in line.strip("|").split("|")][2:]))


def _runs(model, mechanism, finals, semantics=None, layers=1):
    extra = {} if semantics is None else {"semantics": semantics}
    return [
        {"model": model, "mechanism": mechanism, "task": "compose:2", "seed": 61 + i, "final_accuracy": a,
         "config": {"layers": layers}, **extra}
        for i, a in enumerate(finals)
    ]  # fmt: skip


def test_each_protocol_is_named_and_any_solving_one_answers_yes(tmp_path):
    authors = _runs("tree-1L", "path:3", [1.0, 0.995, 0.2], "authors")
    authors += _runs("tree-1L", "path:3", [0.3, 0.2, 0.1], "definition-2.2")
    authors += _runs("self-1L", "self", [0.15, 0.2, 0.18], "authors")
    authors += _runs("self-2L", "self", [0.4], "authors", layers=2)
    (tmp_path / "training_authors.json").write_text(json.dumps({"runs": authors}))
    (tmp_path / "training.json").write_text(json.dumps({"runs": _runs("tree-1L", "path:3", [0.14, 0.15])}))
    document = _solvability().build_table(tmp_path)
    assert _cells(document, "path:3")["compose:2"] == (
        "yes / not run / ✓ 2/3 tree-1L (authors' code), "
        "✗ 0/3 (best 0.30) tree-1L (Def. 2.2, authors' protocol), "
        "✗ 0/2 (best 0.15) tree-1L (polyth protocol)"
    )
    assert _cells(document, "self")["compose:2"] == "no / not run / ✗ 0/3 (best 0.20)"  # one source: no name
    assert "self-2L (2 layers, authors' code) on compose:2: ✗ 0/1 (best 0.40)" in document
    assert "**path:3, compose:2**" not in document  # the authors' code agrees with the prediction


def test_a_self_attention_that_learns_against_the_lower_bound_is_a_marked_disagreement(tmp_path):
    runs = _runs("self-1L", "self", [1.0, 1.0, 0.999], "authors")
    (tmp_path / "training_authors.json").write_text(json.dumps({"runs": runs}))
    document = _solvability().build_table(tmp_path)
    assert _cells(document, "self")["compose:2"] == "**≠** no / not run / ✓ 3/3"
    assert "**self, compose:2**: prediction no vs learning yes" in document


def test_unfinished_runs_are_named_with_their_steps_and_decide_nothing(tmp_path):
    running = {"model": "self-1L", "mechanism": "self", "task": "compose:2", "semantics": "authors",
               "seed": 61, "partial": True, "steps_done": 9500, "steps_total": 30000,
               "accuracy": [0.1, 1.0]}  # fmt: skip
    tree = {**running, "model": "tree-1L", "mechanism": "path:3", "seed": 62, "accuracy": [0.16]}
    finished = _runs("tree-1L", "path:3", [0.15], "authors")
    (tmp_path / "training_authors.json").write_text(
        json.dumps({"runs": finished, "in_progress": [running, tree]})
    )
    document = _solvability().build_table(tmp_path)
    # self-1L at 1.00 so far would contradict the lower bound, but an unfinished run decides nothing
    assert _cells(document, "self")["compose:2"] == (
        "no / not run / (unfinished: seed 61 at step 9500 of 30000: 1.00)"
    )
    assert _cells(document, "path:3")["compose:2"] == (
        "**≠** yes / not run / ✗ 0/1 (best 0.15) (unfinished: seed 62 at step 9500 of 30000: 0.16)"
    )
    assert "**self, compose:2**" not in document
