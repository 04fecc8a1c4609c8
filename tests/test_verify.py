"""polyth.verify: the fits recover known exponents, the grid follows the time budget, the runtime
and approximation checks compare the engine's predictions with measurements (and can refute
them), and `polyth verify` behaves on the CLI. The estimator's verdicts on synthetic timings are
in test_estimator.py."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyth import InputError, PolyError, zoo
from polyth.cli.main import main
from polyth.theory import cost
from polyth.theory.approximation import approximate
from polyth.theory.plan import exact_plan
from polyth.verify import approx_check, plots
from polyth.verify.approx_check import (
    check_approx,
    crossing_B,
    degree_curve,
    reference_degree,
    sweep_B,
    threshold_B,
    threshold_curves,
)
from polyth.verify.fit import agrees, fit_exponent, fit_operation_count
from polyth.verify.grid import choose_grid, grid_below, start_size
from polyth.verify.runtime import predict, verify_runtime
from polyth.verify.verdict import FAIL, INCONCLUSIVE, PASS, approx_verdict

SIZES = [256, 512, 1024, 2048, 4096]


# ------------------------------------------------------------------ fits
@given(
    exponent=st.floats(0.5, 4.0),
    constant=st.floats(1e-12, 1e-3),
)
def test_fit_recovers_the_exponent_of_exact_power_laws(exponent, constant):
    seconds = [constant * n**exponent for n in SIZES]
    fit = fit_exponent(SIZES, seconds)
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.predict(SIZES) == pytest.approx(seconds, rel=1e-9)


@pytest.mark.parametrize("exponent", [1.0, 2.0, 2.371339, 3.0])
def test_fit_recovers_exponents_through_five_percent_noise(exponent):
    rng = np.random.default_rng(0)
    seconds = [1e-9 * n**exponent * rng.uniform(0.95, 1.05) for n in SIZES]
    fit = fit_exponent(SIZES, seconds)
    assert abs(fit.exponent - exponent) < 0.05 and fit.r_squared > 0.99
    assert agrees(fit.exponent, exponent) and not agrees(fit.exponent, exponent + 0.5)


def test_fit_recovers_the_leading_exponent_once_lower_terms_fade():
    """T = n^2 + 1000 n: over small n the slope is below 2, over large n it tends to 2."""
    small = fit_exponent([16, 32, 64], [n * n + 1000 * n for n in (16, 32, 64)])
    large = fit_exponent([2**16, 2**17, 2**18], [n * n + 1000 * n for n in (2**16, 2**17, 2**18)])
    assert small.exponent < 1.2 and abs(large.exponent - 2) < 0.02


@given(per_op=st.floats(1e-12, 1e-8), overhead=st.floats(0, 1e-2))
def test_count_fit_recovers_time_per_operation_and_overhead(per_op, overhead):
    operations = [1e6, 4e6, 1.6e7, 6.4e7]
    seconds = [per_op * x + overhead for x in operations]
    fit = fit_operation_count(operations, seconds)
    assert fit.seconds_per_operation == pytest.approx(per_op, rel=1e-6)
    assert fit.overhead_seconds == pytest.approx(overhead, rel=1e-6, abs=1e-12)
    assert fit.r_squared == pytest.approx(1.0)


@pytest.mark.parametrize(
    "sizes,seconds,message",
    [
        ([64, 128], [0.1], "one time per size"),
        ([64, 64], [0.1, 0.2], "two distinct"),
        ([64, 128], [0.1, 0.0], "positive"),
        ([64, 128], [0.1, float("nan")], "positive"),
        ([-64, 128], [0.1, 0.2], "positive"),
    ],
)
def test_fit_rejects_bad_series(sizes, seconds, message):
    with pytest.raises(InputError, match=message):
        fit_exponent(sizes, seconds)


def test_band_must_be_positive():
    with pytest.raises(InputError, match="band"):
        agrees(2.0, 2.0, band=0)


# ------------------------------------------------------------------ predictions and grids
@pytest.mark.parametrize(
    "spec,method,exponent",
    [
        ("self", "exact", 2),
        ("path:3", "exact", 2),
        ("star:4", "exact", 2),
        ("strassen", "exact", 3),  # n^ω with ω = 3: the classical GEMM the kernels run
        ("tensor:3", "exact", 3),
        ("path:3", "naive", 3),
        ("star:4", "naive", 4),
        ("path:3", "approx", 1),
    ],
)
def test_predicted_exponent_is_that_of_what_runs(spec, method, exponent):
    m = zoo.from_spec(spec)
    prediction = predict(m, method, d=4, dv=4, B=1.0, eps=1e-3)
    assert prediction.exponent == exponent
    if method == "exact":
        assert prediction.count(100) == cost.operation_count(exact_plan(m), 100, 4, 4).total
    if spec == "strassen":
        assert "ω = 3" in prediction.basis


def test_naive_count_is_the_engines_brute_force_cost():
    m = zoo.path(3)
    prediction = predict(m, "naive", d=3, dv=2)
    expected = cost.naive_cost(m).subs({cost.n: 10, cost.d: 3, cost.dv: 2})
    assert prediction.count(10) == int(expected)


@pytest.fixture
def free_machine(monkeypatch):
    """The load probe reports an idle machine, so that verdicts do not depend on this one's load."""
    monkeypatch.setattr("polyth.verify.load.busy_elsewhere", lambda: 0.0)


