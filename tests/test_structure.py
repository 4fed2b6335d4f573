"""The code's structure, read from its source with ``ast`` (nothing of it is imported): which layer may import
which, no import cycles, small files, and no module-level mutable state beyond the state the design names.

Each failure names the file, the line where it can, and the rule. An allowance below lets a known breach pass
while the code is being reshaped; an allowance that is no longer needed fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

SRC = ROOT / "src"
PACKAGE = "airflow_remote_tasks"

# Bottom to top: a module imports from its own layer and the layers below, never from a layer above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"core", "version"}),
    frozenset({"hooks"}),
    frozenset({"platforms"}),
    frozenset({"registry"}),
    frozenset({"links", "triggers"}),
    frozenset({"operators", "sensors"}),
    frozenset({"provider_info", "cli", "__init__"}),
)
LAYER_NAMES = " < ".join(", ".join(sorted(layer)) for layer in LAYERS)
# The emulators stand beside the provider (they follow the protocols' documents, not the provider's code): they
# import only the core and each other, and only the command line starts them.
EMULATORS_IMPORT = frozenset({"core", "version", "emulators"})
EMULATORS_IMPORTED_BY = frozenset({"cli", "emulators"})

# Code that is run, as opposed to the tests (grouped by subject, not by size).
SIZED = ("src", "scripts", "benchmarks", "example_dags")
MAX_LINES = 400

# Containers made at module level, and the calls that change one in place.
CONTAINER_FACTORIES = frozenset(
    {
        "dict",
        "list",
        "set",
        "bytearray",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "deque",
        "ChainMap",
        "WeakKeyDictionary",
        "WeakValueDictionary",
        "WeakSet",
    }
)
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "popitem",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "appendleft",
        "extendleft",
        "popleft",
        "rotate",
        "sort",
        "reverse",
        "move_to_end",
        "__setitem__",
        "__delitem__",
    }
)

# Decorators that keep a function's answers for the life of the process.
CACHES = frozenset({"cache", "lru_cache"})

# The module-level state the design names: per event loop (core.loops: PerLoop, and SingleFlight on it), each
# with what keeps it from growing or going stale. A PerLoop drops a closed loop's values at its next lookup.
NAMED_STATE: dict[str, str] = {
    "airflow_remote_tasks.core.transport._shared": (
        "PerLoop: a loop's pooled clients, closed by close_shared_clients, replaced once closed"
    ),
    "airflow_remote_tasks.core.batching._batchers": "PerLoop: one status batcher per platform object and loop",
    "airflow_remote_tasks.core.batching._LISTINGS": (
        "SingleFlight: a listing is kept at most LISTING_KEPT_FOR, dropped when a caller asks after that"
    ),
    "airflow_remote_tasks.core.executors._SHARED_ANSWERS": (
        "SingleFlight: a shared GET's answer is shared only while it is in flight, then dropped"
    ),
    "airflow_remote_tasks.core.secrets._MASKER_MESSAGES": (
        "PerLoop: the messages to the supervisor's masker in flight, each dropped once sent"
    ),
    "airflow_remote_tasks.platforms.flyte.watch._STREAMS": (
        "PerLoop: one WatchRuns stream per platform object, project and domain, dropped when it closes (no "
        "wait read or paused on any of its runs for LEASE_SECONDS)"
    ),
    "airflow_remote_tasks.hooks.connection_reads.RECENT_PLATFORMS": (
        "SingleFlight: a connection read is kept CONNECTION_TTL, dropped when a caller asks after that"
    ),
    "airflow_remote_tasks.triggers.remote_run.TASK_STATE_READS": (
        "SingleFlight: a task-state read is shared while in flight, nothing kept once answered"
    ),
}

# Known breaches, each with why it is still there. Delete an entry once its breach is gone (the test says so).
LAYER_ALLOWANCES: dict[tuple[str, str], str] = {}  # (importing module, imported module) -> reason
CYCLE_ALLOWANCES: dict[frozenset[str], str] = {}  # the modules of one import cycle -> reason
LONG_FILE_ALLOWANCES: dict[str, str] = {}  # path from the checkout's root -> reason
STATE_ALLOWANCES: dict[str, str] = {  # module.name -> reason
    "airflow_remote_tasks.hooks.built_platforms.BUILT_PLATFORMS": (
        "process-wide, not per event loop: the platform objects built from connections (each holding its "
        "token), at most MAX_BUILT_PLATFORMS, the one built longest ago dropped first"
    ),
}


def report(rule: str, found: dict[Any, str], allowances: dict[Any, str], allowances_name: str) -> None:
    """Fail naming every breach of ``rule`` that no allowance covers, and every allowance no longer needed."""
    problems = [found[key] for key in sorted(found.keys() - allowances.keys(), key=str)]
    problems += [
        f"{allowances_name} allows {key!r}, which breaks the rule no more: delete the entry"
        for key in sorted(allowances.keys() - found.keys(), key=str)
    ]
    if problems:
        pytest.fail(f"{rule}:\n" + "\n".join(problems), pytrace=False)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def where(self) -> str:
        return str(self.path.relative_to(ROOT))


@dataclass(frozen=True)
class Import:
    importer: Module
    imported: str
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``: a layer's concern, but never run, so in no cycle

    @property
    def where(self) -> str:
        return f"{self.importer.where}:{self.line}"


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return found


def group(name: str) -> str:
    """The top-level part of the package a module belongs to (``core``, ``hooks``, ... or ``__init__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def platform_package(name: str) -> str | None:
    """``flyte`` for ``airflow_remote_tasks.platforms.flyte.auth``; None for ``platforms/__init__.py``."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 else None


def layer_of(name: str) -> int | None:
    return next((rank for rank, layer in enumerate(LAYERS) if group(name) in layer), None)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement under ``node``, in functions too, and whether it is under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, type_checking
        elif isinstance(child, ast.If) and is_type_checking(child.test):
            for statement in child.body:
                yield from import_nodes(ast.Module(body=[statement], type_ignores=[]), True)
            for statement in child.orelse:
                yield from import_nodes(ast.Module(body=[statement], type_ignores=[]), type_checking)
        else:
            yield from import_nodes(child, type_checking)


def imported_modules(module: Module, node: ast.stmt) -> Iterator[str]:
    """The package's modules an import statement loads by name (a name that is no module counts as its
    package's ``__init__``)."""
    known = modules()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                yield alias.name
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.name.split(".")
        if not module.is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    if source.split(".")[0] != PACKAGE:
        return
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        yield submodule if submodule in known else source


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for module in modules().values():
        for node, type_checking in import_nodes(module.tree):
            for name in imported_modules(module, node):
                found.append(Import(module, name, node.lineno, type_checking))
    return tuple(found)


def layer_breach(edge: Import) -> str | None:
    """What rule ``edge`` breaks, if any."""
    importer, imported = edge.importer.name, edge.imported
    if imported not in modules():
        return f"imports {imported}, which is no module of the package"
    source, target = group(importer), group(imported)
    for name in (importer, imported):
        if group(name) != "emulators" and layer_of(name) is None:
            return f"{name} is in no layer: place {group(name)!r} in LAYERS"
    if source == "emulators" and target not in EMULATORS_IMPORT:
        return f"imports {imported}: the emulators import only {', '.join(sorted(EMULATORS_IMPORT))}"
    if target == "emulators" and source not in EMULATORS_IMPORTED_BY:
        return f"imports {imported}: only {', '.join(sorted(EMULATORS_IMPORTED_BY))} import the emulators"
    if "emulators" in (source, target):
        return None
    if source == target == "platforms" and platform_package(importer) != platform_package(imported):
        return (
            f"imports {imported}: each platform package stands alone (none imports another, nor platforms/)"
        )
    if (layer_of(importer) or 0) < (layer_of(imported) or 0):
        return f"imports {imported}, from a higher layer"
    return None


def test_no_module_imports_from_a_higher_layer() -> None:
    breaches = {}
    for edge in imports():
        rule = layer_breach(edge)
        if rule:
            breaches.setdefault((edge.importer.name, edge.imported), f"{edge.where}: {rule}")
    report(f"layers ({LAYER_NAMES}) and their rules", breaches, LAYER_ALLOWANCES, "LAYER_ALLOWANCES")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``, each as a list of its nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def one_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """A shortest way from the component's first module back to itself, through the component."""
    start, inside = members[0], set(members)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph.get(node, set()) & inside):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    return members


