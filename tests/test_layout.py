"""The import directions the design promises, read from the source with ``ast`` (nothing is imported).

* The core of ``governance/`` (everything but ``governance/cli``) imports no other package of ours:
  monitors, the trainer and the web face build on it, never the other way round.
* The pure checks (``monitors/`` but its orchestrators) and the training loop (``trainer/`` but its
  orchestrators) reach no database module, even through what they import; the pure checks import
  nothing from ``trainer/``.
* Between the top-level packages there is no cycle once the entry layers (the CLI, the web face and
  the orchestrators below, which join the packages) are left out.

Every import counts: at module level, inside functions and under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGES = {"tests", "migrations"}
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_PACKAGES)
# The modules that join the packages: a name here covers the module and everything under it.
ENTRY_LAYERS = (
    "governance.cli",  # the command line
    "dashboards",  # the web face: the HTTP API and the pages
    "monitors.runner",  # one monitor window: reads the registry, runs a check, records the run
    "monitors.scheduler",  # the scheduler's tick
    "monitors.sandbox",  # the child process the model-executing checks run in
    "monitors.checks",  # one adapter per monitor kind, from a window to a recorded outcome
    "monitors.reports",  # run reports drawn from the recorded runs
    "monitors.explanations",  # a version's global attributions: loads the model, keeps them in the registry
    "trainer.train",  # `python -m trainer.train`, the command torchrun launches (it may track to MLflow)
    "trainer.worker",  # the retrain worker: claims a job and runs it (trainer.workflows)
    "trainer.workflows",  # the sequences the CLI, the API, the scheduler and the worker share
    "trainer.retrain",  # a retrain job's steps: training set, snapshot, fit, gates, candidate, mirror
    "trainer.training_data",  # a retrain's training set, assembled from the registry
    "trainer.tracking",  # the MLflow mirror of runs and stage changes
)
DATABASE = ("sqlalchemy", "alembic", "psycopg", "governance.db")


@dataclass(frozen=True)
class Imports:
    """Per module: the modules of ours it imports, and the outside modules it imports."""

    ours: Mapping[str, frozenset[str]]
    outside: Mapping[str, frozenset[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_sources(root: Path, packages: Iterable[str]) -> dict[str, str]:
    return {
        module_name(path, root): path.read_text(encoding="utf-8")
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def read_imports(sources: Mapping[str, str], packages: Iterable[str]) -> Imports:
    """Resolve every import to the longest module of ours it names (or to an outside module)."""
    ours_top = set(packages)
    known = set(sources)
    ours: dict[str, frozenset[str]] = {}
    outside: dict[str, frozenset[str]] = {}
    for module, text in sources.items():
        is_package = any(other.startswith(module + ".") for other in known)
        inside, out = set(), set()
        for name in _imported(ast.parse(text), module, is_package):
            if name.split(".")[0] not in ours_top:
                out.add(name)
                continue
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in known:
                    inside.add(candidate)
                    break
        inside.discard(module)
        ours[module], outside[module] = frozenset(inside), frozenset(out)
    return Imports(ours=ours, outside=outside)


def is_entry(module: str, entry_layers: Iterable[str] = ENTRY_LAYERS) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in entry_layers)


def reach(imports: Imports, start: str) -> set[str]:
    """Every module of ours that importing ``start`` runs: what it imports, and their packages."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        parents = [".".join(parts[:cut]) for cut in range(1, len(parts))]
        todo.extend(m for m in [*imports.ours.get(module, ()), *parents] if m in imports.ours)
    return seen


def touches_database(imports: Imports, module: str) -> bool:
    names = {*imports.outside.get(module, ()), *imports.ours.get(module, ())}
    return any(name == db or name.startswith(db + ".") for name in names for db in DATABASE)


