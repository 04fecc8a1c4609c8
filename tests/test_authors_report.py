"""papers/poly-attention/authors_report.py and `train_composition.py --protocol authors --report`:
the authors'-protocol results written into the READMEs and solvability.md from whatever exists."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

pytest.importorskip("torch")

from polyth.tasks.authors_protocol import summarise_runs  # noqa: E402
from polyth.tasks.sweep import SweepTask, result_path, run_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "papers" / "poly-attention"
SEEDS = [61, 62, 63, 64, 65]


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(PAPER))
    try:
        import authors_report

        yield authors_report
    finally:
        sys.path.remove(str(PAPER))


def _run(model, seed, final, semantics="authors", steps=30000):
    curve = [0.1, 0.5, final]
    return {
        "model": model,
        "semantics": semantics,
        "mechanism": "path:3" if model == "tree-1L" else "self",
        "task": "compose:2",
        "seed": seed,
        "steps": [steps // 3, 2 * steps // 3, steps],
        "accuracy": curve,
        "loss": [1.0, 0.5, 0.1],
        "seconds": [100.0, 200.0, 360.0],
        "flops": [1, 2, 3],
        "flops_per_step": 1,
        "seconds_per_step": 0.012,
        "final_accuracy": final,
        "steps_to_99": steps if final >= 0.99 else None,
        "clamped_steps": 0,
    }


def _document(runs, in_progress=()):
    timing = [
        {"model": m, "semantics": "authors", "seconds": 0.05, "cpu_seconds": 0.03, "repeats": 5,
         "load_average_start": 3.0, "load_average_end": 3.5}
        for m in ("tree-1L", "self-1L")
    ]  # fmt: skip
    return {
        "runs": runs,
        "in_progress": list(in_progress),
        "summary": summarise_runs(runs),
        "timing": timing,
        "projection": {"tasks": 10, "cpu_hours": 2.5, "wall_hours": 4.2, "workers": 1},
        "config": {"models": ["tree-1L", "self-1L"], "semantics": ["authors"], "seeds": SEEDS,
                   "steps": 30000, "batch": 1024, "window": 100},
        "date": "2026-12-03 11:10",
    }  # fmt: skip


def test_a_complete_separation_over_five_seeds_each_reproduces(report):
    runs = [_run("tree-1L", s, 1.0) for s in SEEDS] + [_run("self-1L", s, 0.15) for s in SEEDS]
    status, sentence = report.verdict(_document(runs))
    # all 5 tree finals above all 5 self finals: exact one-sided p = 1/C(10, 5) = 1/252
    assert (
        status
        == "agrees (tree-1L ≥ 99% in 5/5 seeds, self-1L in 0/5 (one-sided permutation test, p = 0.004))"
    )
    assert sentence.startswith("It reproduces")
    text = report.section(_document(runs))
    assert "| the authors' semantics | tree-1L | 62 | finished (30000 steps) | **1.0000** | 30000 |" in text
    assert "| the authors' semantics | self-1L | 65 | finished (30000 steps) | **0.1500** | never |" in text
    assert "Not started" not in text


def test_the_tree_failing_like_self_attention_does_not_reproduce(report):
    runs = [_run("tree-1L", s, 0.16) for s in SEEDS] + [_run("self-1L", s, 0.15) for s in SEEDS]
    status, sentence = report.verdict(_document(runs))
    assert status.startswith("differs (tree-1L ≥ 99% in 0/5 seeds") and sentence.startswith("It does not")


def test_partial_results_name_unfinished_runs_with_their_steps_and_what_has_not_started(report):
    unfinished = {**_run("tree-1L", 61, 0.2), "steps": [100, 200], "accuracy": [0.1, 0.2]}
    unfinished.update(seconds=[10.0, 20.0], partial=True, steps_done=200, steps_total=30000)
    document = _document([_run("self-1L", 61, 0.15)], [unfinished])
    status, sentence = report.verdict(document)
    assert status == "not decided: 1 of 10 runs finished"
    assert "tree-1L seed 61 0.20 at step 200 (unfinished); self-1L seed 61 0.15 (finished)" in sentence
    text = report.section(document)
    assert (
        "| tree-1L | 61 | unfinished: step 200 of 30000 | 0.2000 (last window so far) | not by step 200 |"
        in text
    )
    assert "Not started (8 of 10): tree-1L (the authors' semantics) seed 62" in text
    paper_row, summary_row = report.rows(document)
    assert paper_row.startswith(report.ROW) and paper_row.count(" | ") == 3
    assert summary_row.startswith(report.ROW) and summary_row.endswith(
        "| not decided: 1 of 10 runs finished |"
    )


def test_only_the_marked_section_and_the_one_row_change(report):
    table = f"# t\n\n| a | b |\n{report.ROW}: old | old |\n| c | d |\n"
    text = f"{table}\n{report.BEGIN}\nold\n{report.END}\n\n## Next\n"
    out = report.replace_row(
        report.replace_block(text, f"{report.BEGIN}\nnew\n{report.END}"), f"{report.ROW}: x |"
    )
    assert (
        out
        == f"# t\n\n| a | b |\n{report.ROW}: x |\n| c | d |\n\n{report.BEGIN}\nnew\n{report.END}\n\n## Next\n"
    )
    with pytest.raises(ValueError, match="markers"):
        report.replace_block("no markers", "x")
    with pytest.raises(ValueError, match="one table row"):
        report.replace_row(text + f"{report.ROW}: twice |\n", "x")


def test_the_report_command_rebuilds_everything_from_what_exists(tmp_path, report):
    """End to end on a tiny sweep: one finished run, one unfinished (a checkpoint), one not started."""
    out = tmp_path / "poly-attention"
    directory = out / "results" / "authors_protocol"
    tasks = [SweepTask(m, "authors", 61, 200, 8) for m in ("tree-1L", "self-1L")]  # windows of 100
    tasks.append(SweepTask("tree-1L", "authors", 62, 200, 8))
    finished = run_task(tasks[0])
    result_path(directory, tasks[0]).parent.mkdir(parents=True)
    result_path(directory, tasks[0]).write_text(json.dumps({**finished, "sweep_task": asdict(tasks[0])}))
    from polyth.tasks.authors_protocol import train_authors

    checkpoint = directory / "checkpoints" / f"{tasks[1].key}.pt"
    train_authors("self-1L", "authors", 61, steps=101, batch=8, checkpoint=checkpoint, checkpoint_every=100)
    timing = _document([])["timing"]
    (directory / "timing.json").write_text(
        json.dumps({"timing": timing, "projection": _document([])["projection"]})
    )
    (out / "README.md").write_text(f"x\n{report.ROW} | | | |\n{report.BEGIN}\n{report.END}\ny\n")
    (tmp_path / "README.md").write_text(f"{report.ROW} | |\n")
    command = [sys.executable, str(PAPER / "train_composition.py"), "--protocol", "authors", "--report",
               "--out", str(out), "--steps", "200", "--batch", "8", "--seeds", "61", "62",
               "--models", "tree-1L", "self-1L", "--semantics", "authors"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    readme = (out / "README.md").read_text()
    assert readme.startswith("x\n" + report.ROW) and readme.endswith(f"{report.END}\ny\n")
    assert "| the authors' semantics | tree-1L | 61 | finished (200 steps) |" in readme
    assert "| the authors' semantics | self-1L | 61 | unfinished: step 100 of 200 |" in readme
    assert (
        "Not started (2 of 4): tree-1L (the authors' semantics) seed 62, "
        "self-1L (the authors' semantics) seed 62" in readme
    )
    assert "not decided: 1 of 4 runs finished" in (tmp_path / "README.md").read_text()
    solvability = (out / "solvability.md").read_text()
    assert "(unfinished: seed 61 at step 100 of 200:" in solvability
    aggregate = json.loads((out / "results" / "training_authors.json").read_text())
    assert [r["seed"] for r in aggregate["runs"]] == [61] and aggregate["in_progress"][0]["steps_done"] == 100
    assert sorted(p.name for p in out.glob("*.png")) == [
        f"composition_authors_accuracy_vs_{axis}.png" for axis in ("flops", "seconds", "steps")
    ]


def test_an_unfinished_run_whose_checkpoint_is_gone_is_taken_from_the_last_aggregate(tmp_path, report):
    """The checkpoints stay out of git: a copy of the results without them still shows the run."""
    import training_study

    task = SweepTask("tree-1L", "authors", 61, 30000, 1024)
    earlier = {"model": "tree-1L", "semantics": "authors", "seed": 61, "partial": True, "steps_done": 9500,
               "steps": [9500], "accuracy": [0.16], "seconds": [1.0e3]}  # fmt: skip
    document = training_study.authors_document([task], tmp_path, [], {}, 1, {"in_progress": [earlier]})
    assert document["pending"] == [task.key]
    assert document["in_progress"] == [
        {"mechanism": "path:3", "task": "compose:2", **earlier, "steps_total": 30000}
    ]
    assert training_study.authors_document([task], tmp_path, [], {}, 1)["in_progress"] == []
