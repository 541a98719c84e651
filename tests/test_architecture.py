"""The import graph of ``sit`` has layers and no cycles.

The graph is read with ``ast`` from every module under the installed ``sit`` package, imports inside
functions included: a lazy import is still a dependency. Its units are the subpackages and the
top-level modules. A unit may import its own layer or a lower one; phases import each other only
along the declared edges below. Names that a registry loads at run time (``sit.cli.PHASE_CLIS``,
``sit.toy.skills.SKILLS``) are plugins a table names, not imports, and are not edges.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sit

PACKAGE = Path(sit.__file__).resolve().parent

LAYERS = {
    # what everything stands on; ``cli`` here is the session options every phase's cli.py adds
    "foundation": ("sit", "runtime", "config", "store", "manifest", "workspace", "project", "display", "progress", "noise", "toy",
                   "models", "session", "cli"),
    # used by several phases and owned by none
    "shared": ("inference", "stages", "charts"),
    "phase": ("generation", "filtering", "preference", "training", "evaluation", "agent"),
    # read the phases' artifacts or code, and nothing below imports them
    "top": ("planning", "report", "publish", "pipeline", "hygiene", "release"),
}
RANK = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}

# A later phase may read what an earlier one defines; each edge says why.
PHASE_EDGES = {
    # the filter step reads Magpie's output file, named where Magpie writes it
    ("filtering", "generation"),
    # the base stage is stopped at phase 03's stop strings, and held-out answers are scored with its reward model
    ("evaluation", "preference"),
    # the stage comparison asks the instructions training kept out (heldout_ids) and their digest
    ("evaluation", "training"),
    # a base agent is asked in phase 03's completion format and stopped at its stop set, as every benchmark asks base
    ("agent", "preference"),
}
# Imports of a higher layer from a lower one.
UPWARD_EDGES = {
    # merging an adapter into fp16 checks where the model fits with the planner's parameter count, before loading
    ("training", "planning"),
}
# Module cycles left on purpose: the toy package builds a missing world with its build module, which reads
# the package's cpu_kernels; editing build.py would change every toy world's content hash.
MODULE_CYCLES = {frozenset({"sit.toy", "sit.toy.build"})}


def modules(package: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def module_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {imported sit module: line of the first such import}."""
    known = modules(package)

    def resolve(name: str) -> str | None:  # "sit.a.b.name" -> the longest module prefix
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in known.items():
        here = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join([*parent, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                module = resolve(target) if target.split(".")[0] == "sit" else None
                if module and module != name:
                    edges.setdefault(module, node.lineno)
        graph[name] = edges
    return graph


def unit(module: str) -> str:
    """``sit.evaluation.run`` -> ``evaluation``; ``sit.config`` -> ``config``; ``sit`` -> ``sit``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def unit_graph(graph: dict[str, dict[str, int]]) -> dict[tuple[str, str], list[str]]:
    """(unit, imported unit) -> the module imports that make the edge."""
    edges = defaultdict(list)
    for module, targets in graph.items():
        for target, line in targets.items():
            if unit(module) != unit(target):
                edges[(unit(module), unit(target))].append(f"{module}:{line} -> {target}")
    return dict(edges)


def cycles(nodes, edges) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    successors = defaultdict(set)
    for a, b in edges:
        successors[a].add(b)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(successors[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def layer_violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    problems = []
    for (a, b), where in sorted(edges.items()):
        if (a, b) in UPWARD_EDGES or (a, b) in PHASE_EDGES:
            continue
        if RANK[a] < RANK[b]:
            problems.append(f"{a} ({_layer(a)}) imports {b} ({_layer(b)}): {'; '.join(where)}")
        elif _layer(a) == _layer(b) == "phase":
            problems.append(f"phase {a} imports phase {b}: {'; '.join(where)}")
    return problems


def _layer(name: str) -> str:
    return next(layer for layer, units in LAYERS.items() if name in units)


def test_every_subpackage_and_top_level_module_has_a_layer():
    units = {unit(m) for m in modules()}
    assert sorted(units - set(RANK)) == [], "place each new subpackage or module in LAYERS"


def test_no_import_cycle_between_subpackages_and_top_level_modules():
    graph = module_graph()
    edges = unit_graph(graph)
    found = cycles({unit(m) for m in graph}, edges)
    assert found == [], "\n".join(
        f"cycle {' <-> '.join(c)}: " + "; ".join(w for (a, b), ws in edges.items() if a in c and b in c for w in ws)
        for c in found)


def test_no_import_cycle_between_modules():
    graph = module_graph()
    found = [c for c in cycles(graph, [(a, b) for a, targets in graph.items() for b in targets])
             if frozenset(c) not in MODULE_CYCLES]
    assert found == [], "\n".join(
        f"cycle {' <-> '.join(c)}: " + "; ".join(f"{a}:{graph[a][b]} -> {b}" for a in c for b in graph[a] if b in c)
        for c in found)


def test_imports_go_down_the_layers_and_between_phases_only_along_declared_edges():
    assert layer_violations(unit_graph(module_graph())) == []


def test_every_declared_exception_is_still_needed():
    graph = module_graph()
    edges = unit_graph(graph)
    module_cycles = {frozenset(c) for c in cycles(graph, [(a, b) for a, targets in graph.items() for b in targets])}
    assert sorted((PHASE_EDGES | UPWARD_EDGES) - set(edges)) == [], "an allowed edge the code no longer uses"
    assert [sorted(c) for c in MODULE_CYCLES - module_cycles] == [], "a declared module cycle that is gone"


def test_the_checks_see_a_lazy_upward_import_and_a_cycle(tmp_path):
    """The graph reads imports inside functions, relative and absolute, and the checks report what they find."""
    root = tmp_path / "sit"
    for folder in ("agent", "training", "inference"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "config.py").write_text("def f():\n    from .inference.engine import x\n")
    (root / "inference" / "engine.py").write_text("import sit.config\n")
    (root / "training" / "compare.py").write_text("def g():\n    from ..agent import results\n")
    (root / "agent" / "results.py").write_text("from ..training.compare import g\n")
    graph = module_graph(root)
    assert graph["sit.config"] == {"sit.inference.engine": 2}
    edges = unit_graph(graph)
    assert cycles({unit(m) for m in graph}, edges) == [["agent", "training"], ["config", "inference"]]
    assert [p.split(":")[0] for p in layer_violations(edges)] == [
        "phase agent imports phase training", "config (foundation) imports inference (shared)",
        "phase training imports phase agent"]


def test_every_session_parameter_says_it_is_a_session():
    """A function that takes the session says so, so an editor and a reader see what it may use."""
    untyped = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                    if arg.arg == "session" and ast.unparse(arg.annotation or ast.Constant(None)) != "Session":
                        untyped.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert untyped == []
