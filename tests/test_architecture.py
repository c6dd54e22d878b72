"""The shape of the code that docs/architecture.md describes, checked on the source itself:
imports form no cycle (src/ and benchmarks/) and run down the documented layers, every
top-level module sits in one layer, config.py is a leaf, no function grows past the
size a reader takes in at once, and the formatter formats everything (no ``# fmt: skip``).
Modules are split by concern, not by a line count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
BENCHMARKS = ROOT / "benchmarks"
MAX_FUNCTION_LINES = 60


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` (module ``name``) imports anywhere in its body,
    lazily inside functions too; a ``from package import name`` counts as importing the
    submodule when there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph(base: Path, files: list[Path]) -> dict[str, set[str]]:
    names = {module_name(f, base): f for f in files}
    return {name: imported(path, name, set(names)) for name, path in names.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def package_edges() -> dict[str, set[str]]:
    """src/dfcvae's import graph, where a package stands for its ``__init__`` alone: importing
    ``dfcvae.data.cache`` runs ``dfcvae/data/__init__.py`` first, but a package that
    re-exports its own submodules is not a cycle."""
    edges = graph(SRC, sorted(SRC.rglob("*.py")))
    return {
        name: {other for other in targets if not name.startswith(other + ".")}
        for name, targets in edges.items()
    }


def test_the_import_graph_of_src_has_no_cycle() -> None:
    assert cycles(package_edges()) == []


def test_the_import_graph_of_benchmarks_has_no_cycle() -> None:
    assert cycles(graph(BENCHMARKS, sorted(BENCHMARKS.glob("*.py")))) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_imports_nothing_from_dfcvae_but_errors() -> None:
    known = {module_name(f, SRC) for f in SRC.rglob("*.py")}
    path = SRC / "dfcvae" / "config.py"
    assert imported(path, "dfcvae.config", known) <= {"dfcvae.errors"}


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_over_60_lines() -> None:
    too_long = [line for f in sorted(SRC.rglob("*.py")) for line in long_functions(f)]
    assert too_long == []


def test_the_formatter_formats_every_line() -> None:
    skipped = [
        f"{f.relative_to(ROOT)}:{n}"
        for f in sorted(SRC.rglob("*.py"))
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if "fmt: skip" in line or "fmt: off" in line
    ]
    assert skipped == []


# The one upward edge docs/architecture.md names, on purpose.
UPWARD_EDGES = {("dfcvae.data.datamodule", "dfcvae.training.resume")}


def documented_layers() -> list[set[str]]:
    """The layers of docs/architecture.md's table, bottom first: each the set of the top-level
    modules and folders of src/dfcvae that its row names (in backticks, folders with a ``/``)."""
    top = {p.stem for p in (SRC / "dfcvae").glob("*.py")} | {
        p.name for p in (SRC / "dfcvae").iterdir() if (p / "__init__.py").is_file()
    }
    table = (ROOT / "docs" / "architecture.md").read_text().split("## Layers")[1]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ")][1:]
    return [
        {name.rstrip("/") for name in row[2].split("`")[1::2]} & top
        for row in rows
        if not row[1].strip().startswith("-")
    ]


def test_every_module_of_the_tree_sits_in_one_documented_layer() -> None:
    layers = documented_layers()
    top = {p.stem for p in (SRC / "dfcvae").glob("*.py")} | {
        p.name for p in (SRC / "dfcvae").iterdir() if (p / "__init__.py").is_file()
    }
    placed = [name for layer in layers for name in layer]
    assert len(placed) == len(set(placed)), placed  # no module in two layers
    assert top - {"__init__", "__main__"} == set(placed)


def test_imports_run_down_the_documented_layers() -> None:
    """A module imports from its own layer or the ones below it, lazily too: the folders
    (``vae/``, ``saved/``, ``training/``...) show the layers without reading the doc."""
    rank = {name: i for i, layer in enumerate(documented_layers()) for name in layer}

    def layer_of(module: str) -> int | None:
        parts = module.split(".")
        return rank.get(parts[1]) if len(parts) > 1 else None

    upward = sorted(
        (name, other)
        for name, targets in package_edges().items()
        for other in targets
        if layer_of(name) is not None
        and layer_of(other) is not None
        and layer_of(other) > layer_of(name)
        and (name, other) not in UPWARD_EDGES
    )
    assert upward == []
    assert documented_layers()[-1] == {"cli"}
