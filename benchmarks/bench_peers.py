"""polyth against the same algorithms elsewhere, in one process (a script, not a test).

    python benchmarks/bench_peers.py [--quick] [--big] [--repeats 5] [--rounds 3] [--max-minutes 20]
                                     [--out benchmarks/PEERS.md]

Runtime. Every implementation of a row is called 1 + 2 · rounds · repeats times (31 with the
defaults). On a quiet 2-core machine the default run should take 7–10 minutes (an estimate
from the per-call times: most of it is path-3 and star-4 at n = 16384, linear and element-wise
attention at n = 65536); ``--big`` adds path-3 at n = 65536, 15–20 minutes more; ``--quick``
(small sizes, a smoke run) took 3.6 minutes at load 12–14 on 2 cores, with 70 s of CPU time.
``--max-minutes`` (default 20) bounds a run on a busy machine: no row starts after that long,
and the report names the rows left out. The elapsed time is printed per row and written to the
report.

Installs nothing. The peers come with the ``bench`` extra (``pip install -e '.[bench]'``:
torch, strassen-attention, poly-attention); a peer that is not importable is skipped and the
report says so. pytorch-fast-transformers is looked for too but is not in the extra: its build
needs the CUDA toolkit (CUDA_HOME), even for its CPU kernels.

Method. For every comparison all implementations run once (the warm-up: numba compiles or
loads its cache there) and their outputs are checked against polyth's, within a tolerance
stated per row, before anything is timed; a mismatch is reported and that peer is not
timed. Then ``--rounds`` rounds, each timing every implementation in turn (interleaved) as
the median of ``--repeats`` calls; the ratio polyth ÷ peer is taken within each round, and
the table shows the rounds' ratios (lowest–highest) and their median; each round is timed
once more in process CPU time, which a busy machine does not inflate. float32 throughout,
numba and torch on the same number of threads. ``os.getloadavg()`` is recorded at the start
and end of every row: the machine is shared, and a ratio is only as good as the load beside it.

Comparisons (the issue "Speed: no per-call overhead, ahead of torch on the same algorithm"):

- per-call overhead: a warm path-3 (also causal: the streamed kernel), and Strassen call at
  n = 16 and 64 (d = 8), as found and with one core kept busy by a spinning process (started
  here, killed afterwards);
- path-3 x1x2 + x2x3 exact, d = dv = 64, n = 1024 … 16384 (65536 with ``--big``): torch's
  two-pass form (pass 1: the flash CPU kernel's output and log-sum-exp; pass 2: SDPA with that
  log-sum-exp as a per-key bias, values V2 ⊙ message), one SDPA call (4-D (1, 1, n, d) inputs,
  so that torch's fused CPU flash kernel runs), and dense torch at n ≤ 4096;
- star-4 x1x2 + x1x3 + x1x4: the product of three SDPA outputs (its exact form);
- linear attention (φ = elu + 1), b = 4, d = 64, n = 4096 and 65536, 1 and 2 threads:
  the plain torch two-einsum form (non-causal), torch's chunked form with T = 64 (causal),
  and fast-transformers where installed;
- element-wise attention, Taylor order 6, causal, n = 65536, D = 64: a plain torch form
  (cumulative sums of the moments e^{−k²} k^p v and e^{−k²} k^p);
- Strassen attention, d = 32, n = 256 and 512: strassen-attention's ``strassen_attend``;
- path-3 with values on x3, forward and backward at n = 256, d = 64, 8 heads:
  poly-attention's ``reference_poly_attention`` (the function inside lucidrains'
  Order2PolyAttention) against polyth.nn's plan in torch operations.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

import polyth
from polyth import zoo

ROOT = Path(__file__).resolve().parent
D = 64


def optional(module: str):
    """The module, or None when it cannot be imported (the report names it as skipped)."""
    try:
        return importlib.import_module(module)
    except Exception:  # any failure to import means: not available here
        return None


torch = optional("torch")
F = None if torch is None else torch.nn.functional


@dataclass
class Row:
    """One comparison: polyth and its peers on the same inputs."""

    name: str
    threads: int
    polyth: object
    peers: dict
    tolerance: float
    unchecked: frozenset = frozenset()  # peers computing something else: timed, not compared
    notes: list = field(default_factory=list)
    ratios: dict = field(default_factory=dict)  # peer -> per-round ratios polyth ÷ peer
    ms: dict = field(default_factory=dict)  # implementation -> per-round medians (ms)
    cpu_ratios: dict = field(default_factory=dict)  # peer -> per-round ratios of process CPU time
    load: tuple = ()


def as_numpy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def median_ms(fn, repeats, clock=time.perf_counter):
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times) * 1e3


def set_threads(k):
    numba.set_num_threads(k)
    if torch is not None:
        torch.set_num_threads(k)


def run_row(row: Row, repeats: int, rounds: int) -> Row:
    set_threads(row.threads)
    start_load = os.getloadavg()[0]
    ours = as_numpy(row.polyth())
    timed = {"polyth": row.polyth}
    for peer, fn in row.peers.items():
        theirs = as_numpy(fn())
        if peer in row.unchecked:
            timed[peer] = fn
            continue
        gap = float(np.abs(theirs - ours).max()) / max(1.0, float(np.abs(ours).max()))
        if not np.isfinite(gap) or gap > row.tolerance:
            row.notes.append(
                f"{peer}: output differs from polyth's by {gap:.1e} > {row.tolerance:g}; not timed"
            )
            continue
        timed[peer] = fn
    for _ in range(rounds):
        wall = {name: median_ms(fn, repeats) for name, fn in timed.items()}
        cpu = {name: median_ms(fn, repeats, time.process_time) for name, fn in timed.items()}
        for name, value in wall.items():
            row.ms.setdefault(name, []).append(value)
        for peer in timed:
            if peer != "polyth":
                row.ratios.setdefault(peer, []).append(wall["polyth"] / wall[peer])
                row.cpu_ratios.setdefault(peer, []).append(cpu["polyth"] / cpu[peer])
    row.load = (start_load, os.getloadavg()[0])
    return row


# ---------------------------------------------------------------- comparators


def torch_two_pass(q1, q2, q3, v2, v3, scale):
    """path-3 as torch's two passes: the flash CPU kernel returns the log-sum-exp of pass 1."""
    msg, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q2, q3, v3, scale=scale)
    return F.scaled_dot_product_attention(q1, q2, v2 * msg, attn_mask=lse[:, :, None, :], scale=scale)


