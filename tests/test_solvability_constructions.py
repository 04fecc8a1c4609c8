"""The construction column of papers/poly-attention/solvability.py: constructions by simulation
("via P (d × E)", their chains), predicted yes without a construction, and construction against
learning with both sides' evidence. Inputs are hand-written results files, not the engine's output."""

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


def _section(document: str, title: str) -> str:
    return document.split(f"## {title}")[1].split("\n## ")[0]


VIA = {
    "mechanism": "tensor:3",
    "task": "compose:2",
    "heads": 1,
    "via": {"construction": "path:3", "chain": "one block of channels per monomial (d × 2)", "d_factor": 2},
    "accuracy": [
        {"n": 33, "accuracy": 1.0, "B": 2.8, "B_lifted": 2.8},
        {"n": 65, "accuracy": 1.0, "B": 3.1, "B_lifted": 3.1},
    ],
}


def _write(folder: Path, constructions: list[dict], runs: list[dict] | None = None) -> None:
    (folder / "constructions.json").write_text(json.dumps({"constructions": constructions}))
    if runs is not None:
        (folder / "training.json").write_text(json.dumps({"runs": runs}))


def test_a_construction_by_simulation_names_its_source_and_chain(tmp_path):
    _write(tmp_path, [VIA])
    document = _solvability().build_table(tmp_path)
    assert _cells(document, "tensor:3")["compose:2"] == "yes / ✓ n ≤ 65 via path:3 (d × 2) / not run"
    chains = _section(document, "Constructions by simulation")
    assert (
        "- **tensor:3, compose:2**: path:3's construction, d × 2: one block of channels per monomial "
        "(d × 2) (n = 33: B = 2.8 → B_lift = 2.8, n = 65: B = 3.1 → B_lift = 3.1)." in chains
    )


def test_every_predicted_yes_without_a_construction_is_listed(tmp_path):
    _write(tmp_path, [VIA])
    chains = _section(_solvability().build_table(tmp_path), "Constructions by simulation")
    missing = chains.split("Predicted yes without a construction: ")[1]
    # self-attention solves Match2 and compose:1 (Sanford et al.; the path x1·x2): both without a file row
    assert "self Match2" in missing and "self compose:1" in missing
    assert "tensor:3 compose:2" not in missing  # covered by the construction by simulation
    assert "self compose:2" not in missing  # predicted no


def test_construction_against_learning_shows_both_sides(tmp_path):
    run = {"model": "tensor3-1L", "mechanism": "tensor:3", "task": "compose:2", "steps": [0]}
    _write(tmp_path, [VIA], [{**run, "seed": s, "final_accuracy": 0.1} for s in range(3)])
    document = _solvability().build_table(tmp_path)
    assert _cells(document, "tensor:3")["compose:2"].startswith("**≠** yes / ✓ n ≤ 65 via path:3 (d × 2)")
    line = next(
        r
        for r in _section(document, "Disagreements").splitlines()
        if r.startswith("- **tensor:3, compose:2**: construction yes vs learning no")
    )
    assert (
        "construction: 100% up to n = 65 via path:3 (d × 2)" in line and "learning: tensor3-1L: ✗ 0/3" in line
    )
