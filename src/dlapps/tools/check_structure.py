"""Fail on an import cycle or an upward import inside ``src/dlapps``: ``python -m dlapps.tools.check_structure``.

The layers, each importing only the ones below it (and itself):
  0 ``dlapps`` (its ``__init__``: the error type)
  1 ``dlapps.core`` (models, data, inference, compute)
  2 ``dlapps.runner`` (runs, options, reports, the training loop, the app hooks)
  3 the apps: ``dlapps.transfer``, ``visualize``, ``adapt``, ``generate`` (none imports another)
  4 the orchestration that runs apps by name: ``dlapps.apps``, ``sweep``, ``study``, ``demo``, ``cli``, ``tools``

Every import counts, at module level or inside a function: a function-level import only postpones a
cycle to run time, it does not remove the tangle a maintainer has to hold in their head. So does every
entry of a ``*_COMMANDS`` table ("module:attribute" strings the command line imports lazily).
``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg`` (its
``__init__``). A package's ``__init__`` is not counted as imported by its own submodules (Python runs it
first, but only to re-export them). An import of a dlapps module inside a function says why on its line (a
comment): a lazy import buys start-up time, else it belongs at the top. Exit status 1 with one line per
problem; 0 with a summary.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # src/dlapps
APPS = ("transfer", "visualize", "adapt", "generate")
LAYERS = {"core": 1, "runner": 2, **{a: 3 for a in APPS}}  # any other first-level name: 4, the orchestration
LAYER_NAMES = {0: "the package root", 1: "core", 2: "runner", 3: "an app", 4: "the orchestration"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its body)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_commands_table(node):
                targets = [v.value for v in node.value.values if isinstance(v, ast.Constant)]  # type: ignore[union-attr]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in files else src for a in node.names]
            for t in targets:
                t = t.partition(":")[0]
                while t and t not in files:  # `import dlapps.x.y` of a name inside a module
                    t = t.rpartition(".")[0]
                if t and t != mod and not mod.startswith(t + "."):
                    graph[mod].add(t)
    return graph


def _is_commands_table(node: ast.Assign | ast.AnnAssign) -> bool:
    """``NAME_COMMANDS = {"name": "module:attribute", ...}``: a registry of lazily imported commands."""
    names = node.targets if isinstance(node, ast.Assign) else [node.target]
    return (isinstance(node.value, ast.Dict) and any(isinstance(n, ast.Name) and n.id.endswith("COMMANDS")
                                                     for n in names))


def layer(module: str) -> int:
    """The layer of a module of dlapps (see the module docstring)."""
    parts = module.split(".")
    return 0 if len(parts) == 1 else LAYERS.get(parts[1], 4)


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APPS else None


def upward(graph: dict[str, set[str]]) -> list[str]:
    """One line per import that points up the layers, or from one app into another."""
    out = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if layer(b) > layer(a):
                out.append(f"upward import: {a} ({LAYER_NAMES[layer(a)]}) -> {b} ({LAYER_NAMES[layer(b)]})")
            elif layer(a) == layer(b) == 3 and app_of(a) != app_of(b):
                out.append(f"one app imports another: {a} -> {b}")
    return out


def unexplained_lazy_imports(root: Path = ROOT) -> list[str]:
    """One line per import of a dlapps module inside a function that does not say why it waits (a comment on
    its line, e.g. "# matplotlib: only when a figure is drawn"): a lazy import should buy start-up time, and
    one with no stated reason belongs at the top of its module."""
    out = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        seen: set[int] = set()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == root.name
                        and node.lineno not in seen):
                    seen.add(node.lineno)
                    if not any("#" in ln for ln in lines[node.lineno - 1:node.end_lineno]):
                        out.append(f"lazy import with no reason: {module_name(path, root)} line {node.lineno}: "
                                   f"{lines[node.lineno - 1].strip()}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def main() -> int:
    graph = import_graph()
    found = cycles(graph)
    for comp in found:
        members = set(comp)
        edges = ", ".join(f"{a} -> {b}" for a in comp for b in sorted(graph[a] & members))
        print(f"import cycle among {len(comp)} modules: {edges}")
    problems = upward(graph) + unexplained_lazy_imports()
    for line in problems:
        print(line)
    if found or problems:
        return 1
    print(f"no import cycles, no upward imports and no unexplained lazy imports among {len(graph)} modules of dlapps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
