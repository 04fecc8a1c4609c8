"""The GPU figures of benchmarks/gpu_check.sh: the edge pass's FLOP rate against the device's FP32
peak, and torch SDPA on the same GPU as the comparator (a script, not a test).

    python benchmarks/gpu_check.py [--n 4096,16384] [--repeats 5]

float32, d = dv = 64, one batch entry. The edge pass runs on arrays already on the device
(polyth_kernels.device), timed between ``cuda.synchronize()`` calls, median of the repeats after
a warm-up (which compiles). Its work is 2·n²·(D + C) flops (the score and value products;
exp and the online-softmax bookkeeping are not counted). The FP32 peak is SMs × FP32 lanes per
SM × 2 (an FMA is two flops) × the clock numba reports; the lanes per SM come from the compute
capability (NVIDIA's CUDA C++ Programming Guide, "Arithmetic Instructions" table). torch SDPA
runs with 4-D (1, 1, n, d) float32 inputs and scale 1, the same pass without the log-normaliser.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

FP32_LANES_PER_SM = {(6, 0): 64, (6, 1): 128, (7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 9): 128}
DEFAULT_LANES = 128  # Hopper (9.0), Blackwell and later


def peak_fp32_flops(device) -> tuple[float, str]:
    cc = tuple(device.compute_capability)
    lanes = FP32_LANES_PER_SM.get(cc, DEFAULT_LANES)
    sms = device.MULTIPROCESSOR_COUNT
    clock_hz = device.CLOCK_RATE * 1e3  # numba reports kHz
    how = f"{sms} SMs × {lanes} FP32 lanes × 2 × {clock_hz / 1e9:.2f} GHz"
    how += f" (compute capability {cc[0]}.{cc[1]})"
    return sms * lanes * 2 * clock_hz, how


def timed(fn, sync, repeats):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="4096,16384")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="cuda", help="cudasim: a smoke run under the simulator")
    args = parser.parse_args(argv)
    from numba import cuda

    import polyth_kernels

    device = cuda.get_current_device()
    peak, how = peak_fp32_flops(device) if args.backend == "cuda" else (float("nan"), "simulator")
    try:
        import torch
    except ImportError:
        torch = None
    d = 64
    name = getattr(device, "name", "simulator")
    print(f"device: {name.decode() if isinstance(name, bytes) else name}; FP32 peak {how}")
    print()
    print("| n | edge pass (ms) | GFLOP/s | ÷ FP32 peak | torch SDPA f32 (ms) | edge ÷ SDPA |")
    print("|---|---|---|---|---|---|")
    for n in (int(x) for x in args.n.split(",")):
        rng = np.random.default_rng(0)
        A, K, W = (rng.standard_normal((1, n, d)).astype(np.float32) for _ in range(3))
        A *= np.float32(1 / d)
        on_device = tuple(polyth_kernels.to_device(x) for x in (A, K, W))

        def edge(arrays=on_device):
            return polyth_kernels.edge_pass(*arrays, backend=args.backend)

        seconds = timed(edge, cuda.synchronize, args.repeats)
        rate = 2.0 * n * n * (d + d) / seconds
        sdpa = "torch not installed" if torch is None else "torch without CUDA"
        ratio = ""
        if torch is not None and torch.cuda.is_available():
            qkv = tuple(torch.from_numpy(x)[None].cuda() for x in (A, K, W))

            def sdpa_call(qkv=qkv):
                return torch.nn.functional.scaled_dot_product_attention(*qkv, scale=1.0)

            with torch.inference_mode():
                t = timed(sdpa_call, torch.cuda.synchronize, args.repeats)
            sdpa, ratio = f"{t * 1e3:.2f}", f"{seconds / t:.2f}"
        print(f"| {n} | {seconds * 1e3:.2f} | {rate / 1e9:.0f} | {rate / peak:.3f} | {sdpa} | {ratio} |")


if __name__ == "__main__":
    main()
