"""Element-wise attention (Feng 2025) on this machine: Taylor form against its exact form, measured.

    python benchmarks/bench_elementwise.py [--quick] [--out papers/elementwise-attention]

D = 64 channels, CPU, one numba thread, the fastest of 5 runs after a warm-up. Writes
``results.json`` and PNGs into ``--out``:

  headline  n = 4096, order t = 6, entries of q, k uniform in [−B, B]: the Taylor form
            (polyth_kernels.elementwise_attention, O(t·n·D)) against the exact per-channel softmax
            (polyth.attention method="exact": the cost engine's plan, O(n²·D)), float32; the
            speedup and the max error against the float64 exact output, beside the engine's
            bound (polyth.theory.taylor.taylor_error).
  order     the error against the order t = 2 … 12 at B = 0.5 and 1 (n = 1024), measured and bound.
  time      causal Taylor form for n = 32 … 65536 and the causal exact form (n ≤ 8192):
            fitted exponents of n (over n ≥ 1024) and the crossover (the smallest
            measured n from which the Taylor form is faster at every larger n).
  decode    4096 tokens one at a time: the recurrent step (constant O(t·D) state) and the
            exact form with a KV cache (per channel: scores against all cached keys);
            the ratio of the median per-token time of the last 512 tokens to the first 512's.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one thread each: robust on a shared, loaded machine

import argparse
import json
import time
from pathlib import Path

import numpy as np
from timing import best_time, plot_decode_per_token

import polyth
import polyth_kernels
from polyth import zoo
from polyth.theory.taylor import taylor_error

D = 64


def sample(rng, n, B, dtype=np.float32):
    return [rng.uniform(-B, B, (n, D)).astype(dtype) for _ in range(3)]


def exact(q, k, v, causal=None, dtype=None):
    return polyth.attention(zoo.elementwise(6), [q, k], {2: v}, method="exact", causal=causal, dtype=dtype)


def taylor(q, k, v, order, causal=False):
    return polyth_kernels.elementwise_attention(q[None], k[None], v[None], order, causal=causal)[0]


def headline(n, order, Bs):
    rng = np.random.default_rng(0)
    rows = []
    for B in Bs:
        q, k, v = sample(rng, n, B)
        t_exact = best_time(lambda q=q, k=k, v=v: exact(q, k, v))
        t_taylor = best_time(lambda q=q, k=k, v=v: taylor(q, k, v, order))
        reference = exact(q, k, v, dtype=np.float64)
        error = float(np.abs(taylor(q, k, v, order) - reference).max())
        bound = taylor_error(zoo.elementwise(order), B)[1] * float(np.abs(v).max())
        rows.append(
            {
                "n": n,
                "order": order,
                "B": B,
                "exact_s": t_exact,
                "taylor_s": t_taylor,
                "speedup": t_exact / t_taylor,
                "max_error": error,
                "error_bound": bound,
            }
        )
        print(
            f"n={n} t={order} B={B}: exact {t_exact * 1e3:.1f} ms, taylor {t_taylor * 1e3:.2f} ms, "
            f"speedup {t_exact / t_taylor:.0f}x, error {error:.2e} (bound {bound:.2e})"
        )
    return rows


def error_vs_order(n, orders, Bs):
    rng = np.random.default_rng(1)
    rows = []
    for B in Bs:
        q, k, v = sample(rng, n, B, np.float64)
        reference = exact(q, k, v)
        for order in orders:
            error = float(np.abs(taylor(q, k, v, order) - reference).max())
            bound = taylor_error(zoo.elementwise(order), B)[1] * float(np.abs(v).max())
            rows.append({"B": B, "order": order, "max_error": error, "error_bound": bound})
            print(f"B={B} t={order:2d}: error {error:.2e}  bound {bound:.2e}")
    return rows


def time_scaling(ns, exact_max, order, fit_from):
    rng = np.random.default_rng(2)
    rows = []
    for n in ns:
        q, k, v = sample(rng, n, 0.5)
        t_taylor = best_time(lambda q=q, k=k, v=v: taylor(q, k, v, order, True))
        t_exact = best_time(lambda q=q, k=k, v=v: exact(q, k, v, "prefix"), 1) if n <= exact_max else None
        rows.append({"n": n, "taylor_s": t_taylor, "exact_s": t_exact})
        print(
            f"n={n:6d}  taylor {t_taylor * 1e3:9.2f} ms   "
            f"exact {'-' if t_exact is None else f'{t_exact * 1e3:9.1f} ms'}"
        )
    fitted = [r for r in rows if r["n"] >= fit_from]
    fit = np.polyfit(np.log([r["n"] for r in fitted]), np.log([r["taylor_s"] for r in fitted]), 1)[0]
    ex = [r for r in rows if r["exact_s"] is not None]
    ex_fitted = [r for r in ex if r["n"] >= fit_from]
    fit_exact = np.polyfit(np.log([r["n"] for r in ex_fitted]), np.log([r["exact_s"] for r in ex_fitted]), 1)[
        0
    ]
    found = None
    for r in reversed(ex):  # the smallest n from which the Taylor form wins at every larger n
        if r["taylor_s"] >= r["exact_s"]:
            break
        found = r["n"]
    return rows, float(fit), float(fit_exact), found


def decoding(tokens, order):
    rng = np.random.default_rng(3)
    q, k, v = (rng.uniform(-0.5, 0.5, (tokens, D)).astype(np.float32) for _ in range(3))
    M, N, shift = polyth_kernels.elementwise_state(1, D, order, np.float32)
    polyth_kernels.elementwise_step(M.copy(), N.copy(), shift.copy(), q[:1], k[:1], v[:1], order)  # compile
    recurrent = []
    for i in range(tokens):
        start = time.perf_counter()
        _, M, N, shift = polyth_kernels.elementwise_step(
            M, N, shift, q[i : i + 1], k[i : i + 1], v[i : i + 1], order
        )
        recurrent.append(time.perf_counter() - start)
    cache_k = np.empty((tokens, D), np.float32)
    cache_v = np.empty((tokens, D), np.float32)
    cached = []
    for i in range(tokens):
        start = time.perf_counter()
        cache_k[i], cache_v[i] = k[i], v[i]
        s = -((cache_k[: i + 1] - q[i]) ** 2)  # (i+1, D): one softmax per channel
        w = np.exp(s - s.max(axis=0))
        _ = (w * cache_v[: i + 1]).sum(axis=0) / w.sum(axis=0)
        cached.append(time.perf_counter() - start)
    block = min(512, tokens // 4)

    def ratio(times):  # medians: one scheduler stall of a shared machine must not decide it
        return float(np.median(times[-block:]) / np.median(times[:block]))

    return recurrent, cached, ratio(recurrent), ratio(cached), block


def plots(out: Path, order_rows, time_rows, recurrent, cached):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for B in sorted({r["B"] for r in order_rows}):
        rows = [r for r in order_rows if r["B"] == B]
        line = ax.semilogy(
            [r["order"] for r in rows], [r["max_error"] for r in rows], "o-", label=f"measured, B = {B}"
        )
        ax.semilogy(
            [r["order"] for r in rows],
            [r["error_bound"] for r in rows],
            "--",
            color=line[0].get_color(),
            label=f"engine bound, B = {B}",
        )
    ax.set_xlabel("Taylor order t")
    ax.set_ylabel("max |Taylor − exact|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "error_vs_order.png", dpi=120)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.loglog(
        [r["n"] for r in time_rows],
        [r["taylor_s"] for r in time_rows],
        "o-",
        label="causal Taylor form (t = 6)",
    )
    ex = [r for r in time_rows if r["exact_s"] is not None]
    ax.loglog([r["n"] for r in ex], [r["exact_s"] for r in ex], "s-", label="causal exact form (plan)")
    ax.set_xlabel("sequence length n")
    ax.set_ylabel(f"seconds (D = {D})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "time_vs_n.png", dpi=120)
    plot_decode_per_token(
        out / "decode_per_token.png", {"Taylor, recurrent step": recurrent, "exact, KV cache": cached}
    )
    plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--out", default="papers/elementwise-attention", help="folder for results.json and PNGs"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        n_head, n_order, ns, exact_max, tokens, fit_from = 512, 256, [256, 512, 1024], 1024, 256, 256
    else:
        n_head, n_order, ns, exact_max, tokens = 4096, 1024, [2**p for p in range(5, 17)], 8192, 4096
        fit_from = 1024  # small n only locate the crossover
    order = 6
    head = headline(n_head, order, [0.5, 1.0])
    order_rows = error_vs_order(n_order, [2, 4, 6, 8, 10, 12], [0.5, 1.0])
    time_rows, exponent, exact_exponent, crossover = time_scaling(ns, exact_max, order, fit_from)
    recurrent, cached, ratio_rec, ratio_cached, block = decoding(tokens, order)
    report = polyth.bounds(zoo.elementwise(order)).to_dict()
    results = {
        "device": "cpu, float32, 1 numba thread",
        "D": D,
        "headline": head,
        "error_vs_order": order_rows,
        "time": time_rows,
        "taylor_time_exponent": exponent,
        "fitted_from_n": fit_from,
        "exact_time_exponent": exact_exponent,
        "crossover_n": crossover,
        "decode_tokens": tokens,
        "decode_block": block,
        "decode_ratio_last_first_recurrent": ratio_rec,
        "decode_ratio_last_first_exact_kv": ratio_cached,
        "engine": {
            "exact_cost": report["exact"]["cost"],
            "taylor_cost": report["approx"]["low_rank_cost"],
            "recurrent_state": report["decoding"]["state_size"],
            "recurrent_per_token": report["decoding"]["per_token"],
            "exact_kv_cache_per_token": report["decoding"]["kv_cache_per_token"],
        },
    }
    print(
        f"taylor exponent {exponent:.3f}, exact {exact_exponent:.2f}, crossover n = {crossover}; "
        f"decode last/first {block}: recurrent {ratio_rec:.2f}, exact KV {ratio_cached:.2f}"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plots(out, order_rows, time_rows, recurrent, cached)


if __name__ == "__main__":
    main()
