"""polyth.verify: the fits recover known exponents, the runtime and approximation checks
compare the engine's predictions with measurements, and `polyth verify` behaves on the CLI."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import polyth
from polyth import InputError, zoo
from polyth.cli.main import main
from polyth.theory import cost
from polyth.theory.plan import exact_plan
from polyth.verify import plots
from polyth.verify.approx_check import check_approx, degree_curve, sweep_B, threshold_B
from polyth.verify.fit import agrees, fit_exponent, fit_operation_count
from polyth.verify.runtime import choose_sizes, predict, start_size, verify_runtime

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


def test_chosen_sizes_double_skip_overhead_and_stay_under_the_time_cap():
    prediction = predict(zoo.self_attention(), "exact", d=32, dv=32)
    time_once = lambda n: 1e-3 + 1e-10 * prediction.count(n)  # noqa: E731  1 ms overhead
    sizes = choose_sizes(prediction, time_once, max_seconds=0.5, points=4)
    assert sizes[0] >= start_size(prediction)
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))
    assert time_once(sizes[-1]) <= 0.5 < time_once(2 * sizes[-1])
    assert all(time_once(n) >= 0.5 / 20 for n in sizes) and len(sizes) == 3
    assert time_once(sizes[0] // 2) < 0.5 / 20  # the next smaller size is overhead-dominated


def _fake_attention(exponent, constant=1e-9):
    """A stand-in for polyth.dispatch.attention whose timings follow constant · n^exponent."""

    def attention(m, Q, V, return_timings=False, **options):
        n = len(Q[0])
        seconds = constant * n**exponent
        step = SimpleNamespace(variable=1, kind="tree_message", kernel="edge_pass", seconds=seconds)
        return SimpleNamespace(seconds=seconds, steps=(step,)) if return_timings else None

    return attention


@pytest.mark.parametrize("exponent,passes", [(2.0, True), (2.2, True), (2.6, False), (1.5, False)])
def test_verify_runtime_fits_synthetic_timings(monkeypatch, exponent, passes):
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(exponent))
    result = verify_runtime(zoo.path(3), "exact", sizes=[64, 128, 256, 512], d=4)
    assert result.measured_exponent == pytest.approx(exponent)
    assert result.predicted_exponent == 2 and result.passed is passes
    assert result.grid_exponent == pytest.approx(2.0, abs=0.05)
    assert [p.operations for p in result.points] == [
        cost.operation_count(exact_plan(zoo.path(3)), n, 4, 4).total for n in (64, 128, 256, 512)
    ]
    assert result.points[0].steps == (("tree_message[x2]:edge_pass", pytest.approx(1e-9 * 64**exponent)),)


def test_verify_runtime_really_runs_and_serialises():
    result = verify_runtime(zoo.self_attention(), "exact", sizes=[32, 64], d=4, repeats=5)
    assert result.sizes == [32, 64] and all(len(p.repeats) == 5 for p in result.points)
    assert all(p.seconds > 0 for p in result.points)
    data = json.loads(result.to_json())
    assert data["predicted_exponent"] == 2 and data["backend"] == "cpu"
    assert {"fit", "count_fit", "points", "passed", "grid_exponent"} <= set(data)
    assert data["points"][0]["steps"][0]["step"] == "tree_message[x2]:edge_pass"


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
    ],
)
def test_verify_runtime_rejects_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        verify_runtime(zoo.self_attention(), **{"sizes": [16, 32], **options})


# ------------------------------------------------------------------ approximation check
def test_measured_approximation_error_is_within_the_bound():
    check = check_approx(zoo.path(3), B=1.0, eps=1e-3, n=10, trials=2)
    predicted = polyth.bounds(zoo.path(3), B=1.0, eps=1e-3, d=2).to_dict()["approx"]
    assert check.predicted_error == predicted["output_error"] and check.degree == predicted["degree"]
    assert 0 < check.measured_error <= check.predicted_error and check.passed
    assert check.oracle.startswith("brute-force")
    assert check.threshold == pytest.approx(np.log(10) ** 0.5)


def test_sweep_sorts_B_and_skips_ranks_above_the_cap():
    checks = sweep_B(zoo.self_attention(), [2.0, 0.5], 1e-3, n=8, trials=1, max_run_rank=50)
    assert [c.B for c in checks] == [0.5, 2.0]
    assert checks[0].measured_error is not None and checks[0].rank <= 50
    assert checks[1].rank > 50 and checks[1].measured_error is None and checks[1].passed is None
    assert checks[1].degree > checks[0].degree and checks[1].crossover_n > checks[0].crossover_n


def test_degree_grows_faster_with_B_for_higher_degree():
    Bs = [0.5, 1.0, 2.0, 3.0]
    k2, k3 = degree_curve(2, Bs, 1e-3, 2), degree_curve(3, Bs, 1e-3, 2)
    assert k2 == sorted(k2) and k3 == sorted(k3)
    assert k3[-1] > k2[-1] and threshold_B(4096, 3) < threshold_B(4096, 2)


# ------------------------------------------------------------------ plots
def test_figures_are_png_files(tmp_path, monkeypatch):
    checks = sweep_B(zoo.self_attention(), [0.5, 1.0], 1e-3, n=8, trials=1)
    monkeypatch.setattr("polyth.compute.front.attention", _fake_attention(2.0))
    result = verify_runtime(zoo.self_attention(), sizes=[64, 128, 256], d=4)
    paths = [
        plots.runtime_figure([result], tmp_path / "runtime.png"),
        plots.approx_figure(checks, tmp_path / "approx.png"),
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
    assert code == (0 if data["passed"] else 1)
    assert [p["n"] for p in data["points"]] == [32, 64] and plot.exists()


def test_cli_verify_runtime_table(capsys):
    code, out, _ = run(capsys, "verify", "runtime", "path:3", "--method", "naive", "--n", "8,16", "--d", "2")
    assert code in (0, 1)
    assert "polyth verify runtime: path:3 (naive, cpu)" in out and "vs predicted 3 ± 0.25" in out


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
    code, out, _ = run(capsys, "verify", "approx", "self", "--B", "1", "--eps", "1e-3", "--n", "8", "--json")
    assert code == 0 and json.loads(out)[0]["passed"] is True


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
    ],
)
def test_cli_verify_bad_arguments_exit_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("polyth: error: ") and err.count("\n") == 1 and "Traceback" not in err
