"""The function-composition experiment of the poly-attention paper, with seeds, FLOPs and runtimes.

    python papers/poly-attention/train_composition.py [--quick] [--steps S] [--seeds K] [--models ...]

Chakrabarti, Pitassi, Alman 2026: 2-fold composition f2(f1(x)) in the paper's format
(sequence length 25 = two tables of 12 entries and the query; each token one-hot(value) ⊕
one-hot(index) ⊕ a 3-way type flag: ``composition(2, 12, b, fmt="paper")``), d_model 8, one
head, Adam with learning rate 1e-3, a fresh batch of 1024 examples per step, cross-entropy at
the last position. Models: one-layer tree (path x1x2 + x2x3) attention, one- and two-layer
self-attention, one-layer Strassen and one-layer 3-tensor attention (the runtime baselines).

Modes (each model trains on the same seeds 0 … K−1; equal training compute by default):
  full     5 seeds, batch 1024, each model trained for 1e11 operations (FLOPs; tree-1L 606
           steps, self-1L 847, self-2L 471, strassen-1L 158, tensor3-1L 101): about 15 minutes
           on the shared 2-core CPU of the development machine with one torch thread
  --quick  2 seeds × 20 steps of batch 128 (seconds; a smoke run of the whole pipeline),
           written to a temporary directory unless --out is given
  --steps S (the same steps for every model) / --flop-budget X / --seeds / --batch / --models
           override either mode.
  --lr / --attention-scale (default | sqrt | a number) / --d-model: a variant of the paper's
           protocol (lr 1e-3, scale 1/head_dim, d_model 8); a run with any of them writes
           results/training_variant.json and composition_variant_*.png, never training.json.

Writes results/training.json (every run's held-out accuracy curve, loss, operations per
step, median wall-clock per step, final accuracy on 4 fresh held-out batches; a summary per
model; and the wall-clock table: one training step of every model at batch 1024, measured
at the start of the same run) and
composition_accuracy_vs_steps.png, composition_accuracy_vs_flops.png (mean over seeds,
min–max band). Operations (FLOPs) are multiply-adds + exps from the cost engine, 3 × forward.
"""

from __future__ import annotations

from pathlib import Path

from training_study import load_or_run, parse_mode, plot_curves, print_tables

HERE = Path(__file__).resolve().parent
MODELS = ["tree-1L", "self-1L", "self-2L", "strassen-1L", "tensor3-1L"]
FULL = {"seeds": 5, "batch": 1024, "steps": None, "flop_budget": 1e11}
QUICK = {"seeds": 2, "batch": 128, "steps": 20, "flop_budget": None}


PAPER = {"lr": 1e-3, "attention_scale": "default", "d_model": 8}


def scale_argument(text: str):
    """--attention-scale: 'default' (each mechanism's own, 1/head_dim), 'sqrt' or a number."""
    return text if text in ("default", "sqrt") else float(text)


def variant_arguments(parser) -> None:
    parser.add_argument("--lr", type=float, default=PAPER["lr"], help="Adam learning rate (paper: 1e-3)")
    parser.add_argument(
        "--attention-scale",
        type=scale_argument,
        default=PAPER["attention_scale"],
        help="score scale: default (1/head_dim, the paper protocol), sqrt (1/sqrt(head_dim)) or a number",
    )
    parser.add_argument("--d-model", type=int, default=PAPER["d_model"], help="model width (paper: 8)")


def main() -> None:
    args, mode = parse_mode(__doc__.split("\n\n")[0], MODELS, FULL, QUICK, HERE, variant_arguments)
    setting = {"lr": args.lr, "attention_scale": args.attention_scale, "d_model": args.d_model}
    variant = setting != PAPER
    config = {"experiment": "compose:2, paper format" + (f", variant {setting}" if variant else "")}
    document = load_or_run(
        args,
        args.models,
        "compose:2",
        mode,
        args.out / "results" / ("training_variant.json" if variant else "training.json"),
        config,
        timing_batch=mode["batch"] if mode["mode"] == "quick" else FULL["batch"],
        lr=args.lr,
        d_model=args.d_model,
        heads=1,
        attention_scale=None if args.attention_scale == "default" else args.attention_scale,
        progress=True,
    )
    scale = {"default": "1/head_dim", "sqrt": "1/sqrt(head_dim)"}.get(
        args.attention_scale, args.attention_scale
    )
    title = (
        f"2-fold composition (n = 25, m = 12), d_model {args.d_model}, 1 head, "
        f"batch {document['config']['batch']};\nlr {args.lr:g}, scale {scale}; "
        f"mean and min–max over {document['config']['seeds']} seeds"
    )
    stem = "composition_variant" if variant else "composition"
    for path in plot_curves(document, args.out, stem, title, chance=1 / 12):
        print(f"wrote {path}")
    print_tables(document)


if __name__ == "__main__":
    main()
