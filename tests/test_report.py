"""`polyth report --quick`: the CI-sized main job writes a complete, self-contained report, prints
every check's verdict and exits non-zero only when a prediction is refuted."""

import json
import re

import pytest

from polyth import zoo
from polyth.cli.main import main
from polyth.verify import report as report_module


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    code = main(["report", "--quick", "--quiet", "--out", str(folder)])
    return code, folder


def test_quick_report_writes_markdown_json_and_figures(quick_report):
    code, folder = quick_report
    assert code == 0  # quick mode never refutes a runtime prediction, and every bound holds
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (folder / image).read_bytes()[:4] == b"\x89PNG", image
    assert (folder / "threshold.png").exists()
    for case in report_module.CASES:
        assert f"## {case.title}: `{case.spec}`" in markdown
        assert (folder / f"runtime-{case.spec.replace(':', '')}.png").exists()
    assert "## Machine and versions" in markdown and "| numba |" in markdown
    assert markdown.index("## Verdicts") < markdown.index("## How the verdicts are reached")
    assert "minimum** of its repeats" in markdown and "Quick mode never refutes" in markdown


def test_quick_report_json_records_machine_and_every_measurement(quick_report):
    _, folder = quick_report
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert {"python", "numpy", "numba", "cpu_count", "date", "wall_seconds", "backend"} <= set(
        data["machine"]
    )
    by_spec = {entry["spec"]: entry for entry in data["mechanisms"]}
    assert {"self", "path:3", "star:4", "strassen", "tensor:3"} <= set(by_spec)
    assert by_spec["strassen"]["runtime"][0]["predicted_exponent"] == 3
    assert {r["method"] for r in by_spec["path:3"]["runtime"]} == {"exact", "naive"}
    for entry in data["mechanisms"]:
        for run in entry["runtime"]:
            assert len(run["points"]) >= 2 and all(len(p["repeats"]) >= 5 for p in run["points"])
            assert run["verdict"] in ("PASS", "INCONCLUSIVE") and run["reason"]
            assert run["load"]["threads"] >= 1 and run["grid"]["budget"] == data["settings"]["budget_seconds"]
        for check in entry["approx"]:
            if check["passed"] is not None:
                assert check["passed"] and check["n"] == data["settings"]["sweep"]["n"]
        if entry["approx"]:
            assert entry["approx_degree"] == entry["approx"][0]["degree"]
            assert [row["B"] for row in entry["threshold_curves"]] == data["settings"]["sweep"]["B"]
    assert {c["verdict"] for c in data["checks"]} <= {"PASS", "INCONCLUSIVE"}
    assert all(c["reason"] for c in data["checks"])


def test_optional_mechanisms_are_included_or_listed(quick_report):
    _, folder = quick_report
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    specs = {entry["spec"] for entry in data["mechanisms"]}
    for attribute, case in report_module.OPTIONAL_CASES:
        assert (case.spec in specs) == hasattr(zoo, attribute)
        assert (case.title in data["not_available"]) != hasattr(zoo, attribute)


def test_report_prints_where_it_is_and_every_verdict(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report_module, "CASES", report_module.CASES[:1])
    monkeypatch.setattr(report_module, "OPTIONAL_CASES", ())
    assert main(["report", "--quick", "--quiet", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report written to {tmp_path / 'r' / 'report.md'}")
    for check in ("runtime, exact", "runtime, approx", "approximation, degree 6"):
        assert check in out
    assert "0 FAIL" in out


def _refuted_case(m, method, label, **options):
    """A runtime check whose n³ timings refute the plan's n²: what verify_runtime returns then."""
    from polyth.verify.fit import estimate
    from polyth.verify.runtime import Point, RuntimeVerification, predict
    from polyth.verify.verdict import Verdict

    prediction = predict(m, method, 4, 4)
    points = tuple(
        Point(n, 1e-9 * n**3, (1e-9 * n**3,) * 5, (), prediction.count(n)) for n in (64, 128, 256, 512)
    )
    e = estimate([p.n for p in points], [p.repeats for p in points], [p.operations for p in points])
    return RuntimeVerification(
        label,
        method,
        "cpu",
        None,
        4,
        4,
        "float32",
        prediction,
        points,
        e,
        Verdict("FAIL", "refuted: synthetic"),
        0.25,
    )


def test_report_exits_1_when_a_prediction_is_refuted_and_reports_a_refusal(tmp_path, capsys, monkeypatch):
    from polyth import PolyError

    calls = []

    def fake(m, method, **options):
        calls.append(method)
        if method == "approx":
            raise PolyError("refused: the predicted work is over the budget")  # like polyth.BudgetError
        return _refuted_case(m, method, **options)

    monkeypatch.setattr(report_module, "verify_runtime", fake)
    monkeypatch.setattr(report_module, "CASES", report_module.CASES[:1])
    monkeypatch.setattr(report_module, "OPTIONAL_CASES", ())
    monkeypatch.setattr(report_module.plots, "runtime_figure", lambda *args, **kwargs: None)
    assert main(["report", "--quick", "--quiet", "--out", str(tmp_path / "r")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "refuted: synthetic" in out
    assert "INCONCLUSIVE" in out and "not run: refused: the predicted work is over the budget" in out
    data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert [c["verdict"] for c in data["checks"]][:2] == ["FAIL", "INCONCLUSIVE"] and calls == [
        "exact",
        "approx",
    ]


@pytest.mark.parametrize("argv", [["report", "--backend", "tpu"], ["report", "--quick", "extra"]])
def test_report_bad_arguments_exit_2_with_one_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyth: error: ") and err.count("\n") == 1


def test_report_into_a_file_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["report", "--quick", "--quiet", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyth: error: cannot create the results folder") and err.count("\n") == 1


def test_a_report_is_never_overwritten(quick_report, capsys):
    _, folder = quick_report
    before = (folder / "report.md").read_bytes()
    assert main(["report", "--quick", "--quiet", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "already holds a report" in err and "never overwrites" in err and err.count("\n") == 1
    assert (folder / "report.md").read_bytes() == before


def test_default_folders_never_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = report_module.default_folder()
    report_module.claim_folder(first)
    (first / "report.md").write_text("earlier")
    second = report_module.default_folder()
    assert second != first and not second.exists()
