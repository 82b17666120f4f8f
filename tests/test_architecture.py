"""The house: one direction of imports (import-linter contracts in pyproject.toml), no import cycle
anywhere in lcml (imports inside functions included), and modules and functions a reader can take in
one sitting: 400 lines a module, 60 a function without its docstring (docs/architecture.md lists the
few that may be longer, and why)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "lcml"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_import_linter_keeps_every_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", proc.stdout)
    assert kept and int(kept.group(1)) >= 4 and kept.group(2) == "0", proc.stdout[-2000:]


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_including_imports_inside_functions():
    import grimp

    graph = grimp.build_graph("lcml", cache_dir=None)
    # grimp reads every import statement, those inside functions too
    assert graph.direct_import_exists(importer="lcml.serving.batch", imported="lcml.serving.inputs")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c"}

        @staticmethod
        def find_modules_directly_imported_by(m):
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[m]

    assert _cycles(Graph()) == [["a", "b"]]


def _documented_exceptions() -> set[str]:
    """The ``path`` and ``path:function`` entries of docs/architecture.md's list of long ones."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("<!-- long: begin -->", 1)[1].split("<!-- long: end -->", 1)[0]
    return set(re.findall(r"`(src/lcml/[\w/]+\.py(?::\w+)?)`", section))


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function from its signature to its end, its docstring left out (NumPy docstrings are long
    on purpose: they are the reference a reader opens first)."""
    body = node.body
    doc = body[0] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str) else None
    doc_lines = doc.end_lineno - doc.lineno + 1 if doc is not None else 0
    return node.end_lineno - node.lineno + 1 - doc_lines


def _too_long() -> set[str]:
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.add(rel)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_FUNCTION_LINES:
                found.add(f"{rel}:{node.name}")
    return found


def test_modules_and_functions_fit_one_sitting_or_are_listed():
    too_long, listed = _too_long(), _documented_exceptions()
    assert too_long - listed == set(), "longer than the limits and not in docs/architecture.md's list"
    assert listed - too_long == set(), "listed in docs/architecture.md but no longer too long: take it off"
