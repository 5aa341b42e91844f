"""Issue 21's clean-up, kept: `keys/` does no file I/O; the project's modules import each other without a cycle,
also none hidden behind an import inside a function; the decision actions and case states have one definition
(keys/decisions.py) that the server and the app's words follow."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import client.app.words as words
import server.config
from keys.decisions import ACTIONS, CASE_STATES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("keys", "contract", "server", "client", "privatefiles")
# imports inside a function that are there to keep a heavy module from loading on every start; none is a cycle
LAZY = {
    ("client.main", "client.demo"),
    ("client.main", "client.app.server"),
    ("client.main", "client.home"),
    ("client.launch", "client.main"),  # the program loads while the keystore's unlock runs in a thread
    ("client.commands.report", "client.report.charts"),
    ("client.commands.report", "client.report.html"),
}

# no cycle is allowed (the app's connector moved to client/net.py, which ended the last one)
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(imported at module level, imported inside a function) project modules of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top: set[str] = set()
    inner: set[str] = set()

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        else:
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
            names = {f"{base}.{alias.name}" for alias in node.names} | {base}
        return {n for n in names if n in known and n != name}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                (inner if in_function else top).update(targets(child))
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            else:
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(tree, False)
    return top, inner


def test_keys_does_no_file_io() -> None:
    for path in (ROOT / "keys").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = {a.name for a in node.names} if isinstance(node, ast.Import) else {node.module or ""}
                assert not names & {"os", "pathlib", "tempfile", "shutil", "io"}, (path.name, names)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", path.name


def test_no_import_cycles_and_no_hidden_ones() -> None:
    known = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        top, inner = _imports(name, path, known)
        assert {(name, target) for target in inner} <= LAZY, f"{name} imports {inner} inside a function"
        graph[name] = {target for target in top | inner if (name, target) not in KNOWN_CYCLE_EDGES}

    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])


def test_the_app_does_not_import_the_command_line() -> None:
    known = _modules()
    top, _inner = _imports("client.app.server", known["client.app.server"], known)
    assert "client.main" not in top


def test_shared_logic_lives_in_library_modules() -> None:
    """What the command line and the app share lives in client's library modules: nothing but the command line's
    entry (client/main.py) imports a command module, and a command module takes from another only its argparse
    wiring and printing, never a step of the work (issue 21)."""
    known = _modules()
    wiring = {"register", "register_cases", "add_attach_options", "report_plan"}
    problems = []
    for name, path in known.items():
        if not name.startswith("client.") or name == "client.main":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("client.commands"):
                taken = {alias.name for alias in node.names}
                if not name.startswith("client.commands.") or not taken <= wiring:
                    problems.append(f"{name} imports {sorted(taken)} from {node.module}")
    assert not problems, "\n".join(problems)


def test_actions_and_case_states_have_one_definition() -> None:
    assert server.config.ACTIONS is ACTIONS and server.config.CASE_STATES is CASE_STATES
    # the app's words are markers for the catalogs (they must be literals there): the same values, each translated
    assert words.ACTIONS == ACTIONS and words.CASE_STATES == CASE_STATES


def test_layers_import_only_downwards() -> None:
    """keys/ imports nothing of ours; contract/ only keys/; the server and the client each the two below them and
    never each other (the contract they share is contract/, not one of them)."""
    known = _modules()
    allowed = {
        "keys": {"keys"},
        "contract": {"keys", "contract"},
        "privatefiles": {"keys", "privatefiles"},
        "server": {"keys", "contract", "privatefiles", "server"},
        "client": {"keys", "contract", "privatefiles", "client"},
    }
    crossing = []
    for name, path in known.items():
        top, inner = _imports(name, path, known)
        layer = name.split(".")[0]
        crossing += [f"{name} -> {other}" for other in sorted(top | inner) if other.split(".")[0] not in allowed[layer]]
    assert crossing == []


def _test_imports() -> list[tuple[str, str, list[str]]]:
    """(file, module, names) of every `from tests... import` in tests/ and bench/."""
    found = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                found.append((str(path.relative_to(ROOT)), node.module or "", [a.name for a in node.names]))
    return found


def _is_fixture(module: str, name: str) -> bool:
    value = getattr(importlib.import_module(module), name, None)
    # pytest 8.4 and later wrap a fixture in a FixtureFunctionDefinition; earlier ones mark the function
    return type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction")


def test_test_support_is_one_importable_place() -> None:
    """Helpers that tests and benches share live in tests/support (issue 21): a bench imports from tests only
    tests.support; nobody imports a private name of another test module; from a conftest only its fixtures are
    imported (by another conftest or a test that uses them)."""
    problems = []
    for where, module, names in _test_imports():
        if where.startswith("bench/") and not module.startswith("tests.support"):
            problems.append(f"{where}: a bench imports {module}")
        private = [n for n in names if n.startswith("_")]
        if private:
            problems.append(f"{where}: imports the private {', '.join(private)} of {module}")
        if where.startswith("tests/support/") and module.endswith(".conftest"):
            problems.append(f"{where}: test support imports {module} (support comes before fixtures)")
        if module.endswith(".conftest"):
            helpers = [n for n in names if not _is_fixture(module, n)]
            if helpers:
                problems.append(f"{where}: imports {', '.join(helpers)} from {module}, not a fixture (tests/support)")
    assert not problems, "\n".join(problems)
