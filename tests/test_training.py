"""The training loop of polyth.tasks.training and ``polyth tasks train``: seconds-long smoke runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from polyth import zoo  # noqa: E402
from polyth.cli import main as cli  # noqa: E402
from polyth.errors import InputError  # noqa: E402
from polyth.tasks import training  # noqa: E402
from polyth.tasks.training import (  # noqa: E402
    MODELS,
    attention_operations,
    build_model,
    count_operations,
    task_spec,
    train,
)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: runs are then bit-reproducible and do not fight the other tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_smoke_run_loss_decreases():
    # Match2 at n = 6 (M = 9): a pairwise task one layer of self-attention learns quickly
    run = train("self-torch-1L", "match2", 60, seed=0, batch=128, lr=1e-2, d_model=8, n=6, progress=False)
    early, late = np.mean(run.step_loss[:10]), np.mean(run.step_loss[-10:])
    assert late < early - 0.05, (early, late)
    assert run.steps[-1] == 60 and len(run.accuracy) == len(run.steps) == len(run.loss)
    assert 0.0 <= run.final_accuracy <= 1.0
    assert run.flops_per_step > 0 and run.seconds_per_step > 0


def test_composition_run_on_a_poly_attention_model_records_curves():
    run = train("tree-1L", "compose:2", 4, seed=1, batch=32, eval_every=2, progress=False)
    assert run.steps == [2, 4] and run.task == "compose:2" and run.mechanism == "path:3"
    assert run.config["n"] == 25 and run.config["domain"] == 12
    assert len(run.step_loss) == 4 and all(np.isfinite(run.step_loss))
    row = run.to_dict()
    assert row["flops"] == [2 * run.flops_per_step, 4 * run.flops_per_step]
    assert "step_loss" not in row and json.dumps(row)


def test_same_seed_reproduces_a_run_and_another_seed_does_not():
    first, again, other = (
        train("self-1L", "compose:2", 5, seed=s, batch=16, eval_every=5, progress=False) for s in (3, 3, 4)
    )
    assert first.step_loss == again.step_loss
    assert first.accuracy == again.accuracy and first.final_accuracy == again.final_accuracy
    assert first.step_loss != other.step_loss


def self_attention_operations(n: int, d: int) -> int:
    """By hand, the cost engine's model: scores n²·d, n² exps, n²·(d + 1) accumulations, n·d divisions."""
    return n * n * d + n * n + n * n * (d + 1) + n * d


def test_operations_equal_a_hand_count_for_a_tiny_model():
    n, features, dim, classes, batch = 5, 7, 4, 3, 10
    task = training.TaskSpec("hand", n, 3, "plain", True, features, classes, sampler=None)
    model = build_model(MODELS["self-1L"], task, dim, heads=1)
    hidden = 4 * dim  # the Transformer's MLP width (mlp_ratio 4)
    linear_per_token = (
        features * dim  # embedding of the features
        + dim * 2 * dim  # query and key projections (the two input slots)
        + dim * dim  # value projection
        + dim * dim  # output projection
        + dim * hidden
        + hidden * dim  # MLP
        + dim * classes  # classifier
    )
    attention = self_attention_operations(n, dim)
    assert attention == attention_operations(zoo.self_attention(), n, dim, dim, heads=1)
    count = count_operations(model, n, features, batch)
    assert count.linear_per_example == n * linear_per_token
    assert count.attention_per_example == attention
    assert count.per_step == 3 * batch * (n * linear_per_token + attention)


def test_two_heads_and_two_layers_count_each_attention_layer():
    task = task_spec("match3", n=6)
    one = count_operations(build_model(MODELS["self-1L"], task, 8, heads=2), 6, task.feature_dim, 1)
    two = count_operations(build_model(MODELS["self-2L"], task, 8, heads=2), 6, task.feature_dim, 1)
    assert one.attention_per_example == 2 * self_attention_operations(6, 4)
    assert two.attention_per_example == 2 * one.attention_per_example