def test_the_grid_spends_the_budget_and_spans_eight_times_in_n():
    prediction = predict(zoo.self_attention(), "exact", d=4, dv=4)
    time_once = lambda n: 1e-3 + 1e-9 * prediction.count(n)  # noqa: E731  1 ms overhead
    grid = choose_grid(prediction.count, time_once, budget=20.0, repeats=5)
    assert grid.stopped_by == "budget" and grid.planned_seconds <= 20.0
    assert grid.sizes[0] >= start_size(prediction.count) and len(grid.sizes) == 7
    assert grid.sizes[-1] / grid.sizes[0] == pytest.approx(8, rel=0.02)
    probed = [n for n, _ in grid.probes]
    assert all(b == 2 * a for a, b in zip(probed, probed[1:]))
    # the top is the largest size on the √2 lattice whose measurement fits: twice it would not
    bigger = choose_grid(prediction.count, time_once, budget=20.0 * 4.5, repeats=5)
    assert bigger.sizes[-1] >= 2 * grid.sizes[-1] * 0.99


def test_a_cubic_plan_reaches_ten_times_its_overhead_within_the_report_budget():
    """Strassen on this engine: 1 ms per call and 0.1 ns per predicted operation (ω = 3)."""
    prediction = predict(zoo.strassen(), "exact", d=4, dv=4)
    time_once = lambda n: 1e-3 + 1e-10 * prediction.count(n)  # noqa: E731
    grid = choose_grid(prediction.count, time_once, budget=30.0, repeats=5)
    assert time_once(grid.sizes[-1]) - 1e-3 >= 10 * 1e-3 and grid.sizes[-1] >= 1024


def test_a_probe_slower_than_modelled_does_not_shrink_the_grid_to_nothing():
    """Star-4 under load: the probe at n = 16384 took 9.2 s (6× the one before) and used up the
    budget; the grid still measures up to where half the budget allows."""
    prediction = predict(zoo.star(4), "exact", d=4, dv=4)

    def time_once(n):
        return 1e-3 + 1e-10 * prediction.count(n) * (6 if n == 16384 else 1)

    grid = choose_grid(prediction.count, time_once, budget=30.0, repeats=5)
    assert grid.sizes[-1] >= 4096 and len(grid.sizes) == 7


