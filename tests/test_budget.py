"""The budget gate (polyth.limits, polyth.compute.budget): every example of issue 17 is refused
before it allocates, with its estimate and the way out; the refusal is a polyth.BudgetError in
the API and exit status 4 on the command line.

The inputs of the large examples are broadcast views (np.broadcast_to): validating them reads
every entry but allocates no n × d copy, so the tests stay light whatever n is. Limits are set
explicitly (max_memory, max_seconds) so that the verdicts do not depend on this machine's free
memory; the time limits are far from the predictions (hours against 120 s), and the predicted
time is a lower bound (the machine's fastest multiply-add rate, limits.machine_rate).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import polyth
import polyth.limits as limits
from polyth.cli.main import main
from polyth.mechanism import zoo
from polyth.theory import cost as C
from polyth.theory.plan import exact_plan, plan_with_order

GiB = 2**30


def views(m, n, d, dv=None, dtype=np.float32, value=0.5):
    """Q and V as broadcast views of one number: no n × d array is allocated."""
    dv = d if dv is None else dv
    Q = [np.broadcast_to(dtype(value), (n, d)) for _ in m.input_slots]
    V = {a + 1: np.broadcast_to(dtype(1.0), (n, dv)) for a in m.values}
    return Q, V


def refused(call, *needles):
    with pytest.raises(polyth.BudgetError) as info:
        call()
    message = str(info.value)
    for needle in ("refused before allocating", *needles):
        assert needle in message, message
    return message


# ----------------------------------------------------------------- the examples of the issue


def test_path3_at_a_million_positions_is_refused_by_time():
    m = zoo.path(3)
    message = refused(
        lambda: polyth.attention(m, *views(m, 10**6, 64), max_seconds=120),
        "n = 1,000,000",
        "operations",
        "above max_seconds = 120 s",
        "a smaller n",
        'method="approx"',
        "multiply-adds/s",
    )
    # the estimate: about 2.6·10¹⁴ operations, n² · (2d + 2dv + 5) at d = dv = 64 (design.md §3)
    count = C.operation_count(exact_plan(m), 10**6, 64, 64).total
    assert 2.5e14 < count < 2.7e14 and "·10¹⁴ operations" in message


@pytest.mark.parametrize("spec", ["path:4", "star:4"])
def test_naive_four_variables_at_5000_is_refused_by_time(spec):
    m = zoo.from_spec(spec)
    refused(
        lambda: polyth.attention(m, *views(m, 5000, 4), method="naive", max_seconds=120),
        'method="naive"',
        'method="exact"',
    )
    tuples = C.naive_operation_count(m, 5000, 4, 4).exps
    assert tuples == 5000**4  # 1.25·10¹¹ tuples per query row … times n queries


def test_strassen_at_20000_is_refused_by_memory():
    m = zoo.strassen()
    message = refused(
        lambda: polyth.attention(m, *views(m, 20000, 4, dtype=np.float64), max_memory=8 * GiB),
        "above max_memory = 8 GiB",
    )
    # the peak, at the contraction of x3: the message over (x1, x3) and the joint product (C = dv + 1 = 5
    # columns each) and the table L13 being added: 11 n² float64 entries, 32.8 GiB
    assert "predicted peak of 32.8 GiB" in message or "predicted peak of 32.9 GiB" in message


def test_clique6_approx_at_2000_is_refused_by_memory():
    m = zoo.clique(6)
    refused(
        lambda: polyth.attention(
            m, *views(m, 2000, 2, value=0.25), method="approx", B=0.5, eps=1e-3, max_memory=8 * GiB
        ),
        'method="approx"',
        "a smaller B or a larger eps",
    )


def test_clique16_exact_at_64_is_refused():
    m = zoo.clique(16)
    refused(lambda: polyth.attention(m, *views(m, 64, 2)), "clique(16)", "this process can still allocate")


def test_causal_path3_needs_no_dense_array():
    """The prefix mask's thresholds are eliminated by a streamed scan: O(n·d) memory, the same work."""
    m = zoo.path(3)
    plan = exact_plan(m, "prefix")
    assert [s.kind for s in plan.steps] == ["prefix_stream", "stream_read", "normalize"]
    assert C.peak_memory(plan).as_poly(C.n).degree() == 1
    # n = 10⁶, d = dv = 64, float32: the peak is a few hundred MB, not the 3.64 TiB n × n message
    assert C.peak_memory_count(plan, 10**6, 64, 64) * 4 < 2 * GiB
    dense = plan_with_order(m, (2, 1), causal="prefix")
    assert [s.kind for s in dense.steps][:2] == ["prefix_sum", "contraction"]
    assert C.cost(plan) == C.cost(dense)  # equal time
    assert C.peak_memory(dense).as_poly(C.n).degree() == 2
    # refused by time only, and with a predicted peak far from the dense n²
    message = refused(lambda: polyth.attention(m, *views(m, 10**6, 64), causal="prefix", max_seconds=120))
    assert "TiB" not in message