def test_plain_torch_baseline_is_priced_as_self_attention():
    task = task_spec("match2", n=6)
    poly = count_operations(build_model(MODELS["self-1L"], task, 8, 1), 6, task.feature_dim, 4)
    plain = count_operations(build_model(MODELS["self-torch-1L"], task, 8, 1), 6, task.feature_dim, 4)
    assert poly == plain


def test_cli_train_json_in_process(capsys, tmp_path):
    out = tmp_path / "runs.json"
    argv = ["tasks", "train", "self-torch-1L", "match2", "--n", "6", "--steps", "3", "--seeds", "2"]
    argv += ["--batch", "16", "--json", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in document["runs"]] == [0, 1]
    assert {
        "model",
        "task",
        "steps",
        "loss",
        "accuracy",
        "flops_per_step",
        "seconds_per_step",
        "final_accuracy",
    } <= set(document["runs"][0])
    assert document["summary"][0]["model"] == "self-torch-1L"
    assert json.loads(out.read_text()) == document


def test_cli_text_report(capsys):
    argv = ["tasks", "train", "self-1L", "compose:2", "--steps", "2", "--batch", "8", "--no-progress"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "final accuracy" in text and "operations per step" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tasks", "train", "nope-1L", "match2"], "unknown model"),
        (["tasks", "train", "self-1L", "sorting"], "unknown task"),
        (["tasks", "train", "self-1L", "compose:2", "--n", "24"], "n = R·m + 1"),
        (["tasks", "train", "self-1L", "match2", "--steps", "0"], "steps must be a positive integer"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_arguments_raise_input_errors():
    with pytest.raises(InputError, match="divisible by heads"):
        train("self-1L", "match2", 1, d_model=6, heads=4, n=6, progress=False)
    with pytest.raises(InputError, match="lr"):
        train("self-1L", "match2", 1, lr=-1.0, n=6, progress=False)
    with pytest.raises(InputError, match="seed"):
        train("self-1L", "match2", 1, seed=-2, n=6, progress=False)


def test_task_spec_sizes():
    paper = task_spec("compose:2")
    assert (paper.n, paper.domain, paper.feature_dim, paper.n_classes) == (25, 12, 27, 12)
    assert task_spec("compose:3", n=16).domain == 5
    match = task_spec("match3", n=8)
    assert match.per_position and match.n_classes == 2 and match.feature_dim == match.domain


def test_time_training_step_reports_the_counted_operations():
    task = task_spec("match2", n=6)
    timing = training.time_training_step("self-1L", task, batch=8, d_model=8, heads=1, repeats=2)
    model = build_model(MODELS["self-1L"], task, 8, 1)
    assert timing.seconds > 0 and timing.batch == 8
    assert timing.flops_per_step == count_operations(model, 6, task.feature_dim, 8).per_step
    assert timing.parameters == sum(p.numel() for p in model.parameters())


def test_attention_scale_option_sets_the_mechanisms_scale():
    task = task_spec("match2", n=6)
    default = build_model(MODELS["tree-1L"], task, 8, 2)
    assert default.mechanism.scale_for(4) == pytest.approx(1 / 4)  # the paper protocol: 1/head_dim
    sqrt = build_model(MODELS["tree-1L"], task, 8, 2, attention_scale="sqrt")
    assert sqrt.mechanism.scale_for(4) == pytest.approx(0.5)
    assert build_model(MODELS["self-torch-1L"], task, 8, 1, 0.25).mechanism.scale_for(8) == 0.25
    run = train("self-1L", "match2", 2, batch=8, n=6, progress=False, attention_scale="sqrt")
    assert run.config["attention_scale"] == pytest.approx(1 / np.sqrt(8))
    assert run.config["attention_scale_option"] == "sqrt"
    for bad in ("cube", -1.0, float("nan"), True):
        with pytest.raises(InputError, match="attention_scale"):
            train("self-1L", "match2", 1, n=6, progress=False, attention_scale=bad)
