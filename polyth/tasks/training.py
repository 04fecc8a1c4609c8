"""Training small transformers on polyadic tasks: the learning answer to "can this mechanism solve it?".

The function-composition experiment of Chakrabarti, Pitassi, Alman 2026 (poly-attention):
2-fold composition in the paper's format (sequence length 25, domain 12), d_model 8, one
head, Adam with learning rate 1e-3, a fresh batch of 1024 examples every step, cross-entropy
on the answer at the last position. The same loop learns Match3 and Match2 (Sanford, Hsu,
Telgarsky 2023) with a 0/1 cross-entropy at every position.

This is polyth's protocol; the authors' own (their model, loss and loop, 30000 steps) is
:mod:`polyth.tasks.authors_protocol`.

The models (:data:`MODELS`) are :class:`polyth.nn.transformer.Transformer` stacks of pre-norm
residual blocks whose attention is :class:`polyth.nn.PolyAttention` for a zoo mechanism, or
plain torch scaled-dot-product attention for the ``self-torch`` baselines.

Evaluation: every ``eval_every`` steps the model is scored on a fresh held-out batch (its own
seed stream, never used for training); the final accuracy is measured on
``FINAL_EVAL_BATCHES`` fresh held-out batches. Accuracy is the fraction of correct answers:
the last position's argmax for composition, every position's 0/1 argmax for Match tasks.

Operation (FLOP) accounting, per training step (:func:`count_operations`): one operation is
one multiply-add or one exponential, the cost engine's unit (:mod:`polyth.theory.cost`).

    forward per example = Σ_attention layers  heads · operation_count(plan, n, d_head, d_head).total
                        + Σ_linear layers     rows · in_features · out_features
    (plan = exact_plan(layer mechanism, causal); d_head the layer's head width, also dv)
    per step            = 3 · batch · forward per example

The attention term is the exact plan's count at ω = 3, the work of the algorithm that
:mod:`polyth.nn.elimination` follows (its constant factors differ: log-domain bookkeeping is not
counted, a GEMM may be chunked); the linear term counts the projections, MLP and classifier on every
row they are applied to; biases, layer norms, activations, residual additions, the loss and
the optimiser are not counted. The factor 3 is the usual convention: the backward pass costs
about twice the forward pass (a gradient for the inputs and one for the weights).

Wall-clock per step is the median over the run of the time of forward, backward and the
optimiser step (batch generation excluded). Torch's thread count is left as the environment
sets it (``OMP_NUM_THREADS`` / ``torch.set_num_threads``) unless ``threads`` is given.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from polyth.errors import InputError, NotAvailableError, NumericalError
from polyth.mechanism import Mechanism, zoo
from polyth.tasks import generators
from polyth.theory.cost import operation_count
from polyth.theory.plan import exact_plan

FINAL_EVAL_BATCHES = 4
PAPER_DOMAIN = 12  # the paper's experiment: 2-fold composition of functions [12] → [12], n = 25
TRAIN_STREAM, EVAL_STREAM = 0, 1  # numpy seed streams: np.random.default_rng([seed, stream])


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its attention (a zoo spec, or ``torch-self`` for plain torch SDPA) and depth."""

    name: str
    attention: str
    layers: int
    description: str

    @property
    def mechanism(self) -> Mechanism:
        """The attention mechanism (self-attention for the plain-torch baseline)."""
        return zoo.self_attention() if self.attention == "torch-self" else zoo.from_spec(self.attention)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("tree-1L", "path:3", 1, "one layer of tree (path) attention x1x2 + x2x3"),
        ModelSpec("self-1L", "self", 1, "one layer of self-attention x1x2 (PolyAttention)"),
        ModelSpec("self-2L", "self", 2, "two layers of self-attention x1x2 (PolyAttention)"),
        ModelSpec("self-torch-1L", "torch-self", 1, "one layer of self-attention (torch SDPA)"),
        ModelSpec("self-torch-2L", "torch-self", 2, "two layers of self-attention (torch SDPA)"),
        ModelSpec("strassen-1L", "strassen", 1, "one layer of Strassen attention x1x2 + x2x3 + x3x1"),
        ModelSpec("tensor3-1L", "tensor:3", 1, "one layer of 3-tensor attention x1x2x3"),
    )
}