def test_the_largest_n_still_fits_the_budget():
    """Linear attention under load: the probe at the largest n, 2²², took 20× what was modelled."""
    prediction = predict(zoo.linear(), "exact", d=4, dv=4)

    def time_once(n):
        return 1e-4 + 1e-9 * prediction.count(n) * (20 if n == 1 << 22 else 1)

    grid = choose_grid(prediction.count, time_once, budget=10.0, repeats=5)
    assert grid.stopped_by == "largest n" and [n for n, _ in grid.probes][-1] == 1 << 22
    assert grid.sizes[-1] < 1 << 22 and grid.planned_seconds > 10.0  # the probe overran, not the grid


def test_a_refused_size_ends_the_grid_and_a_refused_start_is_raised():
    prediction = predict(zoo.path(3), "naive", d=4, dv=4)

    def time_once(n):
        if n > 64:
            raise PolyError(f"n = {n} is over the budget")
        return 1e-9 * prediction.count(n)

    grid = choose_grid(prediction.count, time_once, budget=1000.0, repeats=5)
    assert grid.stopped_by.startswith("refused at n = 128") and grid.sizes[-1] == 64
    with pytest.raises(PolyError, match="budget"):
        choose_grid(prediction.count, lambda n: time_once(1 << 20), budget=10.0, repeats=5)


def test_grid_below_halves_twice_per_doubling():
    assert grid_below(4096) == [512, 728, 1024, 1448, 2048, 2896, 4096]
    assert grid_below(16) == [8, 11, 16]


def _fake_attention(exponent, constant=1e-9):
    """A stand-in for polyth.compute.front.attention whose timings follow constant · n^exponent."""

    def attention(m, Q, V, return_timings=False, **options):
        n = len(Q[0])
        seconds = constant * n**exponent
        step = SimpleNamespace(variable=1, kind="tree_message", kernel="edge_pass", seconds=seconds)
        return SimpleNamespace(seconds=seconds, steps=(step,)) if return_timings else None

    return attention


@pytest.mark.parametrize("exponent,verdict", [(2.0, PASS), (2.2, PASS), (2.6, FAIL), (1.5, FAIL)])
def test_verify_runtime_judges_synthetic_timings(monkeypatch, free_machine, exponent, verdict):
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(exponent))
    result = verify_runtime(zoo.path(3), "exact", sizes=[64, 128, 256, 512], d=4)
    assert result.measured_exponent == pytest.approx(exponent)
    assert result.predicted_exponent == 2 and result.verdict.status == verdict
    assert result.passed is (verdict == PASS)
    assert result.grid_exponent == pytest.approx(2.0, abs=0.05)
    assert [p.operations for p in result.points] == [
        cost.operation_count(exact_plan(zoo.path(3)), n, 4, 4).total for n in (64, 128, 256, 512)
    ]
    assert result.points[0].steps == (("tree_message[x2]:edge_pass", pytest.approx(1e-9 * 64**exponent)),)
    quick = verify_runtime(zoo.path(3), "exact", sizes=[64, 128, 256, 512], d=4, quick=True)
    assert quick.verdict.status == (INCONCLUSIVE if verdict == FAIL else PASS)


def test_verify_runtime_chooses_its_sizes_by_the_budget(monkeypatch, free_machine):
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(2.0, constant=1e-8))
    result = verify_runtime(zoo.self_attention(), "exact", budget=5.0)
    assert result.grid is not None and result.sizes == list(result.grid.sizes)
    assert result.grid.stopped_by == "budget" and result.verdict.status == PASS
    assert all(len(p.repeats) == 5 for p in result.points)


def test_verify_runtime_on_a_busy_machine_is_inconclusive(monkeypatch):
    monkeypatch.setattr("polyth.verify.load.busy_elsewhere", lambda: 3.0)
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(2.0))
    result = verify_runtime(zoo.path(3), "exact", sizes=[64, 128, 256, 512], d=4)
    assert result.verdict.status == INCONCLUSIVE and "busy" in result.verdict.reason


