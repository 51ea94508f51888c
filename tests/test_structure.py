"""The shape of the library (docs/architecture.md): no import cycles, small modules, one home per concept."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "embedxfer"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, known: set[str], *, type_only: bool = False) -> set[str]:
    """Every embedxfer module `path` imports, at module level or inside functions; `if TYPE_CHECKING:` blocks
    are left out (they never run) unless `type_only`. `from pkg import name` counts as importing `pkg.name` when
    that is a module."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node) and not type_only:
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    found.add(full)
                elif base in known:
                    found.add(base)
    return found - {module_name(path)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_library_has_no_import_cycle():
    modules = library_modules()
    known = set(modules)
    graph = {name: imported_modules(path, known) for name, path in modules.items()}
    assert "embedxfer.checkpoints.arch" in graph["embedxfer.checkpoints.loading"]  # the walker sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_kinds_declare_their_outputs_without_importing_results():
    """What a kind declares (figures, tables, downloads, Support) and the ExperimentData it declares them over live
    in experiments/outputs.py, below both packages: results/ reads the kinds, never the other way round, type-only
    imports included (they would close a circle for anyone drawing the import structure)."""
    modules = library_modules()
    known = set(modules)
    upward = {
        name: sorted(m for m in imported_modules(path, known, type_only=True) if m.startswith(_ABOVE_KINDS))
        for name, path in modules.items()
        if name.startswith("embedxfer.experiments")
    }
    assert not {name: found for name, found in upward.items() if found}
    assert "embedxfer.experiments.outputs" in imported_modules(modules["embedxfer.results.figures"], known)


#: the modules that read kinds, which kinds must not import
_ABOVE_KINDS = ("embedxfer.results", "embedxfer.compat")


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_library_file_is_over_400_lines():
    long = {
        name: n for name, path in library_modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_library_never_imports_streamlit():
    for name, path in library_modules().items():
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(m.split(".")[0] == "streamlit" for m in names), name


def test_status_lists_are_defined_once(monkeypatch):
    """Pages and the CLI take their status names from embedxfer.trials, not from copies."""
    monkeypatch.syspath_prepend(str(ROOT))
    from embedxfer.trials import EXPERIMENT_STATUSES, TRIAL_STATUSES
    from ui.common import STATUS_ICONS

    assert set(STATUS_ICONS) == set(TRIAL_STATUSES) | set(EXPERIMENT_STATUSES)
    copies = [*ROOT.glob("app_pages/*.py"), *ROOT.glob("ui/*.py"), *PACKAGE.rglob("*.py")]
    for path in [p for p in copies if p.name != "trials.py"]:
        text = path.read_text()
        assert '("queued", "running")' not in text and '"completed", "failed", "diverged"' not in text, path


def test_code_cites_the_projects_own_docs():
    for path in [*PACKAGE.rglob("*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "app.py"]:
        assert "DESIGN.md" not in path.read_text(), f"{path}: cite docs/architecture.md instead"
    assert (ROOT / "docs" / "architecture.md").is_file()


def test_bench_scripts_import_names_that_exist():
    """Benches are not run by the suite; a rename in the library must still not break them unnoticed."""
    import importlib

    for script in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("embedxfer"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                        f"{script.name} imports {alias.name} from {node.module}, which has no such name"
                    )