def model_spec(name: str) -> ModelSpec:
    """The :data:`MODELS` entry called ``name``, else an InputError listing the names."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]


@dataclass(frozen=True)
class TaskSpec:
    """A task at a fixed size: how to sample it and how a model is scored on it.

    ``per_position``: targets at every position (Match tasks, 2 classes) rather than one
    answer at the last position (composition, ``domain`` classes).
    """

    name: str
    n: int
    domain: int
    fmt: str
    per_position: bool
    feature_dim: int
    n_classes: int
    sampler: Callable = field(repr=False, compare=False)

    def sample(self, batch: int, rng: np.random.Generator) -> generators.TaskBatch:
        return self.sampler(batch, rng)

    def describe(self) -> dict:
        return {"task": self.name, "n": self.n, "domain": self.domain, "fmt": self.fmt}


def task_spec(task: str, n: int | None = None, domain: int | None = None, fmt: str = "paper") -> TaskSpec:
    """The task named ``task`` at size ``n``.

    ``compose:R``: R-fold composition in format ``fmt`` with domain m = ``domain``, else
    m = (n − 1)/R, else the paper's m = 12 (n = R·m + 1). ``match3`` / ``match2``: n tokens
    (default 16) in Z_M with M = ``domain``, else :func:`generators.default_modulus`.
    """
    if not isinstance(task, str):
        raise InputError(f"a task is a string such as 'compose:2' or 'match3', got {task!r}")
    if task.startswith("compose:"):
        try:
            r = int(task.split(":", 1)[1])
        except ValueError:
            raise InputError(
                f"a composition task is 'compose:R' with an integer R ≥ 1, got {task!r}"
            ) from None
        if r < 1:
            raise InputError(f"a composition task needs R ≥ 1, got {task!r}")
        if domain is None:
            if n is None:
                domain = PAPER_DOMAIN
            elif (n - 1) % r or n <= r:
                raise InputError(f"{task} needs n = R·m + 1 tokens; n = {n} is not of that form (R = {r})")
            else:
                domain = (n - 1) // r

        def sampler(batch, rng, r=r, m=domain):
            return generators.composition(r, m, batch, seed=rng, fmt=fmt)

        per_position, n_classes = False, domain
    elif task in ("match3", "match2"):
        n = 16 if n is None else n
        domain = generators.default_modulus(n, task) if domain is None else domain
        make = generators.match3 if task == "match3" else generators.match2

        def sampler(batch, rng, n=n, modulus=domain, make=make):
            return make(n, modulus, batch, seed=rng)

        per_position, n_classes, fmt = True, 2, "plain"
    else:
        raise InputError(f"unknown task {task!r}: use 'compose:R' (R = 1, 2, …), 'match3' or 'match2'")
    probe = sampler(1, np.random.default_rng(0))
    if n is not None and probe.n != n:
        raise InputError(f"{task} with domain {domain} has {probe.n} tokens, not n = {n}")
    return TaskSpec(task, probe.n, domain, fmt, per_position, probe.features().shape[-1], n_classes, sampler)


@dataclass(frozen=True)
class TrainingOperations:
    """Operations (multiply-adds + exponentials) of one training step; see the module docstring."""

    attention_per_example: int
    linear_per_example: int
    batch: int

    @property
    def forward_per_example(self) -> int:
        return self.attention_per_example + self.linear_per_example

    @property
    def per_step(self) -> int:
        return 3 * self.batch * self.forward_per_example


def attention_operations(
    mechanism: Mechanism, n: int, d_head: int, dv_head: int, heads: int, causal: str | None = None
) -> int:
    """Forward operations of one attention layer on one example: heads × the exact plan's count."""
    return heads * operation_count(exact_plan(mechanism, causal), n, d_head, dv_head).total