def test_reference_with_a_raised_max_work_is_refused_by_memory():
    m = zoo.clique(16)
    Q, V = views(m, 64, 2, dtype=np.float64)
    refused(
        lambda: polyth.reference.attention(m, Q, V, max_work=10**40),
        "brute-force reference",
        "this process can still allocate",
        'method="exact"',
    )


def test_reference_prices_a_feasible_call_and_runs_it():
    m = zoo.path(3)
    rng = np.random.default_rng(0)
    Q = [rng.standard_normal((6, 2)) for _ in range(3)]
    V = {2: rng.standard_normal((6, 2)), 3: rng.standard_normal((6, 2))}
    assert polyth.reference.attention(m, Q, V, max_memory=2**30).shape == (6, 2)
    with pytest.raises(polyth.BudgetError, match="max_memory"):
        polyth.reference.attention(m, Q, V, max_memory=1000)


@pytest.mark.parametrize("n", [1024, 2048])
def test_torch_tensor3_is_refused_before_allocating(n):
    torch = pytest.importorskip("torch")
    layer = polyth.nn.PolyAttention("tensor:3", dim=64, heads=1, max_memory=8 * GiB)
    x = torch.zeros(1, n, 64).expand(1, n, 64)
    message = refused(lambda: layer(x), "plan_attention", "above max_memory = 8 GiB")
    assert "GiB" in message


def test_approx_with_B_300_is_refused_at_once():
    m = zoo.self_attention()
    Q, V = views(m, 256, 64, value=299.0)
    with pytest.raises(
        polyth.BudgetError, match=r"no Taylor degree up to 100,000 reaches eps = 0.001"
    ) as info:
        polyth.attention(m, Q, V, method="approx", B=300.0, eps=1e-3)
    assert "R = 9e+04" in str(info.value) and "lower B" in str(info.value)


def test_a_degree_beyond_the_budget_is_refused_with_the_figures():
    m = zoo.self_attention()
    Q, V = views(m, 4096, 64, value=0.1)
    refused(
        lambda: polyth.attention(m, Q, V, method="approx", degree=40, max_memory=GiB),
        "above max_memory = 1 GiB",
        "a smaller B or a larger eps",
    )


def test_the_naive_kernel_limit_is_a_budget_error():
    m = zoo.tensor(5)
    with pytest.raises(polyth.BudgetError, match="naive kernel counts at most"):
        polyth.attention(m, *views(m, 2000, 2), method="naive")


# ----------------------------------------------------------------- the gate itself


def test_a_call_that_fits_runs_and_limits_are_checked():
    m = zoo.self_attention()
    Q, V = views(m, 16, 2, dtype=np.float64)
    assert polyth.attention(m, Q, V, max_memory=GiB, max_seconds=10).shape == (16, 2)
    for bad in (0, -1, float("nan"), "1G", True):
        with pytest.raises(polyth.InputError, match="max_memory"):
            polyth.attention(m, Q, V, max_memory=bad)


def test_budget_block_sets_default_limits():
    m = zoo.strassen()
    Q, V = views(m, 512, 4)
    with limits.budget(max_memory=2**20):
        with pytest.raises(polyth.BudgetError, match="above max_memory = 1 MiB"):
            polyth.attention(m, Q, V)
    assert polyth.attention(m, *views(m, 8, 2)).shape == (8, 2)  # the block is over


def test_rate_is_measured_once_and_stated():
    rate = limits.machine_rate()
    assert limits.machine_rate() is rate
    assert rate.madds_per_second > 0 and rate.exps_per_second > 0
    assert "fastest of" in rate.how and "cores" in rate.how


def test_formats_read_as_numbers():
    assert limits.format_bytes(1536) == "1.5 KiB" and limits.format_bytes(12) == "12 B"
    assert limits.format_bytes(2.0**80).endswith("B") and "·10" in limits.format_bytes(2.0**80)
    assert limits.format_count(1.25e11) == "1.25·10¹¹" and limits.format_count(12) == "12"
    assert limits.format_seconds(7200) == "2 h" and limits.format_seconds(0.5) == "0.5 s"