def test_no_import_cycle() -> None:
    """Imports inside functions count (they run, later); those under ``if TYPE_CHECKING:`` do not (they never
    run), though they count for the layers."""
    graph: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for edge in imports():
        if not edge.type_checking and edge.imported in modules():
            graph.setdefault(edge.importer.name, set()).add(edge.imported)
            lines.setdefault((edge.importer.name, edge.imported), edge.where)
    cycles = {}
    for members in strongly_connected(graph):
        if len(members) > 1 or members[0] in graph.get(members[0], set()):
            cycle = one_cycle(graph, members)
            steps = ", ".join(lines[pair] for pair in itertools.pairwise(cycle))
            cycles[frozenset(members)] = f"import cycle {' -> '.join(cycle)} ({steps})"
    report("no import cycle between modules", cycles, CYCLE_ALLOWANCES, "CYCLE_ALLOWANCES")


def test_no_source_file_is_over_400_lines() -> None:
    long = {}
    for folder in SIZED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            count = len(path.read_bytes().splitlines())
            if count > MAX_LINES:
                long[str(path.relative_to(ROOT))] = (
                    f"{path.relative_to(ROOT)}: {count} lines, over {MAX_LINES}"
                )
    report(f"no source file over {MAX_LINES} lines", long, LONG_FILE_ALLOWANCES, "LONG_FILE_ALLOWANCES")