def dense_path3(q1, q2, q3, v2, v3, scale):
    s23 = (q2 @ q3.transpose(-1, -2)) * scale
    msg = torch.softmax(s23, -1) @ v3
    s12 = (q1 @ q2.transpose(-1, -2)) * scale + torch.logsumexp(s23, -1)[..., None, :]
    return torch.softmax(s12, -1) @ (v2 * msg)


def path3_row(n, rng, threads):
    m = zoo.path(3)
    Q = [rng.standard_normal((n, D), dtype=np.float32) for _ in range(3)]
    V = {2: rng.standard_normal((n, D), dtype=np.float32), 3: rng.standard_normal((n, D), dtype=np.float32)}
    peers = {}
    if torch is not None:
        t = [torch.from_numpy(x)[None, None] for x in (*Q, V[2], V[3])]
        peers["torch two-pass"] = lambda: torch_two_pass(*t, 1 / D)[0, 0]
        peers["one SDPA call"] = lambda: F.scaled_dot_product_attention(t[0], t[1], t[3])[0, 0]
        if n <= 4096:
            peers["dense torch"] = lambda: dense_path3(*t, 1 / D)[0, 0]
    ours = lambda: polyth.attention(m, Q, V, backend="cpu")  # noqa: E731
    row = Row(f"path-3 exact, n = {n}", threads, ours, peers, 1e-4, frozenset({"one SDPA call"}))
    row.notes.append("one SDPA call is self-attention, not path-3: timed as a yardstick, not compared")
    return row


def star4_row(n, rng, threads):
    m = zoo.star(4)
    Q = [rng.standard_normal((n, D), dtype=np.float32) for _ in range(4)]
    V = {a: rng.standard_normal((n, D), dtype=np.float32) for a in (2, 3, 4)}
    peers = {}
    if torch is not None:
        q1 = torch.from_numpy(Q[0])[None, None]
        pairs = [
            (torch.from_numpy(Q[a - 1])[None, None], torch.from_numpy(V[a])[None, None]) for a in (2, 3, 4)
        ]

        def three_sdpa():
            out = None
            for k, v in pairs:
                o = F.scaled_dot_product_attention(q1, k, v, scale=1 / D)
                out = o if out is None else out * o
            return out[0, 0]

        peers["torch: 3 SDPA, product"] = three_sdpa
    return Row(
        f"star-4 exact, n = {n}", threads, lambda: polyth.attention(m, Q, V, backend="cpu"), peers, 1e-4
    )