def core_violations(imports: Imports, core: str = "governance", entry: str = "governance.cli") -> list[str]:
    """Imports from the core (``core`` but ``entry``) of another package of ours."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in imports.ours.items()
        if (module == core or module.startswith(core + ".")) and not is_entry(module, [entry])
        for target in targets
        if target.split(".")[0] != core
    )


def purity_violations(imports: Imports, pure: Iterable[str], *, forbidden: Iterable[str] = ()) -> list[str]:
    """Pure modules that import a ``forbidden`` package, or reach a module that touches a database."""
    found = []
    for module in sorted(pure):
        found += [
            f"{module} imports {t}"
            for t in sorted(imports.ours[module])
            if any(t == f or t.startswith(f + ".") for f in forbidden)
        ]
        found += [
            f"{module} reaches {m}, which uses the database"
            for m in sorted(reach(imports, module))
            if touches_database(imports, m)
        ]
    return found


def package_cycles(imports: Imports, entry_layers: Iterable[str] = ENTRY_LAYERS) -> list[list[str]]:
    """Cycles between top-level packages, counting only imports made outside the entry layers."""
    layers = list(entry_layers)
    graph: dict[str, set[str]] = {}
    for module, targets in imports.ours.items():
        if is_entry(module, layers):
            continue
        top = module.split(".")[0]
        graph.setdefault(top, set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest package
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return cycles


def explain_cycle(imports: Imports, cycle: list[str], entry_layers: Iterable[str] = ENTRY_LAYERS) -> str:
    """The cycle and the module imports that close it."""
    layers = list(entry_layers)
    edges = [
        f"{m} imports {t}"
        for a, b in itertools.pairwise(cycle)
        for m, ts in sorted(imports.ours.items())
        if m.split(".")[0] == a and not is_entry(m, layers)
        for t in sorted(ts)
        if t.split(".")[0] == b
    ]
    return " -> ".join(cycle) + ": " + "; ".join(edges)


IMPORTS = read_imports(package_sources(ROOT, PACKAGES), PACKAGES)


def test_the_governance_core_imports_no_other_package() -> None:
    assert {"governance", "monitors", "trainer", "dashboards"} <= set(PACKAGES)
    assert core_violations(IMPORTS) == []


def test_pure_checks_and_the_training_loop_reach_no_database_and_checks_no_trainer() -> None:
    checks = [m for m in IMPORTS.ours if m.startswith("monitors.") and not is_entry(m)]
    training = [m for m in IMPORTS.ours if m.startswith("trainer.") and not is_entry(m)]
    assert {"monitors.drift.engine", "monitors.robustness", "monitors.scoring"} <= set(checks)
    assert {"trainer.loop", "trainer.architectures", "trainer.modelio"} <= set(training)
    assert purity_violations(IMPORTS, checks, forbidden=["trainer"]) == []
    assert purity_violations(IMPORTS, training) == []


def test_no_package_cycle_outside_the_entry_layers() -> None:
    assert [explain_cycle(IMPORTS, cycle) for cycle in package_cycles(IMPORTS)] == []


def test_the_entry_layers_named_exist() -> None:
    """A renamed orchestrator must be renamed here too, or the rules above would check a ghost."""
    for layer in ENTRY_LAYERS:
        assert any(is_entry(m, [layer]) for m in IMPORTS.ours), layer


def test_the_rules_catch_each_kind_of_violation() -> None:
    """The checks above on a small made-up tree that breaks every rule once."""
    sources = {
        "core": "",
        "core.db": "import sqlalchemy\n",
        "core.service": "from core import db\n",
        "core.bad": "def f():\n    from checks.pure import x\n",
        "core.cli": "import checks.pure, trainer.loop\n",
        "checks": "",
        "checks.pure": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from trainer.loop import y\n",
        "checks.sub": "from . import rel\n",
        "checks.sub.rel": "from ..pure import x\n",
        "checks.reads": "from core.service import thing\n",
        "trainer": "",
        "trainer.loop": "from checks import pure\n",
    }
    imports = read_imports(sources, ["core", "checks", "trainer"])
    assert imports.ours["checks.sub"] == {"checks.sub.rel"} and imports.ours["checks.sub.rel"] == {
        "checks.pure"
    }
    assert imports.outside["core.db"] == {"sqlalchemy"}
    assert core_violations(imports, core="core", entry="core.cli") == ["core.bad imports checks.pure"]
    assert purity_violations(imports, ["checks.pure", "checks.reads"], forbidden=["trainer"]) == [
        "checks.pure imports trainer.loop",
        "checks.reads reaches core.db, which uses the database",
    ]
    assert package_cycles(imports, entry_layers=["core.cli"]) == [
        ["checks", "core", "checks"],
        ["checks", "trainer", "checks"],
    ]
    assert explain_cycle(imports, ["checks", "trainer", "checks"], ["core.cli"]) == (
        "checks -> trainer -> checks: checks.pure imports trainer.loop; "
        "trainer.loop imports checks; trainer.loop imports checks.pure"
    )
    assert package_cycles(imports, entry_layers=["core.cli", "core.bad", "checks.reads", "checks.pure"]) == []