def test_ulimit_v_is_the_available_memory():
    """Under RLIMIT_AS (ulimit -v) the room left is what the gate compares with."""
    code = textwrap.dedent(
        """
        import resource, psutil, os
        import polyth.limits as limits
        used = psutil.Process(os.getpid()).memory_info().vms
        resource.setrlimit(resource.RLIMIT_AS, (used + 300 * 2**20, resource.RLIM_INFINITY))
        memory = limits.available_memory()
        print(memory.source, memory.available <= 300 * 2**20)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["room", "under", "ulimit", "-v", "(RLIMIT_AS)", "True"]


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY, reason="ulimit set")
def test_available_memory_is_positive_and_named():
    memory = limits.available_memory()
    assert memory.available > 0 and memory.source


# ----------------------------------------------------------------- the command line


def test_cli_refusal_is_exit_4_with_flags(capsys):
    code = main(["verify", "runtime", "strassen", "--n", "10000,20000", "--max-memory", "1G", "--quiet"])
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1 and "Traceback" not in err
    assert "--max-memory" in err and "a smaller --n" in err and "GiB" in err


def test_cli_tasks_check_budget_is_exit_4(capsys):
    code = main(
        ["tasks", "check", "path:3", "compose:2", "--n", "13", "--instances", "4", "--max-memory", "1K"]
    )
    err = capsys.readouterr().err
    assert code == 4 and "refused before allocating" in err and "--max-memory" in err


def test_cli_not_available_is_exit_3(capsys):
    code = main(["verify", "runtime", "self", "--n", "64,128", "--backend", "cuda", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and err.startswith("polyth: error: --backend cuda needs a GPU") and err.count("\n") == 1


def test_cli_bad_memory_size_is_exit_2(capsys):
    assert main(["tasks", "check", "path:3", "compose:2", "--max-memory", "lots"]) == 2
    assert "--max-memory takes a positive size" in capsys.readouterr().err


def test_cli_checks_the_plot_path_before_measuring(tmp_path, capsys):
    missing = tmp_path / "no" / "figure.png"
    assert main(["verify", "runtime", "self", "--plot", str(missing), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


# ----------------------------------------------------------------- the model against the executor

AGREEMENT = textwrap.dedent(
    """
    import re, sys
    import numpy as np, polyth
    from polyth.mechanism import zoo
    from polyth.compute import budget
    from polyth.compute.exact import run_exact
    from polyth.compute.inputs import prepare

    def rss(field):
        return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

    for spec, causal, n in [("strassen", None, 1024), ("path:4", "prefix", 1024), ("tensor:3", None, 512),
                            ("tree:1-2,2-3,2-4", "prefix", 1024), ("path:3", "prefix", 4096)]:
        m = zoo.from_spec(spec)
        rng = np.random.default_rng(0)
        Q = [rng.uniform(-1, 1, (n, 4)) for _ in m.input_slots]
        V = {a + 1: rng.standard_normal((n, 4)) for a in m.values}
        polyth.attention(m, [q[:32] for q in Q], {k: v[:32] for k, v in V.items()}, causal=causal)
        price = budget.price(run_exact, m, prepare(m, Q, V, causal=causal), {})
        open("/proc/self/clear_refs", "w").write("5")
        base = rss("VmRSS")
        polyth.attention(m, Q, V, causal=causal)
        print(spec, rss("VmHWM") - base, price.bytes)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's peak-RSS reset")
def test_peak_memory_model_agrees_with_the_executor():
    """The gate's bytes against the peak resident memory the exact executor adds, measured by
    resetting VmHWM (Linux) in a fresh process whose allocator returns every large array to the
    system (MALLOC_MMAP_THRESHOLD_), so that the peak counts live arrays only."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
    done = subprocess.run(
        [sys.executable, "-c", AGREEMENT], capture_output=True, text=True, check=True, env=env
    )
    for line in done.stdout.splitlines():
        spec, measured, predicted = line.split()
        measured, predicted = int(measured), int(predicted)
        if spec == "path:3":  # streamed: O(n·C); the dense message alone would be 4096²·5·8 B = 640 MiB
            assert measured < 16 * 2**20 and predicted < 16 * 2**20, line
        else:
            assert 0.75 * predicted <= measured <= 1.3 * predicted, line