# -- module-level state --------------------------------------------------------------------------------------


def callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def is_container(value: ast.expr | None) -> bool:
    """A new mutable container: a dict, list or set display or comprehension, or a container's factory."""
    mutable = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
    return isinstance(value, mutable) or (
        isinstance(value, ast.Call) and callee(value) in CONTAINER_FACTORIES
    )


def module_level_values(module: Module) -> Iterator[tuple[str, ast.expr, int]]:
    for node in module.tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value, node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            yield node.target.id, node.value, node.lineno


def names_of(module: Module) -> dict[str, str]:
    """How a module refers to other modules' names and modules: local name -> ``module.name`` or ``module``."""
    known, found = modules(), {}
    for node, _ in import_nodes(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else PACKAGE
        else:
            for alias, source in zip(node.names, imported_modules(module, node), strict=False):
                found[alias.asname or alias.name] = (
                    source if source.endswith(alias.name) else f"{source}.{alias.name}"
                )
    return found


def qualified(module: Module, node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The ``module.name`` an expression denotes (``NAME``, ``imported``, ``module.NAME``, ``pkg.module.NAME``),
    when it denotes a name of one of the package's modules."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, f"{module.name}.{node.id}")
    if isinstance(node, ast.Attribute):
        owner = qualified(module, node.value, aliases)
        if owner and owner in modules():
            return f"{owner}.{node.attr}"
    return None


def local_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """The names a function binds for itself (its arguments and assignments, not those it declares global)."""
    arguments = function.args
    found = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    found |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
    declared: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    return found - declared


def changed_in_place(node: ast.AST) -> Iterator[tuple[ast.expr, str]]:
    """What ``node`` changes in place, if anything, and how."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        how = "del" if isinstance(node, ast.Delete) else "item assignment"
        yield from ((t.value, how) for t in node.targets if isinstance(t, ast.Subscript))
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Subscript):
        yield node.target.value, "item assignment"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        yield node.func.value, f".{node.func.attr}()"


def mutations(module: Module) -> Iterator[tuple[str, int, str]]:
    """Where ``module`` changes a module's value in place, or rebinds one through ``global``:
    ``(module.name, line, how)``. A function's own names are its own."""
    aliases = names_of(module)

    def visit(node: ast.AST, shadowed: frozenset[str]) -> Iterator[tuple[str, int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, shadowed | local_names(child))
                continue
            if isinstance(child, ast.Global):
                for name in child.names:
                    yield f"{module.name}.{name}", child.lineno, "rebound through `global`"
            for value, how in changed_in_place(child):
                root = value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in shadowed:
                    continue
                name = qualified(module, value, aliases)
                if name:
                    yield name, child.lineno, how
            yield from visit(child, shadowed)

    yield from visit(module.tree, frozenset())


@cache
def classes() -> dict[str, tuple[Module, ast.ClassDef]]:
    return {
        f"{module.name}.{node.name}": (module, node)
        for module in modules().values()
        for node in module.tree.body
        if isinstance(node, ast.ClassDef)
    }


def holds_state(name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether instances of the package's class ``name`` keep state that changes: a container or another such
    object on ``self``, or ``self``'s attributes set outside ``__init__``; a base class's count too."""
    if name not in classes() or name in seen:
        return False
    module, node = classes()[name]
    aliases, seen = names_of(module), seen | {name}
    for base in node.bases:
        base_name = qualified(module, base, aliases)
        if base_name and holds_state(base_name, seen):
            return True
    for method in node.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for statement in ast.walk(method):
            if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
                continue
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            on_self = [t for t in targets if isinstance(t, ast.Attribute) and ast.unparse(t.value) == "self"]
            if not on_self:
                continue
            value = statement.value
            made = isinstance(value, ast.Call) and qualified(module, value.func, aliases)
            if method.name != "__init__" or is_container(value) or (made and holds_state(made, seen)):
                return True
    return False


def module_state() -> dict[str, str]:
    """Module-level names that hold state: a container changed in place somewhere, an object that keeps state,
    a name rebound through ``global``, or a function whose answers ``functools`` keeps; by ``module.name``."""
    changed: dict[str, str] = {}
    state = {}
    for module in modules().values():
        for name, line, how in mutations(module):
            if how.startswith("rebound"):
                state[name] = f"{module.where}:{line}: {name.rsplit('.', 1)[1]} is module-level state, {how}"
            else:
                changed.setdefault(name, f"{module.where}:{line} ({how})")
    for module in modules().values():
        aliases = names_of(module)
        for name, value, line in module_level_values(module):
            qualified_name = f"{module.name}.{name}"
            made = isinstance(value, ast.Call) and qualified(module, value.func, aliases)
            if is_container(value) and qualified_name in changed:
                state[qualified_name] = (
                    f"{module.where}:{line}: {name} is a module-level container changed in place at "
                    f"{changed[qualified_name]}"
                )
            elif made and holds_state(made, frozenset()):
                state[qualified_name] = (
                    f"{module.where}:{line}: {name} is a module-level {made}, which keeps state"
                )
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    called = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if ast.unparse(called).split(".")[-1] in CACHES:
                        state[f"{module.name}.{node.name}"] = (
                            f"{module.where}:{node.lineno}: {node.name} keeps its answers ({ast.unparse(called)})"
                        )
    return state


def test_no_module_level_mutable_state_but_the_named_state() -> None:
    state = module_state()
    named = {
        name: state.pop(name, f"NAMED_STATE names {name}, which holds no state: delete it")
        for name in NAMED_STATE
    }
    report(
        "no module-level mutable state, but NAMED_STATE (each with its eviction rule)",
        {**state, **{name: why for name, why in named.items() if why.startswith("NAMED_STATE")}},
        STATE_ALLOWANCES,
        "STATE_ALLOWANCES",
    )


def test_no_two_test_modules_share_a_name() -> None:
    """The test folders are not packages: pytest imports each test module by its file name, and refuses a second
    module of the same name once bytecode is written (as on CI), failing the whole collection."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
