"""Every ``polyth`` command shown in README.md runs.

The commands are read from the README itself: its bash code blocks (each ``&&``-separated
part of a line that starts with ``polyth``, comments dropped) and its inline code spans that
start with ``polyth``. Each runs in-process through ``main(argv)`` and must exit with a status
the command documents (0; verify: 1 when a measurement disagrees).

Commands that take minutes run smaller (:data:`SMALLER`: options appended, which argparse lets
override the README's) or, for the report, as a ``--help``-level check; each entry says why.
The report itself runs in tests/test_report.py, training in tests/test_training.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from polyth.cli.main import main

README = Path(__file__).resolve().parent.parent / "README.md"

# (command prefix, options appended, why): the first matching prefix applies.
SMALLER = [
    (
        ("report",),
        ["--help"],
        "the report measures the zoo for minutes (--quick: tens of seconds), and tests/test_report.py "
        "already runs 'polyth report --quick --out DIR': --help-level check here",
    ),
    (("verify", "runtime"), ["--n", "16,32,64", "--d", "4", "--quiet"], "a timing grid of seconds per size"),
    (("verify", "approx"), ["--n", "12", "--trials", "1"], "3 trials of n = 64 at three B"),
    (("tasks", "check"), ["--n", "13", "--instances", "40", "--quiet"], "1000 instances take seconds"),
    (
        ("tasks", "train"),
        ["--steps", "2", "--batch", "16", "--seeds", "1", "--no-progress"],
        "200 steps take minutes",
    ),
]
VERIFY_DISAGREES = 1  # verify's exit status when a measurement is outside its band: still a run


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.split(" # ")[0].strip()
                if part.startswith("polyth "):
                    commands.append(part)
    commands += re.findall(r"`(polyth [^`]+)`", text)
    return list(dict.fromkeys(commands))


COMMANDS = readme_commands()


def runnable(command: str, tmp_path: Path) -> tuple[list[str], str | None]:
    argv = shlex.split(command)[1:]
    argv = [str(tmp_path / "report") if word == "DIR" else word for word in argv]
    for prefix, extra, why in SMALLER:
        if tuple(argv[: len(prefix)]) == prefix:
            return argv + extra, why
    return argv, None


def test_the_readme_shows_the_commands_of_its_tour():
    for expected in (
        "polyth bounds strassen",
        "polyth verify runtime path:3",
        "polyth report",
        "polyth demo",
    ):
        assert expected in COMMANDS
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a command writes stays here
    argv, why = runnable(command, tmp_path)
    if argv[:2] == ["tasks", "train"]:
        pytest.importorskip("torch")
    code = main(argv)
    out, err = capsys.readouterr()
    allowed = {0, VERIFY_DISAGREES} if argv[0] == "verify" else {0}
    assert code in allowed, f"{command!r} ran as {argv} ({why}): exit {code}\n{err}"
    assert out.strip(), f"{command!r} printed nothing"
    assert "Traceback" not in err
