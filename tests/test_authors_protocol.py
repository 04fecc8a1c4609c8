"""The authors' protocol (polyth.tasks.authors_protocol): token layout, loop, costs, resume, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from polyth.errors import InputError  # noqa: E402
from polyth.mechanism import Mechanism  # noqa: E402
from polyth.tasks import authors_protocol as ap  # noqa: E402
from polyth.tasks.sweep import SweepTask  # noqa: E402
from polyth.tasks.training import attention_operations  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tokens_are_type_value_position_and_the_target_is_f2_of_f1_of_x():
    features, targets = ap.sample(64, seed=61, step=1)
    x = features.numpy()
    assert x.shape == (64, 25, 27) and set(np.unique(x)) == {0.0, 1.0}
    kind, value, position = x[..., :3], x[..., 3:15], x[..., 15:]
    assert (kind.sum(-1) == 1).all() and (value.sum(-1) == 1).all()
    np.testing.assert_array_equal(kind.argmax(-1)[0], [0] * 12 + [1] * 12 + [2])
    np.testing.assert_array_equal(position[:, :24].argmax(-1), np.tile(np.arange(12), (64, 2)))
    assert (position[:, 24] == 0).all()  # the start token's position 24 has no one-hot of width 12
    f1, f2, start = value[:, :12].argmax(-1), value[:, 12:24].argmax(-1), value[:, 24].argmax(-1)
    rows = np.arange(64)
    np.testing.assert_array_equal(targets.numpy(), f2[rows, f1[rows, start]])


def test_each_step_has_its_own_fixed_batch():
    a, b, c = ap.sample(8, 61, 5), ap.sample(8, 61, 5), ap.sample(8, 61, 6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_operations_per_step_equal_a_hand_count_of_what_runs():
    run = ap.train_authors("tree-1L", "authors", seed=0, steps=1, batch=4, window=1)
    d, ff, n, v = 8, 1024, 25, 27
    linear_all = n * (v * d + 5 * (d * d))  # embedding; Q1, Q2, Q3, V2, V3 at every position
    linear_last = d * ff + ff * d + d * v  # the FFN and the readout at the last position only
    code_tree = Mechanism.from_polynomial("x1*x2 + x2*x3", values=("x1", "x3"), scale=1 / (2 * math.sqrt(d)))
    attention = attention_operations(code_tree, n, d, d, heads=1)
    assert run.config["attention_operations_per_example"] == attention
    assert run.flops_per_step == 3 * 4 * (linear_all + linear_last + attention)
    every_position = linear_all + n * (d * ff + ff * d + d * v) + attention
    assert run.config["forward_operations_per_example_every_position"] == every_position


def test_a_short_run_records_windows_and_the_code_optimiser():
    run = ap.train_authors("self-1L", "definition-2.2", seed=3, steps=7, batch=16, window=3)
    assert run.steps == [3, 6, 7] and len(run.accuracy) == len(run.loss) == len(run.seconds) == 3
    assert run.final_accuracy == run.accuracy[-1] and run.seconds == sorted(run.seconds)
    assert run.config["betas"] == [0.9, 0.999] and run.config["lr"] == 1e-3
    assert run.mechanism == "self" and run.task == "compose:2" and run.clamped_steps == 0
    row = run.to_dict()
    assert row["flops"] == [s * run.flops_per_step for s in run.steps] and "steps_to_99" in row


def test_steps_to_99_is_the_end_of_the_first_window_at_99_percent():
    run = ap.AuthorsRun(
        "m", "authors", "self", "compose:2", 0, [100, 200, 300], [0.5, 0.991, 0.98], [], [], 1, 0.1, 0.98, 0
    )
    assert run.steps_to() == 200 and run.steps_to(0.999) is None


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path, monkeypatch):
    whole = ap.train_authors("tree-1L", "authors", seed=1, steps=6, batch=8, window=2)
    checkpoint = tmp_path / "run.pt"
    real_sample = ap.sample

    def interrupted(batch, seed, step):
        if step == 5:
            raise KeyboardInterrupt
        return real_sample(batch, seed, step)

    monkeypatch.setattr(ap, "sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ap.train_authors(
            "tree-1L",
            "authors",
            seed=1,
            steps=6,
            batch=8,
            window=2,
            checkpoint=checkpoint,
            checkpoint_every=2,
        )
    assert checkpoint.exists()
    progress = ap.progress_of(checkpoint)  # what a report draws of the unfinished run
    assert (progress["partial"], progress["steps_done"], progress["steps"]) == (True, 4, [2, 4])
    assert progress["accuracy"] == whole.accuracy[:2] and progress["loss"] == whole.loss[:2]
    assert (progress["mechanism"], progress["task"], progress["seed"]) == ("path:3", "compose:2", 1)
    assert progress["flops"] == [2 * whole.flops_per_step, 4 * whole.flops_per_step]
    assert ap.progress_of(tmp_path / "none.pt") is None
    monkeypatch.setattr(ap, "sample", real_sample)
    resumed = ap.train_authors(
        "tree-1L", "authors", seed=1, steps=6, batch=8, window=2, checkpoint=checkpoint
    )
    assert (resumed.steps, resumed.accuracy, resumed.loss) == (whole.steps, whole.accuracy, whole.loss)
    ap._save(checkpoint, *_model_and_optimiser(), _state(), "tree-1L", "authors", 1, 8, 2)
    with pytest.raises(InputError, match="another run"):
        ap.train_authors("self-1L", "authors", seed=1, steps=6, batch=8, window=2, checkpoint=checkpoint)


def _model_and_optimiser():
    from polyth.tasks.authors_model import authors_model

    model = authors_model("tree-1L", 1)
    return model, torch.optim.Adam(model.parameters())


def _state():
    return {
        "step": 2,
        "steps": [2],
        "accuracy": [0.1],
        "loss": [1.0],
        "seconds": [0.1],
        "step_seconds": [0.05] * 2,
        "clamped": 0,
    }


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="unknown model"):
        ap.train_authors("strassen-1L", "authors", 0, steps=1)
    with pytest.raises(InputError, match="semantics"):
        ap.train_authors("tree-1L", "definition", 0, steps=1)
    with pytest.raises(InputError, match="steps"):
        ap.train_authors("tree-1L", "authors", 0, steps=0)


def test_separation_verdicts():
    solved, unsolved = [1.0, 0.999, 0.995, 1.0, 0.992], [0.2, 0.19, 0.25, 0.21, 0.3]
    out = ap.separation(solved, unsolved)
    assert out["verdict"] == "reproduces" and out["u"] == 25 and out["p"] == pytest.approx(1 / 252)
    assert ap.separation(solved[:2], unsolved[:2])["verdict"] == "INCONCLUSIVE"  # p ≥ 1/6 at best
    assert ap.separation([0.5] * 5, unsolved)["verdict"] == "does not reproduce"  # above, but not solved
    mixed = ap.separation([1.0, 0.2, 0.21, 0.19, 0.2], unsolved)
    assert mixed["verdict"] == "does not reproduce" and mixed["p"] > 0.05


def test_projection_schedules_in_order_on_the_first_free_worker():
    timing = [
        {"model": "a", "semantics": "s", "seconds": 2.0, "cpu_seconds": 1.0},
        {"model": "b", "semantics": "s", "seconds": 1.0, "cpu_seconds": 0.5},
    ]
    tasks = [
        SweepTask("a", "s", 0, 3600 * 3, 1),
        SweepTask("b", "s", 0, 3600 * 2, 1),
        SweepTask("b", "s", 1, 3600 * 2, 1),
    ]
    # CPU 3 + 1 + 1 hours; on two workers the b runs share one while a runs: the longest is a
    assert ap.project(timing, tasks, workers=2) == {
        "tasks": 3,
        "cpu_hours": 5.0,
        "wall_hours": 6.0,
        "wall_hours_idle": 3.0,
    }
    assert ap.project(timing, tasks, workers=1)["wall_hours_idle"] == 5.0


def test_time_steps_measures_every_model_and_semantics():
    rows = ap.time_steps(["self-1L"], ["authors", "definition-2.2"], batch=8, repeats=1)
    assert [(r["model"], r["semantics"]) for r in rows] == [
        ("self-1L", "authors"),
        ("self-1L", "definition-2.2"),
    ]
    assert all(r["seconds_min"] <= r["seconds"] <= r["seconds_max"] and r["flops_per_step"] > 0 for r in rows)
    assert all(0 < r["cpu_seconds"] for r in rows)
