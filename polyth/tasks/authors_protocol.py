"""The authors' training protocol for 2-fold composition, re-implemented from reading their code.

Chakrabarti, Pitassi, Alman 2026, repository sayaksc/tree_attention_simple (commit 0f9f6727),
``src/train_vocab_seed.py`` with ``model/training_config.yaml``; the model is
:mod:`polyth.tasks.authors_model`.

**Task.** Two functions f1, f2: [12] → [12] and a start value x, uniform and independent; the
target is f2(f1(x)). 25 tokens: token 12·k + j carries (f_{k+1}(j), j), the last token (x, 24).
Each token becomes a 27-wide vector onehot(type, 3) ⊕ onehot(value, 12) ⊕ onehot(position, 12),
the type being 0, 1 for the two tables and 2 for the start token. The start token's position
24 is out of range for a one-hot of width 12: on the CPU ``F.one_hot`` raises, on Apple's MPS
backend (the config's device) it silently returns zeros (pytorch/pytorch#170507), so its
position block is 0 here. A fresh batch of 1024 instances every step; the instances are drawn
by :func:`polyth.tasks.generators.composition` from ``numpy.random.default_rng([seed, step])``
(the same distribution as the code's torch generators seeded seed·10⁴ + step + 1, and every
step's batch is fixed by (seed, step), so a resumed run sees the batches it would have seen).

**Loop.** 30000 steps of Adam with learning rate 10⁻³ and torch's default betas (0.9, 0.999):
the code calls ``torch.optim.Adam(params, lr=..., weight_decay=0)``, so the config's
``beta2: 0.98`` and ``label_smoothing: 0.1`` are never read. The loss is
:func:`~polyth.tasks.authors_model.binary_cross_entropy_loss` of the last position's
probabilities; the prediction is their argmax over the 27 outputs. The accuracy of each step is
measured on that step's batch before the update, as the code does: the batch is fresh, so it is a
held-out accuracy of the current model. Recorded per window of ``window`` steps (100, figure1.py's
sampling gap): the mean accuracy and loss (102 400 examples per point) and the training
wall-clock so far; ``final_accuracy`` is the last window's mean, ``steps_to_99`` the end of the
first window whose mean is ≥ 0.99.

**Costs.** Operations per step (multiply-adds + exponentials) from the cost engine, as
:func:`polyth.tasks.training.count_operations` counts them (3 × batch × forward) for what runs:
the last layer past its attention at the last position only (``last_only``, the same loss and
gradient; ``forward_operations_per_example_every_position`` is the code's count, every position).
Not counted: the clamp check (two more n × n score tables per tree layer) and the FFN forward
recomputed in the backward pass of a chunked layer (self-2L's first). Wall-clock per step is
forward, backward and the Adam step (the batch's generation excluded), median over the run.

A run can be stopped and resumed: with ``checkpoint`` set, the model, the optimiser and the
records are saved every ``checkpoint_every`` steps and a later call continues from there and
produces the same run as one without interruption (at the same torch thread count).

    >>> run = train_authors("tree-1L", "authors", seed=61, steps=2, batch=8, window=1)
    >>> run.steps
    [1, 2]
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from polyth.errors import InputError, NumericalError
from polyth.tasks import generators
from polyth.tasks.authors_model import ARCHITECTURES, SEMANTICS, VOCAB

SEQ_LEN, DOMAIN, FOLD = 25, 12, 2  # training_config.yaml: seq_len 25; n = seq_len // fold = 12; fold 2
STEPS, BATCH, LR = 30000, 1024, 1e-3
WINDOW = 100  # figure1.py plots every 100th step
SOLVED = 0.99
MECHANISM_SPEC = {"tree": "path:3", "self": "self"}  # the zoo polynomial each model's attention is built on


def authors_features(batch: generators.TaskBatch) -> np.ndarray:
    """(b, 25, 27) float32: onehot(type, 3) ⊕ onehot(value, 12) ⊕ onehot(position, 12); the start
    token's position block is 0 (its position 24 has no one-hot of width 12, see the module)."""
    m, r = batch.domain, batch.kinds - 1
    position = np.where(batch.kind == r, -1, batch.index)  # -1 matches no class: a zero block
    blocks = [(batch.kind, r + 1), (batch.symbols, m), (position, m)]
    return np.concatenate([(v[..., None] == np.arange(size)).astype(np.float32) for v, size in blocks], -1)


