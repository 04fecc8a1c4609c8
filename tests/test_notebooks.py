"""The tutorial notebooks run top to bottom, and are committed without outputs.

Every ``notebooks/*.ipynb`` is executed with nbclient in a ``python3`` kernel of this very
interpreter (ipykernel's kernelspec launches ``python``, which jupyter_client replaces by
``sys.executable``; :func:`test_kernel_runs_this_interpreter` checks it), with
``POLYTH_NOTEBOOK_QUICK=1`` so that each notebook shrinks its sizes. The kernel gets the
environment a user has: the CUDA simulator switch of conftest.py is removed (the notebooks
pick ``backend="auto"``) and matplotlib draws inline. Any cell error fails the test.
Notebooks carry no outputs so that what the repository shows cannot go stale.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_ENV_DROPPED = ("NUMBA_ENABLE_CUDASIM", "MPLBACKEND")


def kernel_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in KERNEL_ENV_DROPPED}
    env["POLYTH_NOTEBOOK_QUICK"] = "1"
    return env


def execute(notebook, cwd: Path):
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute(env=kernel_env())


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    assert any("POLYTH_NOTEBOOK_QUICK" in cell.source for cell in notebook.cells[:3]), (
        f"{path.name}: its parameter cell near the top must read POLYTH_NOTEBOOK_QUICK"
    )
    executed = execute(notebook, path.parent)  # raises CellExecutionError on the first failing cell
    errors = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors


def test_kernel_runs_this_interpreter(tmp_path: Path):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import os, sys\nprint(sys.prefix, os.environ['POLYTH_NOTEBOOK_QUICK'])"
            )
        ]
    )
    executed = execute(notebook, tmp_path)
    printed = "".join(output.get("text", "") for output in executed.cells[0].outputs).split()
    assert printed == [sys.prefix, "1"], "the notebook kernel runs another interpreter or environment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_uses_the_public_api(path: Path):
    """No private attribute (``x._name``, ``_repr_markdown_``) in a notebook's code: what a notebook
    shows is what a user can call."""
    notebook = nbformat.read(path, as_version=4)
    private = [
        (index, match.group())
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for match in re.finditer(r"\._(?!_)\w+|\b_repr_\w+", cell.source)
    ]
    assert not private, f"{path.name}: private names in cells {private}"
