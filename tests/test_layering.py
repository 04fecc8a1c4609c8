"""The layering of polyth, enforced.

* the import-linter contracts of pyproject.toml ([tool.importlinter]), one test each;
* no import cycle between modules of polyth or polyth_kernels;
* the theory layer's third-party imports are sympy, networkx, numpy and opt_einsum only;
* ``import polyth`` loads none of the heavy dependencies;
* pyproject.toml's explicit ``packages`` list names every package on disk.

The graphs come from grimp (import-linter's graph library), which reads every import
statement, those inside functions included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest
from importlinter.api import read_configuration

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
ROOT_PACKAGES = ("polyth", "polyth_kernels")

# --------------------------------------------------------------------------- contracts


def _contract_params():
    contracts = read_configuration(str(PYPROJECT))["contracts_options"]
    return [pytest.param(c.get("id"), id=c.get("id") or c["name"]) for c in contracts]


@pytest.mark.parametrize("contract_id", _contract_params())
def test_import_contract(contract_id):
    """One contract of [tool.importlinter], checked by lint-imports with this interpreter.

    A broken contract fails with import-linter's report: the offending imports, their
    lines and, for indirect ones, the chain.
    """
    assert contract_id, "give every [[tool.importlinter.contracts]] an id: the tests are named by it"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
            "--no-cache",
            "--no-logo",
            "--contract",
            contract_id,
            str(PYPROJECT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    if result.returncode != 0:
        pytest.fail(f"contract {contract_id!r}:\n{result.stdout}{result.stderr}", pytrace=False)


# --------------------------------------------------------------------------- cycles


def _module_graph(graph: grimp.ImportGraph) -> nx.DiGraph:
    """The imports between the modules of ``graph``, one edge per (importer, imported) pair."""
    edges = nx.DiGraph()
    edges.add_nodes_from(graph.modules)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    return edges


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (or an import of itself).

    How grimp models packages, which is what makes this precise: an edge is an import
    statement, nothing else. ``pkg/__init__.py`` importing ``pkg.sub`` is the edge
    pkg -> pkg.sub; that Python runs ``pkg/__init__.py`` before ``pkg.sub`` adds no edge
    back, so a package face that imports its submodules is no cycle with them. It is one
    only when a submodule imports the face back (``from pkg import name``, ``import pkg``):
    the edge pkg.sub -> pkg. ``from pkg import sub`` and ``import pkg.sub`` name the
    submodule and give the edge to pkg.sub, not to pkg. The toy package of
    test_cycle_check_models_package_faces pins all this.
    """
    edges = _module_graph(graph)
    components = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    components += [[a] for a, b in nx.selfloop_edges(edges)]
    return sorted(components)


def _source(module: str) -> str:
    """The file of a module of polyth or polyth_kernels, relative to the repository."""
    parts = module.split(".")
    top = "kernels" if parts[0] == "polyth_kernels" else parts[0]
    path = ROOT.joinpath(top, *parts[1:])
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


def _describe_cycles(graph: grimp.ImportGraph, components: list[list[str]], shown: int = 12) -> str:
    """Each cycle's imports (file:line) and its shortest simple cycles."""
    edges = _module_graph(graph)
    lines = []
    for component in components:
        lines.append(f"cycle among {len(component)} modules: {', '.join(component)}")
        sub = edges.subgraph(component)
        for importer, imported in sorted(sub.edges()):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(
                    f"    {_source(importer)}:{detail['line_number']}  {importer} -> {imported}"
                    f"  ({detail['line_contents']})"
                )
        cycles = sorted(nx.simple_cycles(sub), key=lambda c: (len(c), c))
        for cycle in cycles[:shown]:
            lines.append("    " + " -> ".join([*cycle, cycle[0]]))
        if len(cycles) > shown:
            lines.append(f"    ... and {len(cycles) - shown} more simple cycles")
    return "\n".join(lines)


def _build_graph(*packages: str, include_external_packages: bool = False) -> grimp.ImportGraph:
    """The import graph as the cycle check sees it: ``if TYPE_CHECKING:`` imports left out.

    They never run, so they close no cycle at import time, and they are the usual way to
    annotate with a type from a module that imports this one. (The import-linter contracts
    do count them: a type-only import of a higher layer is still an upward dependency.)
    """
    return grimp.build_graph(
        *packages,
        include_external_packages=include_external_packages,
        exclude_type_checking_imports=True,
        cache_dir=None,
    )