def test_verify_runtime_really_runs_and_serialises():
    result = verify_runtime(zoo.self_attention(), "exact", sizes=[32, 64], d=4, repeats=5)
    assert result.sizes == [32, 64] and all(len(p.repeats) == 5 for p in result.points)
    assert all(p.seconds == min(p.repeats) > 0 for p in result.points)
    assert result.verdict.status == INCONCLUSIVE  # two sizes cannot give an exponent's interval
    data = json.loads(result.to_json())
    assert data["predicted_exponent"] == 2 and data["backend"] == "cpu" and data["verdict"] == INCONCLUSIVE
    assert {"fit", "count_fit", "estimate", "points", "passed", "grid_exponent", "load", "reason"} <= set(
        data
    )
    assert (
        data["load"]["threads"] >= 1 and data["points"][0]["steps"][0]["step"] == "tree_message[x2]:edge_pass"
    )


@pytest.mark.parametrize(
    "options,message",
    [
        ({"method": "fast"}, "unknown method"),
        ({"sizes": [64]}, "two distinct sizes"),
        ({"sizes": [64, "x"]}, "integer"),
        ({"repeats": 3}, "repeats"),
        ({"band": -1.0}, "band"),
        ({"B": 1.0}, "only used with method 'approx'"),
        ({"backend": "tpu"}, "backend"),
        ({"budget": 0}, "budget"),
        ({"threads": 0}, "threads"),
    ],
)
def test_verify_runtime_rejects_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        verify_runtime(zoo.self_attention(), **{"sizes": [16, 32], **options})


# ------------------------------------------------------------------ approximation check
def test_measured_approximation_error_is_within_the_bound():
    check = check_approx(zoo.path(3), B=1.0, eps=1e-3, n=10, trials=2)
    predicted = approximate(zoo.path(3), 1.0, 1e-3, d=4)
    assert check.predicted_error == predicted.output_error and check.degree == predicted.degree
    assert check.executed["degree"] == predicted.degree and check.executed["rank"] == predicted.rank
    assert 0 < check.measured_random <= check.measured_adversarial <= check.predicted_error and check.passed
    assert check.oracle.startswith("brute-force") and check.instances > 0
    assert check.threshold == pytest.approx(np.log(10) ** 0.5)


@pytest.mark.parametrize("spec", ["self", "path:3", "tensor:3"])
def test_adversarial_inputs_come_within_ten_times_of_the_bound(spec):
    """At the fixed degree 6, B = 1 (R = 1): the bound is sharp on the adversarial family."""
    check = check_approx(zoo.from_spec(spec), B=1.0, degree=6, n=32, trials=1)
    assert check.passed and 0.1 < check.ratio <= 1
    assert check.measured_random < check.measured_adversarial


def test_a_bound_tighter_than_what_runs_is_refuted(monkeypatch):
    """The check can fail: predict with degree 8 while degree 6 runs, and the measured error exceeds
    the (wrong) bound."""
    honest = approx_check.approximation

    def wrong(m, B, eps=None, degree=None, d=4, causal=None, dv=None):
        a, options = honest(m, B, eps, degree, d, causal, dv)
        return honest(m, B, None, 8, d, causal, dv)[0], options

    monkeypatch.setattr(approx_check, "approximation", wrong)
    checks = sweep_B(zoo.self_attention(), [1.0], degree=6, n=16, trials=1)
    assert checks[0].passed is False
    verdict = approx_verdict(checks)
    assert verdict.status == FAIL and "exceeds the bound" in verdict.reason