def sample(batch: int, seed: int, step: int):
    """Step ``step``'s batch of run ``seed``: (features (b, 25, 27), targets (b,)) as torch tensors."""
    import torch

    task = generators.composition(FOLD, DOMAIN, batch, seed=np.random.default_rng([seed, step]), fmt="paper")
    return torch.from_numpy(authors_features(task)), torch.from_numpy(task.targets)


@dataclass
class AuthorsRun:
    """One run of the authors' protocol: curves per window, costs, and what the summaries need."""

    model: str
    semantics: str
    mechanism: str
    task: str
    seed: int
    steps: list[int]
    accuracy: list[float]
    loss: list[float]
    seconds: list[float]  # training wall-clock (forward, backward, Adam) summed up to each window's end
    flops_per_step: int
    seconds_per_step: float
    final_accuracy: float
    clamped_steps: int
    config: dict = field(default_factory=dict)

    def steps_to(self, threshold: float = SOLVED) -> int | None:
        """The end of the first window whose mean accuracy reached ``threshold`` (None if never)."""
        return next((s for s, a in zip(self.steps, self.accuracy, strict=True) if a >= threshold), None)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["flops"] = [s * self.flops_per_step for s in self.steps]
        out["steps_to_99"] = self.steps_to(SOLVED)
        return out