def count_operations(model, n: int, feature_dim: int, batch: int) -> TrainingOperations:
    """Count one training step's operations by running the model once on one example.

    Forward hooks see every ``nn.Linear`` call (rows × in × out multiply-adds) and every
    attention layer (:class:`polyth.nn.PolyAttention`, the plain-torch self-attention or the
    authors' layer :class:`polyth.tasks.authors_model.AuthorsAttention`:
    :func:`attention_operations` with the layer's mechanism, heads and head width), so the
    count follows what the model really runs.
    """
    import torch
    from torch import nn

    from polyth.nn.poly_attention import PolyAttention, TorchSelfAttention
    from polyth.tasks.authors_model import AuthorsAttention

    linear = attention = 0

    def count_linear(module, inputs, output):
        nonlocal linear
        rows = inputs[0].numel() // module.in_features
        linear += rows * module.in_features * module.out_features

    def count_attention(module, inputs, output):
        nonlocal attention
        tokens = inputs[0].shape[-2]
        hd = module.head_dim
        attention += attention_operations(module.mechanism, tokens, hd, hd, module.heads, module.causal)

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(count_linear))
        elif isinstance(module, PolyAttention | TorchSelfAttention | AuthorsAttention):
            hooks.append(module.register_forward_hook(count_attention))
    try:
        with torch.no_grad():
            model(torch.zeros(1, n, feature_dim))
    finally:
        for hook in hooks:
            hook.remove()
    return TrainingOperations(attention, linear, batch)


@dataclass
class TrainingRun:
    """One training run: held-out accuracy curve, costs and the final accuracy.

    ``steps[i]`` is the number of optimiser steps taken when ``accuracy[i]`` (a fresh held-out
    batch) and ``loss[i]`` (the mean training loss of the steps since the previous point)
    were recorded; ``step_loss`` is the training loss of every step.
    """

    model: str
    mechanism: str
    task: str
    seed: int
    steps: list[int]
    loss: list[float]
    accuracy: list[float]
    step_loss: list[float]
    flops_per_step: int
    seconds_per_step: float
    final_accuracy: float
    config: dict

    def steps_to(self, threshold: float = 0.99) -> int | None:
        """The first recorded step whose held-out accuracy reached ``threshold`` (None if never)."""
        return next((s for s, a in zip(self.steps, self.accuracy, strict=True) if a >= threshold), None)

    def to_dict(self, with_step_loss: bool = False) -> dict:
        """The run in the schema of ``papers/poly-attention/results/training.json``."""
        out = asdict(self)
        if not with_step_loss:
            out.pop("step_loss")
        out["flops"] = [s * self.flops_per_step for s in self.steps]
        out["steps_to_99"] = self.steps_to(0.99)
        return out


def resolve_attention_scale(attention_scale, head_dim: int) -> float | None:
    """The score scale a model's attention uses: None keeps each mechanism's own (1/head_dim
    for PolyAttention, the paper protocol's default; 1/sqrt(head_dim) for the torch baseline),
    ``"sqrt"`` is 1/sqrt(head_dim) (the scale of standard attention code), a positive number is
    used as it is."""
    if attention_scale is None or attention_scale == "default":
        return None
    if attention_scale == "sqrt":
        return 1 / math.sqrt(head_dim)
    if (
        isinstance(attention_scale, bool)
        or not isinstance(attention_scale, int | float)
        or not math.isfinite(attention_scale)
        or attention_scale <= 0
    ):
        raise InputError(
            f"attention_scale must be None, 'default', 'sqrt' or a positive number, got {attention_scale!r}"
        )
    return float(attention_scale)