def torch_linear(q, k, v, eps):
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    kv = torch.einsum("bnd,bne->bde", fk, v)
    den = torch.einsum("bnd,bd->bn", fq, fk.sum(1)) + eps
    return torch.einsum("bnd,bde->bne", fq, kv) / den[..., None]


def torch_linear_chunked(q, k, v, eps, T=64):
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    b, n, d = q.shape
    c = n // T
    fq, fk, vv = fq.view(b, c, T, d), fk.view(b, c, T, d), v.view(b, c, T, -1)
    kv = torch.einsum("bctd,bcte->bcde", fk, vv)
    kv = torch.cumsum(kv, 1) - kv  # the states before each chunk
    z = fk.sum(2)
    z = torch.cumsum(z, 1) - z
    inside = torch.einsum("bctd,bcsd->bcts", fq, fk).tril()
    num = torch.einsum("bctd,bcde->bcte", fq, kv) + inside @ vv
    den = torch.einsum("bctd,bcd->bct", fq, z) + inside.sum(-1) + eps
    return (num / den[..., None]).view(b, n, -1)


def linear_row(n, causal, threads, rng, fast_transformers):
    m = zoo.linear()
    q, k, v = (rng.standard_normal((4, n, D), dtype=np.float32) for _ in range(3))
    eps = m.similarity.eps
    peers = {}
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        if causal:
            peers["torch chunked (T = 64)"] = lambda: torch_linear_chunked(tq, tk, tv, eps)
        else:
            peers["plain torch"] = lambda: torch_linear(tq, tk, tv, eps)
        if fast_transformers is not None:
            peers["fast-transformers"] = fast_transformers_linear(fast_transformers, tq, tk, tv, causal)
    kind = "causal" if causal else "non-causal"
    ours = lambda: polyth.attention(m, [q, k], {2: v}, backend="cpu", causal="prefix" if causal else None)  # noqa: E731
    return Row(f"linear attention, {kind}, b = 4, n = {n}", threads, ours, peers, 2e-4)


def fast_transformers_linear(ft, tq, tk, tv, causal):
    """fast-transformers' LinearAttention / CausalLinearAttention (its layouts: (b, n, h, d))."""
    from fast_transformers.attention import CausalLinearAttention, LinearAttention
    from fast_transformers.masking import FullMask, LengthMask, TriangularCausalMask

    n = tq.shape[1]
    layer = CausalLinearAttention(D, eps=1e-6) if causal else LinearAttention(D, eps=1e-6)
    mask = TriangularCausalMask(n) if causal else FullMask(n)
    lengths = LengthMask(torch.full((tq.shape[0],), n, dtype=torch.long))
    args = [x[:, :, None] for x in (tq, tk, tv)]
    return lambda: layer(*args, mask, lengths, lengths)[:, :, 0]


def torch_elementwise(q, k, v, order):
    """Feng 2025's Taylor form, causal: prefix sums of e^{−k²} k^p v and e^{−k²} k^p."""
    w = torch.exp(-k * k)
    num = torch.zeros_like(q)
    den = torch.zeros_like(q)
    qp, kp = torch.ones_like(q), torch.ones_like(k)
    for p in range(order + 1):
        a = 2.0**p / math.factorial(p)
        num += a * qp * torch.cumsum(w * kp * v, dim=-2)
        den += a * qp * torch.cumsum(w * kp, dim=-2)
        qp, kp = qp * q, kp * k
    return num / den


def elementwise_row(n, rng, threads):
    m = zoo.elementwise(6)
    q, k = (rng.uniform(-1, 1, (1, n, D)).astype(np.float32) for _ in range(2))
    v = rng.standard_normal((1, n, D), dtype=np.float32)
    peers = {}
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        peers["plain torch (cumsum)"] = lambda: torch_elementwise(tq, tk, tv, 6)
    ours = lambda: polyth.attention(m, [q, k], {2: v}, method="approx", backend="cpu", causal="prefix")  # noqa: E731
    return Row(f"element-wise Taylor-6, causal, n = {n}", threads, ours, peers, 1e-3)


def strassen_row(n, rng, threads, strassen_attention):
    d = 32
    m = zoo.strassen().replace(scale=1.0)
    q, k1, k2, v1, v2 = (rng.standard_normal((n, d), dtype=np.float32) for _ in range(5))
    ours = lambda: polyth.attention(m, [q / np.float32(math.sqrt(d)), k1, k2], {2: v1, 3: v2}, backend="cpu")  # noqa: E731
    peers = {}
    if strassen_attention is not None and torch is not None:
        t = [torch.from_numpy(x)[None, None] for x in (q, k1, k2, v1, v2)]
        peers["strassen_attend"] = lambda: strassen_attention.strassen_attend(*t)[0, 0]
    return Row(f"Strassen, d = 32, n = {n}", threads, ours, peers, 1e-4)