def _checked(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def train_authors(
    model_name: str,
    semantics: str,
    seed: int,
    steps: int = STEPS,
    batch: int = BATCH,
    window: int = WINDOW,
    threads: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    progress: bool = False,
) -> AuthorsRun:
    """Train ``model_name`` (tree-1L, self-1L, self-2L) under ``semantics`` ("authors" or
    "definition-2.2") with the authors' protocol for ``steps`` steps; see the module docstring.

    ``threads``: torch threads (None: torch's setting). ``checkpoint``: a file to save to every
    ``checkpoint_every`` steps (rounded up to whole windows) and to resume from; the caller
    removes it once the result is stored (:func:`polyth.tasks.sweep.run_sweep` does), so that
    a result lost in transit costs at most the steps since the last save. A non-finite loss
    raises :class:`~polyth.errors.NumericalError`.
    """
    import torch
    from tqdm.auto import tqdm

    from polyth.tasks.authors_model import authors_model, binary_cross_entropy_loss
    from polyth.tasks.training import count_operations

    if model_name not in ARCHITECTURES:
        raise InputError(f"unknown model {model_name!r}: choose one of {', '.join(ARCHITECTURES)}")
    if semantics not in SEMANTICS:
        raise InputError(f"semantics must be one of {', '.join(SEMANTICS)}, got {semantics!r}")
    steps, batch, window = (
        _checked(v, k) for v, k in ((steps, "steps"), (batch, "batch"), (window, "window"))
    )
    every = window * math.ceil(_checked(checkpoint_every, "checkpoint_every") / window)
    if threads is not None:
        torch.set_num_threads(_checked(threads, "threads"))

    model = authors_model(model_name, seed, semantics, SEQ_LEN, last_only=True)
    operations = count_operations(model, SEQ_LEN, VOCAB, batch)
    every_position = count_operations(authors_model(model_name, seed, semantics, SEQ_LEN), SEQ_LEN, VOCAB, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    state = {
        "step": 0,
        "steps": [],
        "accuracy": [],
        "loss": [],
        "seconds": [],
        "step_seconds": [],
        "clamped": 0,
    }
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=False)
        if (saved["model_name"], saved["semantics"], saved["seed"], saved["batch"], saved["window"]) != (
            model_name,
            semantics,
            seed,
            batch,
            window,
        ):
            raise InputError(
                f"the checkpoint {path} belongs to another run; remove it or choose another path"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
    load_start = os.getloadavg()[0]

    hits, losses = [], []
    bar = tqdm(
        total=steps, initial=state["step"], desc=f"{model_name} {semantics} seed {seed}", disable=not progress
    )
    try:
        for step in range(state["step"] + 1, steps + 1):
            features, targets = sample(batch, seed, step)
            start = time.perf_counter()
            clamped_before = model.clamped_calls
            optimizer.zero_grad(set_to_none=True)
            probabilities = model(features)
            loss = binary_cross_entropy_loss(probabilities, targets)
            value = loss.item()
            if not math.isfinite(value):
                raise NumericalError(
                    f"{model_name} ({semantics}, seed {seed}): the loss is {value} at step {step}"
                )
            loss.backward()
            optimizer.step()
            state["step_seconds"].append(time.perf_counter() - start)
            state["clamped"] += model.clamped_calls > clamped_before
            hits.append(float((probabilities[:, -1].argmax(-1) == targets).float().mean()))
            losses.append(value)
            if step % window == 0 or step == steps:
                state["steps"].append(step)
                state["accuracy"].append(float(np.mean(hits)))
                state["loss"].append(float(np.mean(losses)))
                state["seconds"].append(float(np.sum(state["step_seconds"])))
                hits, losses = [], []
                state["step"] = step
                bar.set_postfix(acc=f"{state['accuracy'][-1]:.3f}")
                if path is not None and step % every == 0 and step < steps:
                    _save(path, model, optimizer, state, model_name, semantics, seed, batch, window)
            bar.update(1)
    finally:
        bar.close()
    kind = ARCHITECTURES[model_name][0]
    run = AuthorsRun(
        model=model_name,
        semantics=semantics,
        mechanism=MECHANISM_SPEC[kind],
        task=f"compose:{FOLD}",
        seed=seed,
        steps=state["steps"],
        accuracy=state["accuracy"],
        loss=state["loss"],
        seconds=state["seconds"],
        flops_per_step=operations.per_step,
        seconds_per_step=statistics.median(state["step_seconds"]),
        final_accuracy=state["accuracy"][-1],
        clamped_steps=state["clamped"],
        config={
            "protocol": "authors",
            "attention": repr(model.layers[0].attention.mechanism),
            "n": SEQ_LEN,
            "domain": DOMAIN,
            "steps": steps,
            "batch": batch,
            "lr": LR,
            "betas": list(optimizer.defaults["betas"]),
            "window": window,
            "layers": ARCHITECTURES[model_name][1],
            "parameters": sum(p.numel() for p in model.parameters()),
            "forward_operations_per_example": operations.forward_per_example,
            "attention_operations_per_example": operations.attention_per_example,
            "forward_operations_per_example_every_position": every_position.forward_per_example,
            "torch_threads": torch.get_num_threads(),
            "load_average_start": round(load_start, 2),
            "load_average_end": round(os.getloadavg()[0], 2),
        },
    )
    return run


def _save(path: Path, model, optimizer, state, model_name, semantics, seed, batch, window) -> None:
    """Write the checkpoint atomically (a partial file never replaces a good one)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": state,
            "model_name": model_name,
            "semantics": semantics,
            "seed": seed,
            "batch": batch,
            "window": window,
        },
        partial,
    )
    os.replace(partial, path)


def progress_of(checkpoint: str | os.PathLike) -> dict | None:
    """The curves of an unfinished run as its checkpoint holds them (None without a checkpoint):
    model, semantics, mechanism, task, seed, the steps done and the windows recorded so far, in
    the fields of :meth:`AuthorsRun.to_dict` that a plot needs, with ``partial: True``."""
    import torch

    from polyth.tasks.authors_model import authors_model
    from polyth.tasks.training import count_operations

    path = Path(checkpoint)
    if not path.exists():
        return None
    saved = torch.load(path, weights_only=False)
    state, name, batch = saved["state"], saved["model_name"], saved["batch"]
    model = authors_model(name, saved["seed"], saved["semantics"], SEQ_LEN, last_only=True)
    per_step = count_operations(model, SEQ_LEN, VOCAB, batch).per_step
    return {
        "model": name,
        "semantics": saved["semantics"],
        "mechanism": MECHANISM_SPEC[ARCHITECTURES[name][0]],
        "task": f"compose:{FOLD}",
        "seed": saved["seed"],
        "partial": True,
        "steps_done": state["step"],
        "steps": state["steps"],
        "accuracy": state["accuracy"],
        "loss": state["loss"],
        "seconds": state["seconds"],
        "flops": [s * per_step for s in state["steps"]],
        "seconds_per_step": statistics.median(state["step_seconds"]),
        "clamped_steps": state["clamped"],
    }


def time_steps(
    models: list[str], semantics: list[str], batch: int = BATCH, repeats: int = 5, threads: int = 1
) -> list[dict]:
    """Seconds per training step of every (model, semantics), all measured in this process.

    One warm-up step each, then ``repeats`` rounds in which every model takes one step in turn,
    so that every row sees the same machine load. Per row: the median, minimum and maximum
    wall-clock of its repeats (``seconds``: what a run takes at this load) and the median CPU
    time of the process (``cpu_seconds``: the work itself, which the load barely changes), with
    the load average before and after. Steps as in :func:`train_authors` (one torch thread by
    default, the share of one sweep worker).
    """
    import torch

    from polyth.tasks.authors_model import authors_model, binary_cross_entropy_loss
    from polyth.tasks.training import count_operations

    torch.set_num_threads(_checked(threads, "threads"))
    cells = []
    for name in models:
        for s in semantics:
            model = authors_model(name, 0, s, SEQ_LEN, last_only=True)
            optimizer = torch.optim.Adam(model.parameters(), lr=LR)
            flops = count_operations(model, SEQ_LEN, VOCAB, batch).per_step
            cells.append(
                {
                    "model": name,
                    "semantics": s,
                    "net": (model, optimizer),
                    "flops": flops,
                    "times": [],
                    "cpu": [],
                }
            )
    load_start = os.getloadavg()[0]
    for step in range(_checked(repeats, "repeats") + 1):
        for cell in cells:
            model, optimizer = cell["net"]
            features, targets = sample(batch, 0, step + 1)
            start, cpu = time.perf_counter(), time.process_time()
            optimizer.zero_grad(set_to_none=True)
            binary_cross_entropy_loss(model(features), targets).backward()
            optimizer.step()
            cell["times"].append(time.perf_counter() - start)
            cell["cpu"].append(time.process_time() - cpu)
    load_end = os.getloadavg()[0]
    return [
        {
            "model": cell["model"],
            "semantics": cell["semantics"],
            "batch": batch,
            "seconds": statistics.median(cell["times"][1:]),
            "seconds_min": min(cell["times"][1:]),
            "seconds_max": max(cell["times"][1:]),
            "cpu_seconds": statistics.median(cell["cpu"][1:]),
            "repeats": repeats,
            "flops_per_step": cell["flops"],
            "torch_threads": threads,
            "load_average_start": round(load_start, 2),
            "load_average_end": round(load_end, 2),
        }
        for cell in cells
    ]


def project(timing: list[dict], tasks, workers: int) -> dict:
    """What ``tasks`` (objects with model, semantics, steps) cost at the rates of ``timing``.

    ``cpu_hours``: the CPU time (``cpu_seconds`` per step); ``wall_hours``: the wall-clock of
    running them in order on ``workers`` workers at the measured wall-clock per step (each task
    goes to the first worker free, as a Dask scheduler assigns them), so at the load of the
    measurement; ``wall_hours_idle``: the same at one full core per worker (the CPU time)."""

    def schedule(rate: str) -> tuple[float, float]:
        per_step = {(row["model"], row["semantics"]): row[rate] for row in timing}
        free = [0.0] * _checked(workers, "workers")
        total = 0.0
        for t in tasks:
            duration = t.steps * per_step[(t.model, t.semantics)]
            free[free.index(min(free))] += duration
            total += duration
        return total / 3600, max(free) / 3600

    cpu_hours, idle = schedule("cpu_seconds")
    return {
        "tasks": len(tasks),
        "cpu_hours": cpu_hours,
        "wall_hours": schedule("seconds")[1],
        "wall_hours_idle": idle,
    }


def separation(tree: list[float], self_: list[float]) -> dict:
    """Does tree-1L separate from self-1L as the paper's figure shows?

    The paper's figure: tree attention reaches ≥ 99% while one-layer self-attention does not.
    Here, over seeds: the final accuracies of tree-1L against self-1L, one-sided exact
    permutation test of the Mann–Whitney U statistic (all splits of the pooled seeds, ties
    handled; scipy.stats.permutation_test), plus the number of seeds at ≥ 99% for each. Verdict
    **reproduces** when p < 0.05, tree-1L reaches 99% in a majority of its seeds and self-1L
    in a minority; **does not reproduce** otherwise; **INCONCLUSIVE** when too few seeds
    finished for the test to reach p < 0.05 at all (1/C(k + l, k) ≥ 0.05).
    """
    from scipy import stats

    k, l = len(tree), len(self_)
    out = {"tree_seeds": k, "self_seeds": l}
    if k == 0 or l == 0 or 1 / math.comb(k + l, k) >= 0.05:
        out.update(verdict="INCONCLUSIVE", reason=f"{k} tree-1L and {l} self-1L seeds: too few for p < 0.05")
        return out

    def u_statistic(x, y):
        return stats.mannwhitneyu(x, y, alternative="greater").statistic

    test = stats.permutation_test(
        (tree, self_),
        u_statistic,
        permutation_type="independent",
        alternative="greater",
        n_resamples=math.inf,
    )
    tree_solved, self_solved = sum(a >= SOLVED for a in tree), sum(a >= SOLVED for a in self_)
    reproduces = test.pvalue < 0.05 and tree_solved > k / 2 and self_solved < l / 2
    out.update(
        u=float(test.statistic),
        u_max=k * l,
        p=float(test.pvalue),
        tree_solved=tree_solved,
        self_solved=self_solved,
        verdict="reproduces" if reproduces else "does not reproduce",
    )
    return out


def summarise_runs(runs: list[dict]) -> dict:
    """Per (semantics, model): seeds, final accuracies, steps to 99%; per semantics: :func:`separation`."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in sorted(runs, key=lambda r: r["seed"]):
        groups.setdefault((run["semantics"], run["model"]), []).append(run)
    models = [
        {
            "semantics": s,
            "model": m,
            "seeds": [r["seed"] for r in group],
            "final_accuracy": [r["final_accuracy"] for r in group],
            "steps_to_99": [r["steps_to_99"] for r in group],
            "solved_seeds": sum(r["final_accuracy"] >= SOLVED for r in group),
            "seconds_per_step_median": statistics.median(r["seconds_per_step"] for r in group),
            "flops_per_step": group[0]["flops_per_step"],
            "clamped_steps": [r["clamped_steps"] for r in group],
        }
        for (s, m), group in groups.items()
    ]
    finals = {(row["semantics"], row["model"]): row["final_accuracy"] for row in models}
    tests = {
        s: separation(finals.get((s, "tree-1L"), []), finals.get((s, "self-1L"), []))
        for s in sorted({row["semantics"] for row in models}, key=SEMANTICS.index)
    }
    return {"models": models, "separation": tests}