def build_model(spec: ModelSpec, task: TaskSpec, d_model: int, heads: int, attention_scale=None):
    """The model ``spec`` sized for ``task`` (torch's global seed decides its initial weights);
    ``attention_scale``: see :func:`resolve_attention_scale`."""
    from polyth.nn.transformer import Transformer

    attention = spec.attention if spec.attention == "torch-self" else spec.mechanism
    return Transformer(
        attention,
        task.feature_dim,
        d_model,
        heads=heads,
        layers=spec.layers,
        n_positions=task.n,
        n_classes=task.n_classes,
        attention_scale=resolve_attention_scale(attention_scale, d_model // heads),
    )


def _loss_and_correct(logits, targets, per_position: bool):
    """Cross-entropy (at the last position, or at every position) and the correct-answer mask."""
    from torch.nn import functional as F

    if not per_position:
        logits = logits[:, -1, :]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return loss, logits.argmax(-1) == targets


def _step(model, optimizer, features, targets, per_position: bool) -> float:
    """One Adam step on one batch; the batch's loss before the step (NaN/inf skip the update)."""
    optimizer.zero_grad(set_to_none=True)
    loss, _ = _loss_and_correct(model(features), targets, per_position)
    value = loss.item()
    if math.isfinite(value):
        loss.backward()
        optimizer.step()
    return value


@dataclass(frozen=True)
class StepTiming:
    """The measured wall-clock and the counted operations of one training step of a model."""

    model: str
    batch: int
    seconds: float
    flops_per_step: int
    forward_operations_per_example: int
    attention_operations_per_example: int
    parameters: int


def time_training_step(
    model_name: str,
    task: str | TaskSpec,
    batch: int = 1024,
    d_model: int = 8,
    heads: int = 1,
    repeats: int = 5,
    attention_scale=None,
) -> StepTiming:
    """Median wall-clock of ``repeats`` training steps (forward, backward, Adam) after one warm-up step.

    A fresh model (seed 0) on fresh batches: the per-step cost of ``train`` without its
    evaluations, for a timing table of several models measured in one process.
    """
    torch = _torch()
    task_ = task if isinstance(task, TaskSpec) else task_spec(task)
    batch = _positive(batch, "batch")
    torch.manual_seed(0)
    model = build_model(
        model_spec(model_name),
        task_,
        _positive(d_model, "d_model"),
        _positive(heads, "heads"),
        attention_scale,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    operations = count_operations(model, task_.n, task_.feature_dim, batch)
    rng = np.random.default_rng([0, TRAIN_STREAM])
    seconds = []
    for _ in range(_positive(repeats, "repeats") + 1):
        features, targets = task_.sample(batch, rng).torch()
        start = time.perf_counter()
        _step(model, optimizer, features, targets, task_.per_position)
        seconds.append(time.perf_counter() - start)
    return StepTiming(
        model_name,
        batch,
        statistics.median(seconds[1:]),
        operations.per_step,
        operations.forward_per_example,
        operations.attention_per_example,
        sum(p.numel() for p in model.parameters()),
    )


def evaluate(model, task: TaskSpec, batch: int, rng: np.random.Generator, batches: int = 1) -> float:
    """Accuracy of ``model`` on ``batches`` fresh batches of ``task`` drawn from ``rng``."""
    import torch

    correct = total = 0
    model.eval()
    with torch.no_grad():
        for _ in range(batches):
            features, targets = task.sample(batch, rng).torch()
            _, hits = _loss_and_correct(model(features), targets, task.per_position)
            correct += int(hits.sum())
            total += hits.numel()
    model.train()
    return correct / total


def _torch():
    """torch, or a NotAvailableError saying how to install it (training is the optional torch extra)."""
    try:
        import torch
    except ImportError:
        raise NotAvailableError("training needs torch: pip install 'polyth[torch]'") from None
    return torch


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def train(
    model_name: str,
    task: str | TaskSpec,
    steps: int,
    seed: int = 0,
    batch: int = 1024,
    lr: float = 1e-3,
    d_model: int = 8,
    heads: int = 1,
    eval_every: int | None = None,
    progress: bool = True,
    n: int | None = None,
    threads: int | None = None,
    attention_scale=None,
) -> TrainingRun:
    """Train the model ``model_name`` (:data:`MODELS`) on ``task`` for ``steps`` Adam steps.

    Every step draws a fresh batch of ``batch`` examples from the task generator (seed stream
    ``[seed, 0]``); held-out batches come from stream ``[seed, 1]``; ``torch.manual_seed(seed)``
    fixes the initial weights, so a seed reproduces a run exactly (at a fixed thread count).
    ``eval_every`` defaults to ``steps // 50`` (at least 1). ``attention_scale``: None (the
    paper protocol: each mechanism's own scale), ``"sqrt"`` (1/sqrt(head_dim)) or a number;
    see :func:`resolve_attention_scale`. A non-finite loss raises
    :class:`~polyth.errors.NumericalError`.
    """
    torch = _torch()
    from tqdm.auto import tqdm

    spec = model_spec(model_name)
    task_ = task if isinstance(task, TaskSpec) else task_spec(task, n=n)
    steps, batch, d_model, heads = (
        _positive(v, name)
        for v, name in ((steps, "steps"), (batch, "batch"), (d_model, "d_model"), (heads, "heads"))
    )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if d_model % heads:
        raise InputError(f"d_model = {d_model} must be divisible by heads = {heads}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a positive number, got {lr!r}")
    eval_every = max(1, steps // 50) if eval_every is None else _positive(eval_every, "eval_every")
    if threads is not None:
        torch.set_num_threads(_positive(threads, "threads"))

    torch.manual_seed(seed)
    model = build_model(spec, task_, d_model, heads, attention_scale)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    operations = count_operations(model, task_.n, task_.feature_dim, batch)
    train_rng = np.random.default_rng([seed, TRAIN_STREAM])
    eval_rng = np.random.default_rng([seed, EVAL_STREAM])

    recorded_steps, losses, accuracies, step_loss, seconds = [], [], [], [], []
    previous = 0
    bar = tqdm(total=steps, desc=f"{model_name} {task_.name} seed {seed}", disable=not progress, leave=False)
    try:
        for step in range(1, steps + 1):
            features, targets = task_.sample(batch, train_rng).torch()
            start = time.perf_counter()
            value = _step(model, optimizer, features, targets, task_.per_position)
            seconds.append(time.perf_counter() - start)
            if not math.isfinite(value):
                raise NumericalError(
                    f"{model_name} on {task_.name}: the training loss is {value} at step {step}"
                )
            step_loss.append(value)
            if step % eval_every == 0 or step == steps:
                losses.append(float(np.mean(step_loss[previous:])))
                recorded_steps.append(step)
                previous = step
                accuracies.append(evaluate(model, task_, batch, eval_rng))
                bar.set_postfix(loss=f"{losses[-1]:.3f}", acc=f"{accuracies[-1]:.3f}")
            bar.update(1)
    finally:
        bar.close()
    final = evaluate(model, task_, batch, eval_rng, batches=FINAL_EVAL_BATCHES)
    config = {
        **task_.describe(),
        "steps": steps,
        "batch": batch,
        "lr": lr,
        "d_model": d_model,
        "heads": heads,
        "attention_scale": model.mechanism.scale_for(d_model // heads),
        "attention_scale_option": "default" if attention_scale is None else attention_scale,
        "layers": spec.layers,
        "eval_every": eval_every,
        "final_eval_examples": FINAL_EVAL_BATCHES * batch,
        "torch_threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_operations_per_example": operations.forward_per_example,
        "attention_operations_per_example": operations.attention_per_example,
    }
    return TrainingRun(
        model=model_name,
        mechanism=spec.attention,
        task=task_.name,
        seed=seed,
        steps=recorded_steps,
        loss=losses,
        accuracy=accuracies,
        step_loss=step_loss,
        flops_per_step=operations.per_step,
        seconds_per_step=statistics.median(seconds),
        final_accuracy=final,
        config=config,
    )


def summarise(runs: list[TrainingRun], threshold: float = 0.99) -> dict:
    """Mean, standard deviation, min and max of the final accuracies, and the steps to ``threshold``."""
    finals = [r.final_accuracy for r in runs]
    reached = [r.steps_to(threshold) for r in runs]
    return {
        "model": runs[0].model,
        "task": runs[0].task,
        "seeds": [r.seed for r in runs],
        "final_accuracy_mean": float(np.mean(finals)),
        "final_accuracy_sd": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
        "final_accuracy_min": min(finals),
        "final_accuracy_max": max(finals),
        "solved_seeds": sum(a >= threshold for a in finals),
        f"steps_to_{round(threshold * 100)}": reached,
        "flops_per_step": runs[0].flops_per_step,
        "seconds_per_step_median": float(np.median([r.seconds_per_step for r in runs])),
    }