def test_the_error_rises_with_B_at_a_fixed_degree_and_crosses_eps_near_the_bound():
    Bs = [0.5, 0.75, 1.0, 1.25, 1.5]
    checks = sweep_B(zoo.self_attention(), Bs, degree=reference_degree(zoo.self_attention()), n=32, trials=1)
    measured = [c.measured_adversarial for c in checks]
    assert measured == sorted(measured) and checks[0].degree == 6
    theory = crossing_B(Bs, [c.predicted_error for c in checks], 1e-3)
    found = crossing_B(Bs, measured, 1e-3)
    assert theory <= found <= 1.25 * theory
    assert approx_verdict(checks).status == PASS


def test_the_sweep_stops_running_once_the_error_has_saturated_without_a_bound():
    checks = sweep_B(zoo.self_attention(), [1.0, 2.0, 2.5, 3.0], degree=6, n=16, trials=1)
    saturated = next(i for i, c in enumerate(checks) if (c.measured_adversarial or 0) >= 1)
    assert math.isinf(checks[saturated].predicted_error) and saturated < len(checks) - 1
    for c in checks[saturated + 1 :]:
        assert c.measured_error is None and c.oracle.startswith("not run: the error reached")
        assert c.degree == 6 and c.rank == 210  # the prediction is still reported
    assert approx_verdict(checks).status == PASS


def test_crossing_B_interpolates_in_log_error():
    assert crossing_B([1, 2, 3], [1e-4, 1e-2, 1.0], 1e-3) == pytest.approx(1.5)
    assert crossing_B([1, 2], [1e-4, float("inf")], 1e-3) == 2.0
    assert crossing_B([1, 2], [1e-5, 1e-4], 1e-3) is None
    assert crossing_B([1, 2, 3], [None, 1e-1, 1.0], 1e-3) == 2.0


def test_sweep_sorts_B_and_skips_ranks_above_the_cap():
    checks = sweep_B(zoo.self_attention(), [2.0, 0.5], 1e-3, n=8, trials=1, max_run_rank=50)
    assert [c.B for c in checks] == [0.5, 2.0]
    assert checks[0].measured_error is not None and checks[0].rank <= 50
    assert checks[1].rank > 50 and checks[1].measured_error is None and checks[1].passed is None
    assert checks[1].degree > checks[0].degree and checks[1].crossover_n > checks[0].crossover_n


def test_a_taylor_mechanism_is_checked_at_its_own_order_against_its_exp_form():
    m = zoo.elementwise()
    check = check_approx(m, B=0.5, n=16, trials=1)
    assert check.degree == m.similarity.order == reference_degree(m) and check.passed
    assert check.ratio is not None and check.ratio > 0.1
    with pytest.raises(InputError, match="fixes the degree"):
        check_approx(m, B=0.5, eps=1e-3, n=16)


def test_nothing_to_approximate_for_a_feature_map():
    with pytest.raises(InputError, match="nothing to approximate"):
        check_approx(zoo.linear(), B=1.0, degree=4, n=8)


def test_threshold_curves_grow_with_B():
    rows = threshold_curves(zoo.tensor(3), [0.5, 1.0, 2.0])
    assert [r["degree"] for r in rows] == sorted(r["degree"] for r in rows)
    assert rows[-1]["rank"] > rows[0]["rank"] and rows[-1]["crossover_n"] > rows[0]["crossover_n"]


def test_degree_grows_faster_with_B_for_higher_degree():
    Bs = [0.5, 1.0, 2.0, 3.0]
    k2, k3 = degree_curve(2, Bs, 1e-3, 2), degree_curve(3, Bs, 1e-3, 2)
    assert k2 == sorted(k2) and k3 == sorted(k3)
    assert k3[-1] > k2[-1] and threshold_B(4096, 3) < threshold_B(4096, 2)


