"""The package layout keeps its promises (tuss_fx/__init__.py): few modules at the top, every import
runs down the floors or stays on its own, no circle, and the public API where the manual shows it."""

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

import tuss_fx

ROOT = Path(__file__).resolve().parents[1]
# unit -> floor: a unit may import its own floor and lower ones (the table in tuss_fx/__init__.py)
FLOORS = {"errors": 0, "signals": 0, "hold_points": 0, "recordings": 0, "measure": 1, "media": 2, "model": 3, "kernels": 3, "deepfilternet": 3,
          "report": 4, "separation": 5, "mix": 6, "plugin": 7, "batch": 7, "train": 8, "timeline": 8, "audition": 8, "cli": 9}
MAX_TOP_MODULES = 8


def _sources() -> dict[str, Path]:
    """Dotted module name -> file, for tuss_fx/ and kernels/ (installed as tuss_fx.kernels)."""
    modules = {}
    for path in (ROOT / "tuss_fx").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (ROOT / "kernels").glob("*.py"):
        modules["tuss_fx.kernels" + ("" if path.stem == "__init__" else f".{path.stem}")] = path
    return modules


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tuss_fx"


def _imports(path: Path, modules: set[str], top_level_only: bool) -> set[str]:
    """The tuss_fx modules `path` imports; `from package import module` counts the module alone."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            names |= submodules if len(submodules) == len(node.names) else {node.module, *submodules}
    return names & modules


def test_at_most_eight_modules_sit_directly_under_tuss_fx():
    top = sorted(p.name for p in (ROOT / "tuss_fx").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_MODULES, top


def test_every_folder_is_on_a_floor_and_says_so():
    packages = {p.parent.name for p in (ROOT / "tuss_fx").glob("*/__init__.py")} | {"kernels"}
    units = packages | {p.stem for p in (ROOT / "tuss_fx").glob("*.py") if p.name != "__init__.py"}
    assert units - {"weights"} == set(FLOORS)
    for package in packages - {"weights", "kernels"}:
        docstring = ast.get_docstring(ast.parse((ROOT / "tuss_fx" / package / "__init__.py").read_text()))
        assert docstring and f"Floor {FLOORS[package]}" in docstring, package


def test_every_package_folder_is_installed():
    """pyproject lists packages one by one: a folder left out would be missing from a wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tuss_fx").rglob("__init__.py")}
    assert folders <= listed, sorted(folders - listed)


def test_imports_never_run_up_a_floor():
    modules = _sources()
    for module, path in modules.items():
        importer = _unit(module)
        for imported in _imports(path, set(modules), top_level_only=False):
            target = _unit(imported)
            assert importer == "tuss_fx" or target != "tuss_fx", f"{module} imports the tuss_fx facade"
            if importer != "tuss_fx":
                assert FLOORS[target] <= FLOORS[importer], f"{module} imports {imported}, a higher floor"


@pytest.mark.parametrize("top_level_only,by_unit", [(True, False), (False, True), (False, False)],
                         ids=["module level", "units with lazy imports", "modules with lazy imports"])
def test_no_import_circle(top_level_only, by_unit):
    """Between units (lazy imports included), and between modules, at import time and lazily (a lazy import
    that closes a circle only hides it until the function runs)."""
    modules = _sources()
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = _imports(path, set(modules), top_level_only) - {module}
        if by_unit:
            module, targets = _unit(module), {_unit(t) for t in targets} - {_unit(module)}
        edges.setdefault(module, set()).update(targets)
    finished: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, "import circle: " + " -> ".join(path[path.index(node):] + (node,))
        if node not in finished:
            for target in edges.get(node, ()):
                visit(target, path + (node,))
            finished.add(node)

    for node in list(edges):
        visit(node, ())


def test_public_api_is_reexported_where_the_manual_shows_it():
    from tuss_fx.batch.jobs import BatchJob, collect_inputs
    from tuss_fx.batch.local import run_batch
    from tuss_fx.mix.film import remix_film
    from tuss_fx.mix.presets import load_preset
    from tuss_fx.mix.remix import remix_file
    from tuss_fx.plugin.processors import Chain, TUSSExtract, TUSSRemix, TUSSRemove
    from tuss_fx.separation.files import separate_file
    from tuss_fx.separation.separator import Separator

    assert (tuss_fx.Separator, tuss_fx.load_preset, tuss_fx.remix_file, tuss_fx.remix_film,
            tuss_fx.separate_file) == (Separator, load_preset, remix_file, remix_film, separate_file)
    assert set(tuss_fx.__all__) <= set(dir(tuss_fx))
    with pytest.raises(AttributeError, match="no attribute 'remix_movie'"):
        tuss_fx.remix_movie  # noqa: B018

    batch, plugin = importlib.import_module("tuss_fx.batch"), importlib.import_module("tuss_fx.plugin")
    assert (plugin.Chain, plugin.TUSSExtract, plugin.TUSSRemix, plugin.TUSSRemove) == \
        (Chain, TUSSExtract, TUSSRemix, TUSSRemove)
    assert (batch.BatchJob, batch.collect_inputs, batch.run_batch) == (BatchJob, collect_inputs, run_batch)
    from tuss_fx.timeline.conform import ConformJob
    from tuss_fx.timeline.plan import conform_timeline, plan_conform

    timeline = importlib.import_module("tuss_fx.timeline")
    assert (timeline.ConformJob, timeline.conform_timeline, timeline.plan_conform) == \
        (ConformJob, conform_timeline, plan_conform)
