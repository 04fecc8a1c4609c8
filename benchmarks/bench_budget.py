"""How fast the budget gate refuses the examples of issue 17, and what it adds to a small call.

For each example: the wall time of the refused call (validation, pricing, the refusal; the
machine's rate is measured once before, as it is once per process), the median and the
slowest of REPEATS runs, and the first line of its message. Then the overhead of the gate on a
small call: the median time of ``polyth.attention`` against the median time of the same
call's executor alone, in the same run (a ratio, not a time target). The load average at
start and end is printed: under load every time grows, the verdicts do not.

    python benchmarks/bench_budget.py
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

import polyth
import polyth.limits as limits
from polyth.compute.backend import resolve
from polyth.compute.exact import run_exact
from polyth.compute.inputs import prepare
from polyth.mechanism import zoo

REPEATS = 5
GiB = 2**30


def views(m, n, d, dtype=np.float32, value=0.5):
    Q = [np.broadcast_to(dtype(value), (n, d)) for _ in m.input_slots]
    V = {a + 1: np.broadcast_to(dtype(1.0), (n, d)) for a in m.values}
    return Q, V


def attention_case(spec, n, d, dtype=np.float32, value=0.5, **options):
    m = zoo.from_spec(spec)
    Q, V = views(m, n, d, dtype, value)
    return lambda: polyth.attention(m, Q, V, **options)


def examples():
    approx = {"method": "approx", "B": 0.5, "eps": 1e-3}
    clique16 = zoo.clique(16)
    cases = [
        ("path:3 exact n=10⁶ d=64, max_seconds=120", attention_case("path:3", 10**6, 64, max_seconds=120)),
        (
            "naive path:4 n=5000, max_seconds=120",
            attention_case("path:4", 5000, 4, method="naive", max_seconds=120),
        ),
        (
            "naive star:4 n=5000, max_seconds=120",
            attention_case("star:4", 5000, 4, method="naive", max_seconds=120),
        ),
        ("strassen exact n=20000 float64", attention_case("strassen", 20000, 4, np.float64)),
        ("clique:6 approx n=2000", attention_case("clique:6", 2000, 2, value=0.25, **approx)),
        ("clique:16 exact n=64", attention_case("clique:16", 64, 2)),
        (
            "prefix path:3 n=10⁶, max_seconds=120",
            attention_case("path:3", 10**6, 64, causal="prefix", max_seconds=120),
        ),
        (
            "reference clique:16 n=64 max_work=10⁴⁰",
            lambda: polyth.reference.attention(
                clique16, *views(clique16, 64, 2, np.float64), max_work=10**40
            ),
        ),
        (
            "approx self B=300 n=256 d=64",
            attention_case("self", 256, 64, value=299.0, method="approx", B=300.0, eps=1e-3),
        ),
    ]
    try:
        import torch

        layer = polyth.nn.PolyAttention("tensor:3", dim=64, max_memory=8 * GiB)
        cases.append(("torch PolyAttention tensor:3 n=2048", lambda: layer(torch.zeros(1, 2048, 64))))
    except ImportError:
        pass
    return cases


def time_refusal(call) -> tuple[list[float], str]:
    times, message = [], ""
    for _ in range(REPEATS):
        start = time.perf_counter()
        try:
            call()
            message = "NOT REFUSED"
        except polyth.BudgetError as exc:
            message = str(exc)
        times.append(time.perf_counter() - start)
    return times, message


def gate_overhead() -> tuple[float, float]:
    m = zoo.self_attention()
    rng = np.random.default_rng(0)
    Q, V = [rng.standard_normal((64, 16)) for _ in range(2)], {2: rng.standard_normal((64, 16))}
    inputs, backend = prepare(m, Q, V), resolve("cpu")
    polyth.attention(m, Q, V, backend="cpu")

    def median(call, runs=200):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    whole = median(lambda: polyth.attention(m, Q, V, backend="cpu"))
    executor = median(lambda: run_exact(m, inputs, backend, {}))
    return whole, executor


def main() -> None:
    print(f"load average at start: {os.getloadavg()}")
    rate = limits.machine_rate()
    print(
        f"rate: {rate.madds_per_second:.3g} multiply-adds/s, {rate.exps_per_second:.3g} exps/s ({rate.how})"
    )
    print(f"{'example':45} {'median s':>9} {'max s':>7}  message")
    for name, call in examples():
        times, message = time_refusal(call)
        print(f"{name:45} {statistics.median(times):9.3f} {max(times):7.3f}  {message[:150]}")
    whole, executor = gate_overhead()
    print(
        f"self-attention n=64 d=16: attention {whole * 1e6:.0f} µs, executor alone {executor * 1e6:.0f} µs "
        f"(validation, pricing and the gate: ratio {whole / executor:.2f})"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
