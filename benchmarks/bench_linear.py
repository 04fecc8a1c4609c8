"""Linear attention (Katharopoulos et al. 2020) on this machine: the paper's scaling claims, measured.

    python benchmarks/bench_linear.py [--quick] [--out papers/linear-attention]

float32, d = dv = 64, one head, CPU, one thread (numba and torch); every time is the fastest of 5 runs
after a warm-up. Writes ``results.json`` and three PNGs into ``--out``:

  time      causal linear attention (polyth_kernels.linear_attention: chunked prefix sums) for
            n = 128 … 65536 and torch's causal SDPA (n ≤ 16384: quadratic); the fitted
            exponent of n over n = 1024 … 65536 (least squares on log t vs log n) and the
            crossover length (the smallest measured n from which linear attention is faster
            at every larger n).
  decode    4096 tokens decoded one at a time: the recurrent step (polyth_kernels.linear_step,
            constant state) and softmax with a KV cache (numpy: scores against the cached
            keys, softmax, weighted values); per-token times and the ratio of the median per-token
            time of the last 512 tokens to that of the first 512.
  memory    bytes that autograd keeps for the backward pass of one causal layer at
            n = 16384 (and smaller n): polyth.nn.linear_attention (chunked backward) and
            softmax attention that materialises the n × n weights (the 2020 baseline).
  costs     the per-token costs the cost engine derives (polyth.bounds), beside the timings.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one thread each: robust on a shared, loaded machine

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_time, plot_decode_per_token

import polyth
import polyth_kernels
from polyth import zoo
from polyth.verify.fit import fit_exponent

D = 64


def time_scaling(ns, sdpa_max, fit_from):
    rng = np.random.default_rng(0)
    rows = []
    for n in ns:
        q, k, v = (rng.standard_normal((1, n, D)).astype(np.float32) for _ in range(3))
        linear = best_time(lambda q=q, k=k, v=v: polyth_kernels.linear_attention(q, k, v, causal=True))
        sdpa = None
        if n <= sdpa_max:
            tq, tk, tv = (torch.from_numpy(x)[None] for x in (q, k, v))
            with torch.no_grad():
                sdpa = best_time(
                    lambda tq=tq, tk=tk, tv=tv: torch.nn.functional.scaled_dot_product_attention(
                        tq, tk, tv, is_causal=True
                    )
                )
        rows.append({"n": n, "linear_s": linear, "sdpa_causal_s": sdpa})
        print(
            f"n={n:6d}  linear {linear * 1e3:9.2f} ms   "
            f"sdpa {'-' if sdpa is None else f'{sdpa * 1e3:9.2f} ms'}"
        )
    fitted = [r for r in rows if r["n"] >= fit_from]
    exponent = fit_exponent([r["n"] for r in fitted], [r["linear_s"] for r in fitted]).exponent
    sdpa_rows = [r for r in rows if r["sdpa_causal_s"] is not None]
    sdpa_exponent = fit_exponent(
        [r["n"] for r in sdpa_rows[-3:]], [r["sdpa_causal_s"] for r in sdpa_rows[-3:]]
    ).exponent
    return rows, exponent, sdpa_exponent, crossover_length(sdpa_rows, "linear_s", "sdpa_causal_s")


def crossover_length(rows, fast: str, slow: str):
    """The smallest measured n from which ``fast`` is faster than ``slow`` at every larger n."""
    found = None
    for r in reversed(rows):
        if r[fast] >= r[slow]:
            break
        found = r["n"]
    return found


def decoding(tokens):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((tokens, D)).astype(np.float32) for _ in range(3))
    fq, fk = polyth_kernels.feature_map(q), polyth_kernels.feature_map(k)
    S, z = polyth_kernels.linear_state(1, D, D, np.float32)
    polyth_kernels.linear_step(S.copy(), z.copy(), fq[:1], fk[:1], v[:1])  # compile
    recurrent = []
    for i in range(tokens):
        start = time.perf_counter()
        _, S, z = polyth_kernels.linear_step(S, z, fq[i : i + 1], fk[i : i + 1], v[i : i + 1], 1e-6)
        recurrent.append(time.perf_counter() - start)
    cache_k = np.empty((tokens, D), np.float32)
    cache_v = np.empty((tokens, D), np.float32)
    softmax = []
    for i in range(tokens):
        start = time.perf_counter()
        cache_k[i], cache_v[i] = k[i], v[i]
        s = cache_k[: i + 1] @ q[i] / np.float32(np.sqrt(D))
        w = np.exp(s - s.max())
        _ = (w @ cache_v[: i + 1]) / w.sum()
        softmax.append(time.perf_counter() - start)
    block = min(512, tokens // 4)

    def ratio(times):  # medians: one scheduler stall of a shared machine must not decide it
        return float(np.median(times[-block:]) / np.median(times[:block]))

    return recurrent, softmax, ratio(recurrent), ratio(softmax), block


def softmax_materialised(q, k, v):
    n = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) / D**0.5
    scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def memory(ns):
    from polyth import nn as pnn

    rows = []
    for n in ns:
        q, k, v = (torch.randn(1, n, D, requires_grad=True) for _ in range(3))
        linear = pnn.saved_bytes(lambda a, b, c: pnn.linear_attention(a, b, c, causal=True), q, k, v)
        softmax = pnn.saved_bytes(softmax_materialised, q, k, v)
        rows.append({"n": n, "linear_bytes": linear, "softmax_bytes": softmax})
        print(
            f"n={n:6d}  kept for backward: linear {linear / 2**20:8.2f} MiB   "
            f"softmax {softmax / 2**20:9.2f} MiB"
        )
    return rows


def engine_costs():
    report = polyth.bounds(zoo.linear()).to_dict()
    return {
        "linear_exact_cost": report["exact"]["cost"],
        "linear_exponent": report["exact"]["exponent"],
        "recurrent_state": report["decoding"]["state_size"],
        "recurrent_per_token": report["decoding"]["per_token"],
        "softmax_kv_cache_per_token": report["decoding"]["kv_cache_per_token"],
    }


def plots(out: Path, rows, recurrent, softmax, mem):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.loglog(
        [r["n"] for r in rows], [r["linear_s"] for r in rows], "o-", label="causal linear (polyth, cpu)"
    )
    sd = [r for r in rows if r["sdpa_causal_s"] is not None]
    ax.loglog(
        [r["n"] for r in sd], [r["sdpa_causal_s"] for r in sd], "s-", label="causal softmax (torch SDPA)"
    )
    ax.set_xlabel("sequence length n")
    ax.set_ylabel("seconds (d = dv = 64, float32)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "time_vs_n.png", dpi=120)
    plot_decode_per_token(
        out / "decode_per_token.png", {"linear, recurrent step": recurrent, "softmax, KV cache": softmax}
    )
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.loglog(
        [r["n"] for r in mem],
        [r["linear_bytes"] / 2**20 for r in mem],
        "o-",
        label="linear (chunked backward)",
    )
    ax.loglog(
        [r["n"] for r in mem],
        [r["softmax_bytes"] / 2**20 for r in mem],
        "s-",
        label="softmax (n × n weights)",
    )
    ax.set_xlabel("sequence length n")
    ax.set_ylabel("MiB kept for the backward pass")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "memory_vs_n.png", dpi=120)
    plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", default="papers/linear-attention", help="folder for results.json and PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    if args.quick:
        ns, sdpa_max, tokens, mem_ns, fit_from = [256, 512, 1024, 2048], 2048, 512, [256, 1024], 256
    else:
        ns, sdpa_max, tokens, mem_ns = [2**p for p in range(7, 17)], 16384, 4096, [1024, 4096, 16384]
        fit_from = 1024  # the fitted range of the issue: n = 1024 … 65536
    rows, exponent, sdpa_exponent, crossover = time_scaling(ns, sdpa_max, fit_from)
    recurrent, softmax, ratio_rec, ratio_soft, block = decoding(tokens)
    mem = memory(mem_ns)
    results = {
        "device": "cpu, float32, 1 thread (numba and torch)",
        "d": D,
        "time": rows,
        "linear_time_exponent": exponent,
        "fitted_from_n": fit_from,
        "sdpa_time_exponent_last3": sdpa_exponent,
        "crossover_n_vs_sdpa": crossover,
        "decode_tokens": tokens,
        "decode_block": block,
        "decode_ratio_last_first_recurrent": ratio_rec,
        "decode_ratio_last_first_softmax_kv": ratio_soft,
        "decode_mean_us_recurrent": float(np.mean(recurrent) * 1e6),
        "decode_mean_us_softmax_kv": float(np.mean(softmax) * 1e6),
        "memory": mem,
        "engine": engine_costs(),
    }
    print(
        f"linear exponent {exponent:.3f} (SDPA {sdpa_exponent:.2f}); crossover n = {crossover}; "
        f"decode last/first {block}: recurrent {ratio_rec:.2f}, softmax KV {ratio_soft:.2f}"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plots(out, rows, recurrent, softmax, mem)


if __name__ == "__main__":
    main()