# ------------------------------------------------------------------ plots
def test_figures_are_png_files(tmp_path, monkeypatch, free_machine):
    checks = sweep_B(zoo.self_attention(), [0.5, 1.0, 1.5], degree=6, n=8, trials=1)
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(2.0))
    result = verify_runtime(zoo.self_attention(), sizes=[64, 128, 256, 512], d=4)
    curves = {"self": (2, threshold_curves(zoo.self_attention(), [0.5, 1.0]))}
    paths = [
        plots.runtime_figure([result], tmp_path / "runtime.png"),
        plots.approx_figure(checks, tmp_path / "approx.png", eps=1e-3),
        plots.threshold_figure(curves, 64, 1e-3, 4, tmp_path / "threshold.png"),
        plots.degree_figure({2: ([0.5, 1], [3, 6]), 3: ([0.5, 1], [2, 6])}, 4096, 1e-3, tmp_path / "deg.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ command line
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_verify_runtime_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "runtime.png"
    code, out, _ = run(
        capsys,
        "verify",
        "runtime",
        "self",
        "--n",
        "32,64",
        "--d",
        "4",
        "--json",
        "--plot",
        str(plot),
        "--quiet",
    )
    data = json.loads(out)
    assert code == 0 and data["verdict"] == INCONCLUSIVE  # exit 1 only when refuted
    assert [p["n"] for p in data["points"]] == [32, 64] and plot.exists()


def test_cli_verify_runtime_table(capsys):
    code, out, _ = run(capsys, "verify", "runtime", "path:3", "--method", "naive", "--n", "8,16", "--d", "2")
    assert code == 0  # two sizes: INCONCLUSIVE, which is not a refutation
    assert (
        "polyth verify runtime: path:3 (naive, cpu)" in out and "path:3 naive on cpu: INCONCLUSIVE: " in out
    )


def test_cli_verify_runtime_exits_1_when_refuted(capsys, monkeypatch, free_machine):
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(2.7))
    code, out, _ = run(capsys, "verify", "runtime", "self", "--n", "64,128,256,512", "--quiet")
    assert code == 1 and "FAIL: refuted: measured 2.70" in out


def test_cli_verify_approx(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "verify",
        "approx",
        "self",
        "--B",
        "0.5,1",
        "--eps",
        "1e-3",
        "--n",
        "8",
        "--trials",
        "1",
        "--plot",
        str(tmp_path / "a.png"),
    )
    assert code == 0 and "B* = (ln n)^(1/2)" in out and (tmp_path / "a.png").exists()
    assert "PASS" in out and "adv÷bound" in out
    code, out, _ = run(capsys, "verify", "approx", "self", "--B", "1", "--degree", "6", "--n", "8", "--json")
    data = json.loads(out)
    assert code == 0 and data["checks"][0]["passed"] is True and data["verdict"]["status"] == PASS


@pytest.mark.parametrize(
    "argv",
    [
        ["verify"],
        ["verify", "speed", "self"],
        ["verify", "runtime", "self", "--n", "64"],
        ["verify", "runtime", "self", "--n", "64,abc"],
        ["verify", "runtime", "self", "--method", "fast"],
        ["verify", "runtime", "self", "--repeats", "2", "--n", "8,16"],
        ["verify", "runtime", "self", "--band", "0", "--n", "8,16"],
        ["verify", "runtime", "nonsense:3"],
        ["verify", "runtime", "x1*x2 +", "--n", "8,16"],
        ["verify", "approx", "self", "--B", "1"],
        ["verify", "approx", "self", "--B", "1", "--eps", "0.7"],
        ["verify", "approx", "self", "--B", "-1", "--eps", "1e-3"],
        ["verify", "approx", "self", "--B", "one", "--eps", "1e-3"],
        ["verify", "approx", "self", "--B", "1", "--eps", "1e-3", "--n", "1"],
        ["verify", "approx", "self", "--B", "1", "--eps", "1e-3", "--degree", "6"],
        ["verify", "approx", "self", "--B", "1", "--degree", "-1"],
        ["verify", "runtime", "self", "--budget", "-5"],
    ],
)
def test_cli_verify_bad_arguments_exit_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("polyth: error: ") and err.count("\n") == 1 and "Traceback" not in err
