"""The main job's verdicts on a loaded machine and on an idle one, in one command.

    python benchmarks/report_under_load.py [--loaded 3] [--idle 1] [--busy 1] [--quick] [--out DIR]

Runs ``polyth report`` ``--loaded`` times while ``--busy`` other processes each keep one core busy
(``python -c "while True: pass"``, started before the report and stopped after it), then
``--idle`` times without them, each into its own folder under ``--out`` (default
``results/under-load-<date>-<time>``). Prints, and writes to ``verdicts.md`` there, one verdict
table per run with the load it ran under (``os.getloadavg()`` at start and end, the tasks each
check saw runnable elsewhere, the threads it ran with) and a last table that says, check by check,
whether the verdict was the same in every loaded run. The issue's goal: the same verdict in all
loaded runs, none FAIL, and every check PASS on the idle machine.

Nothing here is timed against a threshold: the script only runs the report and gathers its
verdicts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

BUSY = "while True: pass"


def run_report(folder: Path, busy: int, quick: bool) -> dict:
    """One ``polyth report`` with ``busy`` spinning processes beside it; its report.json and load."""
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        start = os.getloadavg()
        command = [sys.executable, "-m", "polyth.cli.main", "report", "--quiet", "--out", str(folder)]
        done = subprocess.run(command + (["--quick"] if quick else []), capture_output=True, text=True)
        end = os.getloadavg()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return {"busy": busy, "exit": done.returncode, "load_start": start, "load_end": end, "report": data}


def check_rows(run: dict) -> dict[tuple[str, str], dict]:
    """(mechanism, check) → verdict, reason and the load each runtime check saw."""
    loads = {}
    for mechanism in run["report"]["mechanisms"]:
        for r in mechanism["runtime"]:
            load = r.get("load") or {}
            loads[(mechanism["title"], f"runtime, {r['method']}")] = (
                f"{load.get('threads')} thread(s), {load.get('busy_elsewhere')} busy elsewhere"
            )
    return {
        (c["mechanism"], c["check"]): {**c, "load": loads.get((c["mechanism"], c["check"]), "")}
        for c in run["report"]["checks"]
    }


def _rounded(values) -> tuple[float, ...]:
    return tuple(round(x, 2) for x in values)


def table(title: str, run: dict) -> list[str]:
    counts: dict[str, int] = {}
    lines = [
        f"### {title}",
        "",
        f"{run['busy']} busy process(es); load average at start {_rounded(run['load_start'])}, "
        f"at end {_rounded(run['load_end'])}; exit status {run['exit']}; "
        f"{run['report']['machine'].get('wall_seconds')} s",
        "",
        "| mechanism | check | verdict | load seen | reason |",
        "|---|---|---|---|---|",
    ]
    for (mechanism, check), row in check_rows(run).items():
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
        reason = row["reason"].replace("|", "\\|")
        lines.append(f"| {mechanism} | {check} | **{row['verdict']}** | {row['load']} | {reason} |")
    lines += ["", ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), ""]
    return lines


def agreement(runs: list[dict]) -> list[str]:
    rows = [check_rows(run) for run in runs]
    lines = [
        "### Agreement across the loaded runs",
        "",
        "| mechanism | check | verdicts | same |",
        "|---|---|---|---|",
    ]
    for key in rows[0]:
        verdicts = [r.get(key, {}).get("verdict", "missing") for r in rows]
        lines.append(
            f"| {key[0]} | {key[1]} | {', '.join(verdicts)} | {'yes' if len(set(verdicts)) == 1 else 'NO'} |"
        )
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loaded", type=int, default=3, help="runs with busy processes (3)")
    parser.add_argument("--idle", type=int, default=1, help="runs without them (1)")
    parser.add_argument("--busy", type=int, default=1, help="busy processes, one core each (1)")
    parser.add_argument("--quick", action="store_true", help="polyth report --quick (a smoke run)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("results") / datetime.datetime.now().strftime("under-load-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    loaded = [run_report(out / f"loaded-{i + 1}", args.busy, args.quick) for i in range(args.loaded)]
    idle = [run_report(out / f"idle-{i + 1}", 0, args.quick) for i in range(args.idle)]
    lines = [f"# polyth report under load ({out})", ""]
    for i, run in enumerate(loaded):
        lines += table(f"Loaded run {i + 1} ({args.busy} core(s) kept busy)", run)
    if len(loaded) > 1:
        lines += agreement(loaded)
    for i, run in enumerate(idle):
        lines += table(f"Idle run {i + 1}", run)
    text = "\n".join(lines)
    (out / "verdicts.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