def test_no_import_cycles():
    """No import cycle between the modules of polyth and polyth_kernels, lazy imports included."""
    graph = _build_graph(*ROOT_PACKAGES)
    components = import_cycles(graph)
    if components:
        pytest.fail("import cycles:\n" + _describe_cycles(graph, components), pytrace=False)


def test_cycle_check_models_package_faces(tmp_path, monkeypatch):
    """import_cycles on a toy package: a face importing its submodules is no cycle; a
    submodule importing the face back is one; ``from pkg import sub`` names the submodule;
    a TYPE_CHECKING import closes no cycle."""
    name = "polyth_layering_toy"
    files = {
        "__init__.py": f"from {name}.leaf import f\nfrom {name}.back import g\n",
        "leaf.py": "def f():\n    return 1\n",
        "back.py": f"def g():\n    from {name} import f\n    return f()\n",
        "user.py": f"from {name} import leaf\nimport {name}.leaf\n",
        "typed.py": (
            f"from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from {name}.runtime import X\n"
        ),
        "runtime.py": f"from {name} import typed\nX = typed\n",
    }
    package = tmp_path / name
    package.mkdir()
    for filename, text in files.items():
        (package / filename).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))

    graph = _build_graph(name)
    edges = set(_module_graph(graph).edges())
    assert (name, f"{name}.leaf") in edges
    assert (f"{name}.leaf", name) not in edges  # no implicit submodule -> package edge
    assert (f"{name}.user", f"{name}.leaf") in edges
    assert (f"{name}.user", name) not in edges  # `from pkg import sub` is an import of pkg.sub
    assert (f"{name}.typed", f"{name}.runtime") not in edges
    assert import_cycles(graph) == [[name, f"{name}.back"]]


# --------------------------------------------------------------------------- theory's dependencies

THEORY_THIRD_PARTY = {"sympy", "networkx", "numpy", "opt_einsum"}


def test_theory_uses_only_sympy_networkx_numpy_opt_einsum():
    """polyth.theory imports, besides polyth and the standard library, only these four.

    The forbidden contracts name what must not come in (numba, torch, rich, ...); this is
    the allow-list, so that a new dependency of the theory is a decision, not a drift.
    """
    graph = grimp.build_graph(*ROOT_PACKAGES, include_external_packages=True, cache_dir=None)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found = []
    for module in sorted(graph.find_descendants("polyth.theory") | {"polyth.theory"}):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            top = imported.split(".")[0]
            if top in ROOT_PACKAGES or top in stdlib or top in THEORY_THIRD_PARTY:
                continue
            for detail in graph.get_import_details(importer=module, imported=imported):
                found.append(f"{_source(module)}:{detail['line_number']}  {detail['line_contents']}")
    if found:
        pytest.fail("polyth.theory imports outside its allow-list:\n" + "\n".join(found), pytrace=False)


# --------------------------------------------------------------------------- import polyth

HEAVY = ("sympy", "numba", "igraph", "torch", "matplotlib", "networkx", "scipy", "rich")


def test_import_polyth_loads_no_heavy_dependency():
    """``import polyth`` in a fresh interpreter loads none of the heavy dependencies.

    The deterministic stand-in for "import polyth is fast" (benchmarks/bench_import.py
    has the timings): the public names load on first use.
    """
    code = "import json, sys\nimport polyth\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    heavy = {name: [m for m in loaded if m == name or m.startswith(name + ".")] for name in HEAVY}
    heavy = {name: modules for name, modules in heavy.items() if modules}
    assert not heavy, "import polyth loaded: " + ", ".join(
        f"{name} ({len(modules)} modules)" for name, modules in sorted(heavy.items())
    )


# --------------------------------------------------------------------------- packaging


def test_pyproject_lists_every_package():
    """[tool.setuptools] packages names exactly the folders with an __init__.py under polyth/
    and kernels/ (installed as polyth_kernels through package-dir)."""
    setuptools = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    package_dir = setuptools.get("package-dir", {})
    assert package_dir.get("polyth_kernels") == "kernels"
    on_disk = set()
    for package in ROOT_PACKAGES:
        folder = ROOT / package_dir.get(package, package)
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            on_disk.add(".".join((package, *relative)))
    missing, stale = sorted(on_disk - listed), sorted(listed - on_disk)
    assert not missing and not stale, (
        f"packages missing from pyproject.toml: {missing}; listed but absent: {stale}"
    )