def poly_module_row(rng, threads, poly_attention):
    from polyth.mechanism import Mechanism
    from polyth.nn.elimination import plan_attention

    n, h = 256, 8
    m = Mechanism.from_polynomial("x1*x2 + x2*x3", values=("x3",), scale=1 / math.sqrt(D))
    if torch is None:
        return Row("path-3 forward + backward, n = 256, 8 heads", threads, lambda: 0, {}, 1e-4)
    leaves = [torch.from_numpy(rng.standard_normal((1, h, n, D), dtype=np.float32)) for _ in range(4)]
    for x in leaves:
        x.requires_grad_(True)
    q1, q2, q3, v3 = leaves

    def ours():
        out = plan_attention(m, [q1, q2, q3], {3: v3})
        out.sum().backward()
        return out

    peers = {}
    if poly_attention is not None:
        from poly_attention.poly_attention import reference_poly_attention

        def theirs():
            out = reference_poly_attention(q1, q2, q2, q3, v3)[0]
            out.sum().backward()
            return out

        peers["poly-attention reference_poly_attention"] = theirs
    return Row("path-3 forward + backward, n = 256, 8 heads", threads, ours, peers, 1e-4)


# ---------------------------------------------------------------- per-call overhead


def overhead_rows(repeats, rounds):
    """Warm calls at n = 16 and 64, d = 8: medians (ms), as found, then with one core busy.
    path-3 also causal (prefix): its plan runs the streamed kernel (kernels/stream.py)."""
    rng = np.random.default_rng(1)
    cases = []
    for m, causal in ((zoo.path(3), None), (zoo.path(3), "prefix"), (zoo.strassen(), None)):
        for n in (16, 64):
            Q = [rng.standard_normal((n, 8), dtype=np.float32) for _ in range(m.t)]
            V = {a: rng.standard_normal((n, 8), dtype=np.float32) for a in range(2, m.t + 1)}
            label = f"{m.name or m.polynomial}{', causal' if causal else ''}, n = {n}"
            cases.append(
                (label, lambda m=m, Q=Q, V=V, c=causal: polyth.attention(m, Q, V, backend="cpu", causal=c))
            )
    results = {}
    set_threads(numba.config.NUMBA_NUM_THREADS)
    for label in ("quiet", "one core busy"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if label != "quiet" else None
        try:
            time.sleep(0.2)
            for _, call in cases:
                call()
            load = os.getloadavg()[0]
            for _ in range(rounds):
                for name, call in cases:
                    results.setdefault((name, label), []).append(median_ms(call, max(repeats, 15)))
            results[("load", label)] = load
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return cases, results


# ---------------------------------------------------------------- report


DISTRIBUTIONS = {
    "torch": "torch",
    "strassen-attention": "strassen-attention",
    "poly-attention": "poly-attention",
    "fast-transformers": "pytorch-fast-transformers",
}


def versions(modules):
    found = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    found["scipy"] = importlib.metadata.version("scipy")
    found["polyth"] = polyth.__version__
    for name, module in modules.items():
        found[name] = (
            importlib.metadata.version(DISTRIBUTIONS[name]) if module is not None else "not installed"
        )
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def fmt_range(values, digits=2):
    lo, hi, mid = min(values), max(values), statistics.median(values)
    return f"{mid:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def render(rows, overhead, modules, args, started, skipped, took) -> str:
    cases, results = overhead
    lines = [
        "# polyth against its peers (generated by `python benchmarks/bench_peers.py`)",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions(modules).items()),
        f"- load average at start {started[0]:.2f}, at end {os.getloadavg()[0]:.2f} (1 min); "
        f"the run took {took:.0f} s" + (" (--quick)" if args.quick else ""),
        f"- method: float32; per round the median of {args.repeats} calls of each implementation in turn, "
        f"after a warm-up and an output check; {args.rounds} rounds; ratio = polyth ÷ peer per round, "
        "shown as median (lowest–highest); load = 1-minute load average at the row's start → end",
        "- CPU time: each round timed again in the process's CPU time (all its threads), which waiting "
        "for a busy core does not inflate; with 2 threads it also counts threads spinning in their "
        "pools, so the 1-thread rows are its clean case",
        "",
        "## Per-call overhead (a warm call, d = 8)",
        "",
        "| call | machine as found (ms) | plus one core kept busy (ms) |",
        "|---|---|---|",
    ]
    for name, *_ in cases:
        quiet, busy = (fmt_range(results[(name, label)], 3) for label in ("quiet", "one core busy"))
        lines.append(f"| {name} | {quiet} | {busy} |")
    lines += [
        "",
        f"load (1 min) as found {results[('load', 'quiet')]:.2f}, "
        f"with the busy core {results[('load', 'one core busy')]:.2f}",
        "",
        "## Against the same algorithm elsewhere",
        "",
        "| comparison | threads | polyth (ms) | peer | peer (ms) | polyth ÷ peer | ÷ in CPU time | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = fmt_range(row.ms.get("polyth", [float("nan")]), 1)
        load = f"{row.load[0]:.1f} → {row.load[1]:.1f}"
        if not row.ratios:
            lines.append(f"| {row.name} | {row.threads} | {ours} | (no peer timed) | | | | {load} |")
        for peer, ratios in row.ratios.items():
            lines.append(
                f"| {row.name} | {row.threads} | {ours} | {peer} | {fmt_range(row.ms[peer], 1)} | "
                f"{fmt_range(ratios)} | {fmt_range(row.cpu_ratios[peer])} | {load} |"
            )
    notes = [f"- {row.name}: {note}" for row in rows for note in row.notes] + [f"- {s}" for s in skipped]
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--big", action="store_true", help="add n = 65536 to the path-3 sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=20.0, help="start no row after this long")
    parser.add_argument("--out", default=str(ROOT / "PEERS.md"))
    args = parser.parse_args(argv)
    if args.repeats < 5 or args.rounds < 3:
        parser.error("medians of at least 5 calls and at least 3 rounds")
    started = os.getloadavg()
    modules = {
        "torch": torch,
        "strassen-attention": optional("strassen_attention"),
        "poly-attention": optional("poly_attention"),
        "fast-transformers": optional("fast_transformers"),
    }
    skipped = [
        f"{name} is not installed: its comparisons are skipped (pip install -e '.[bench]')"
        for name, module in modules.items()
        if module is None and name != "fast-transformers"
    ]
    if modules["fast-transformers"] is None:
        skipped.append(
            "fast-transformers is not installed: skipped (pytorch-fast-transformers needs CUDA_HOME to "
            "build, even for its CPU kernels, so it is not in the bench extra)"
        )
    for line in skipped:
        print("skip:", line)
    rng = np.random.default_rng(0)
    q = args.quick
    path_ns = [1024, 4096] if q else [1024, 4096, 16384] + ([65536] if args.big else [])
    builders = [lambda n=n: path3_row(n, rng, args.threads) for n in path_ns]
    builders += [lambda n=n: star4_row(n, rng, args.threads) for n in ([1024] if q else [4096, 16384])]
    for n in [4096] if q else [4096, 65536]:
        for causal in (False, True):
            for threads in (1, 2):
                builders.append(
                    lambda n=n, c=causal, k=threads: linear_row(n, c, k, rng, modules["fast-transformers"])
                )
    builders.append(lambda: elementwise_row(4096 if q else 65536, rng, args.threads))
    builders += [
        lambda n=n: strassen_row(n, rng, args.threads, modules["strassen-attention"])
        for n in ([128] if q else [256, 512])
    ]
    builders.append(lambda: poly_module_row(rng, args.threads, modules["poly-attention"]))

    clock = time.perf_counter()
    print("per-call overhead …", flush=True)
    overhead = overhead_rows(args.repeats, args.rounds)
    rows = []
    for k, build in enumerate(builders):
        if time.perf_counter() - clock > 60 * args.max_minutes:
            skipped.append(
                f"--max-minutes {args.max_minutes:g} reached: the last {len(builders) - k} rows not run"
            )
            break
        row = build()
        elapsed = time.perf_counter() - clock
        print(
            f"[{elapsed:.0f} s] {row.name} ({row.threads} thread{'s' if row.threads > 1 else ''}) …",
            flush=True,
        )
        no_grad = torch is not None and "backward" not in row.name
        with torch.inference_mode() if no_grad else contextlib.nullcontext():
            rows.append(run_row(row, args.repeats, args.rounds))
        for peer, ratios in row.ratios.items():
            cpu = fmt_range(row.cpu_ratios[peer])
            print(f"   polyth ÷ {peer}: {fmt_range(ratios)} (CPU time {cpu})", flush=True)
    took = time.perf_counter() - clock
    Path(args.out).write_text(render(rows, overhead, modules, args, started, skipped, took))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
