"""Match3 learned by one layer of 3-tensor and Strassen attention, against self-attention.

    python papers/poly-attention/train_match3.py [--quick] [--steps S] [--seeds K] [--models ...]

Match3 (Sanford, Hsu, Telgarsky 2023): x ∈ Z_M^n, target_i = 1 iff some j, k have
x_i + x_j + x_k ≡ 0 (mod M), a 0/1 answer at every position (input: one-hot(x_i), positions
are not needed: the task is permutation-equivariant). 3-tensor and Strassen attention solve
it with one layer (Sanford et al. 2023; Kozachinskiy et al. 2025: 2 heads, d = 8), which
one-layer self-attention cannot at size n^o(1). Here n = 8 tokens with M = 46 =
default_modulus(8, "match3") (about half the targets are 1), d_model 16, 2 heads, Adam lr
1e-3, a fresh batch every step.

Modes:
  full     5 seeds × 2000 steps of batch 512 per model (about an hour on a 2-core CPU)
  --quick  2 seeds × 20 steps of batch 64 (seconds), written to a temporary directory
  --steps / --flop-budget X (equal training compute) / --seeds / --batch / --models override
           either mode. The wall-clock table times one step of every model at batch 512.

Writes results/training_match3.json (same schema as training.json, task "match3") and
training_match3_accuracy_vs_steps.png, training_match3_accuracy_vs_flops.png. Accuracy is
per position (the fraction of the n answers that are right) on fresh held-out batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from training_study import load_or_run, parse_mode, plot_curves, print_tables

from polyth.tasks.training import task_spec

HERE = Path(__file__).resolve().parent
MODELS = ["tensor3-1L", "strassen-1L", "self-1L"]
N_TOKENS = 8
D_MODEL = 16
HEADS = 2
FULL = {"seeds": 5, "batch": 512, "steps": 2000, "flop_budget": None}
QUICK = {"seeds": 2, "batch": 64, "steps": 20, "flop_budget": None}


def main() -> None:
    args, mode = parse_mode(__doc__.split("\n\n")[0], MODELS, FULL, QUICK, HERE)
    task = task_spec("match3", n=N_TOKENS)
    config = {"experiment": f"match3, n = {task.n}, M = {task.domain}"}
    document = load_or_run(
        args,
        args.models,
        task,
        mode,
        args.out / "results" / "training_match3.json",
        config,
        timing_batch=mode["batch"] if mode["mode"] == "quick" else FULL["batch"],
        lr=1e-3,
        d_model=D_MODEL,
        heads=HEADS,
        progress=True,
    )
    title = (
        f"Match3 (n = {task.n}, M = {task.domain}), d_model {D_MODEL}, {HEADS} heads, "
        f"batch {document['config']['batch']};\n"
        f"mean and min–max over {document['config']['seeds']} seeds"
    )
    positives = float(task.sample(8192, np.random.default_rng(0)).targets.mean())
    chance = max(positives, 1 - positives)  # always answering the majority class
    for path in plot_curves(document, args.out, "training_match3", title, chance, "majority class"):
        print(f"wrote {path}")
    print_tables(document)


if __name__ == "__main__":
    main()
