"""Time the CPU flash edge pass against torch on 2 threads (a script, not a test).

    python benchmarks/bench_edge.py [--n 4096] [--d 64] [--repeats 7]

Measures, in float32 at n queries = n keys, D = C = d, after a warm-up:
  edge      one polyth_kernels.edge_pass (s = A·Kᵀ + bias, logz, softmax·W)
  causal    the same with causal=True, beside sdpa_causal (SDPA with is_causal=True)
  path3     path-3 tree attention x1x2 + x2x3 as message passing: two edge passes
  sdpa      one torch.nn.functional.scaled_dot_product_attention (self-attention)
  dense     the edge pass in torch, materialising the n × n scores
  dense3    path-3 in torch, materialising the n × n scores of both edges
and prints the medians (and minima) and the ratios path3 / sdpa, dense3 / path3 and
edge / sdpa, dense / edge.
"""

from __future__ import annotations

import argparse
import statistics

import numba
import numpy as np
import torch
from timing import run_times

from polyth_kernels.edge import edge_pass


def timed(fn, repeats):
    times = run_times(fn, repeats)
    return statistics.median(times), min(times)


def dense_edge(A, K, W, bias):
    s = A @ K.transpose(-1, -2) + bias[:, None, :]
    logz = torch.logsumexp(s, dim=-1)
    return logz, torch.softmax(s, dim=-1) @ W


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n, d = args.n, args.d
    scale = d**-0.5
    Q1, Q2, Q3 = (rng.standard_normal((1, n, d)).astype(np.float32) for _ in range(3))
    V2, V3 = (rng.standard_normal((1, n, d)).astype(np.float32) for _ in range(2))
    bias = np.zeros((1, n), np.float32)

    def edge():
        edge_pass(Q2 * scale, Q3, V3, bias)

    def causal():
        edge_pass(Q2 * scale, Q3, V3, bias, causal=True)

    def path3():
        logz3, msg3 = edge_pass(Q2 * scale, Q3, V3)  # eliminate x3 into a message on x2
        edge_pass(Q1 * scale, Q2, V2 * msg3, bias=logz3)  # then x2 into x1

    t1, t2, t3, v2, v3, tb = (torch.from_numpy(x) for x in (Q1, Q2, Q3, V2, V3, bias))

    def sdpa():
        torch.nn.functional.scaled_dot_product_attention(t1, t2, v2)

    def sdpa_causal():
        torch.nn.functional.scaled_dot_product_attention(t1, t2, v2, is_causal=True)

    def dense():
        dense_edge(t2 * scale, t3, v3, tb)

    def dense3():
        logz3, msg3 = dense_edge(t2 * scale, t3, v3, tb)
        dense_edge(t1 * scale, t2, v2 * msg3, logz3)

    with torch.inference_mode():
        results = {
            name: timed(fn, args.repeats)
            for name, fn in [
                ("edge", edge),
                ("causal", causal),
                ("path3", path3),
                ("sdpa", sdpa),
                ("sdpa_causal", sdpa_causal),
                ("dense", dense),
                ("dense3", dense3),
            ]
        }
    print(f"n = {n}, D = C = {d}, float32, {args.threads} threads, {args.repeats} runs after warm-up")
    for name, (median, best) in results.items():
        print(f"  {name:11s} median {median * 1e3:8.1f} ms   min {best * 1e3:8.1f} ms")
    med = {name: m for name, (m, _) in results.items()}
    print(f"  path3 / sdpa  = {med['path3'] / med['sdpa']:.2f}   (target ≤ 2.5)")
    print(f"  dense3 / path3 = {med['dense3'] / med['path3']:.2f}   (target ≥ 4)")
    print(f"  edge / sdpa   = {med['edge'] / med['sdpa']:.2f}")
    print(f"  dense / edge  = {med['dense'] / med['edge']:.2f}")
    print(f"  causal / sdpa_causal = {med['causal'] / med['sdpa_causal']:.2f}")


if __name__ == "__main__":
    main()
