"""The shape ARCHITECTURE.md draws, as a test: which room may import which, no cycles, small modules.

Imports are read from the source (``ast``), top-level and lazy ones alike, and resolved to modules of
this repository; third-party imports are checked against the few rooms allowed to use them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("exporter", "aws_ops_demo")
MAX_LINES = 400

# Room → the rooms of this repository it may import (a room is a module or a package prefix; the longest
# prefix wins). Arrows point one way: config → aws → collectors → scheduler → snapshot → exposition/server;
# the model, periods and telemetry are the shared vocabulary below them all.
ALLOWED: dict[str, set[str]] = {
    "exporter.config": {"exporter.config"},
    "exporter.model": {"exporter.signals"},  # the cost signals' types, re-exported by the model
    "exporter.signals": set(),
    "exporter.compact": {"exporter.model"},  # how a snapshot holds cost records: part of the model
    "exporter.periods": {"exporter.model"},
    "exporter.telemetry": set(),
    "exporter.ratelimit": set(),  # the buckets per AWS API: no boto3, beside aws.py
    "exporter.partitions": set(),  # botocore's endpoint data: which region answers in a partition
    "exporter.logsetup": set(),
    "exporter.cliargs": set(),
    "exporter.shards": set(),  # pure: an account id → its shard
    "exporter.answers": set(),  # what an AWS answer must be (botocore's parsers, checked)
    "exporter.spend": {"exporter.config", "exporter.telemetry"},  # aws.spend_limits: the day's budget
    "exporter.aws": {"exporter.answers", "exporter.config", "exporter.partitions", "exporter.ratelimit", "exporter.telemetry", "exporter.spend"},
    "exporter.credentials": {"exporter.aws"},  # the main identity check: botocore's exceptions explained
    "exporter.collectors": {"exporter.collectors", "exporter.config", "exporter.model", "exporter.compact", "exporter.periods",
                            "exporter.answers", "exporter.aws", "exporter.telemetry", "exporter.spend"},
    "exporter.snapshot": {"exporter.model"},
    "exporter.fleet": {"exporter.collectors.organizations", "exporter.config", "exporter.model"},
    "exporter.discovery": {"exporter.aws", "exporter.collectors.organizations", "exporter.config", "exporter.fleet",
                           "exporter.model", "exporter.snapshot"},
    "exporter.scheduler": {"exporter.spend", "exporter.collectors.base", "exporter.config", "exporter.model", "exporter.snapshot",
                           "exporter.aws", "exporter.discovery", "exporter.fleet"},
    "exporter.exposition": {"exporter.exposition", "exporter.model", "exporter.config", "exporter.telemetry",
                            "exporter.periods", "exporter"},
    # --web.config.file served: TLS, basic auth, headers (the exporter's server and the reporter's /metrics)
    "exporter.web": {"exporter.web", "exporter.config"},
    "exporter.server": {"exporter.exposition", "exporter.landing", "exporter.model", "exporter", "exporter.web"},
    "exporter.landing": {"exporter.model", "exporter"},
    "exporter.lifecycle": {"exporter.app", "exporter.config"},
    "exporter.app": {"exporter", "exporter.aws", "exporter.collectors", "exporter.config", "exporter.exposition",
                     "exporter.discovery", "exporter.fleet", "exporter.model", "exporter.scheduler", "exporter.snapshot", "exporter.telemetry",
                     "exporter.credentials", "exporter.shards"},
    "exporter.estimate": {"exporter.app", "exporter.collectors", "exporter.config", "exporter.model",
                          "exporter.telemetry"},
    "exporter.credcheck": {"exporter.app", "exporter.aws", "exporter.credentials"},
    "exporter.cli": {"exporter", "exporter.app", "exporter.cliargs", "exporter.config", "exporter.lifecycle",
                     "exporter.logsetup", "exporter.server", "exporter.web", "aws_ops_demo", "exporter.credcheck",
                     "exporter.estimate"},
    "exporter.__main__": {"exporter.cli"},
    "exporter": set(),  # exporter/__init__.py: the version only
    # The reporter reads /snapshot over HTTP with the model; only its Cost Explorer backfill talks to AWS.
    "exporter.reporter": {"exporter", "exporter.reporter", "exporter.model", "exporter.config", "exporter.periods",
                          "exporter.logsetup", "exporter.cliargs", "exporter.web"},
    # aws-ops-reporter --demo reads the demo's own config (lazily: the demo is an optional package)
    "exporter.reporter.demo": {"exporter.reporter", "exporter.config", "aws_ops_demo"},
    "exporter.reporter.backfill": {"exporter.reporter", "exporter.model", "exporter.config", "exporter.periods",
                                   "exporter.aws", "exporter.telemetry", "exporter.collectors.cost"},
    # The demo drives the real exporter from outside: its config and the collectors' own query plans.
    "aws_ops_demo": {"aws_ops_demo", "exporter.config", "exporter.periods", "exporter.collectors.cost",
                     "exporter.collectors.cloudwatch"},
}
# Third-party packages only some rooms may import.
RESTRICTED: dict[str, set[str]] = {
    "boto3": {"exporter.aws", "aws_ops_demo"},
    "botocore": {"exporter.answers", "exporter.aws", "exporter.partitions", "exporter.credentials", "exporter.collectors", "aws_ops_demo"},
    "prometheus_client": {"exporter.exposition", "exporter.reporter.selfmetrics"},
    "yaml": {"exporter.config"},
    "moto": {"aws_ops_demo"},
    "bcrypt": {"exporter.web.auth"},
}
# Lazy imports that are part of the design (the demo is an optional extra).
LAZY_ONLY = {("exporter.cli", "aws_ops_demo"), ("exporter.reporter.demo", "aws_ops_demo")}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else ():
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[str, bool]]:
    """(imported name, lazy) for every import in the module; relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        lazy = id(node) not in top_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, lazy
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # "from exporter import config" imports a module
                name = f"{base}.{alias.name}"
                yield (name if name in MODULES else base), lazy


EXACT_ROOMS = {"exporter"}  # the package's __init__ only, not everything under it


def _room(module: str, rooms: dict[str, set[str]]) -> str | None:
    candidates = [r for r in rooms if module == r or (r not in EXACT_ROOMS and module.startswith(r + "."))]
    return max(candidates, key=len) if candidates else None


def _in(module: str, rooms: set[str]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in rooms)


def _is_own(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def test_every_module_has_a_room():
    assert MODULES, "no modules found"
    assert [m for m in MODULES if _room(m, ALLOWED) is None] == []


def test_each_room_imports_only_what_it_may():
    wrong = []
    for module, path in MODULES.items():
        allowed = ALLOWED.get(_room(module, ALLOWED), set())  # type: ignore[arg-type]
        for name, lazy in _imports(module, path):
            if _is_own(name):
                target = name if name in MODULES else name.rpartition(".")[0]
                exact = target in allowed or any(target.startswith(a + ".") for a in allowed - EXACT_ROOMS)
                if not exact:
                    wrong.append(f"{module} imports {target}")
                elif (module, target.split(".")[0]) in LAZY_ONLY and not lazy:
                    wrong.append(f"{module} imports {target} at import time (only lazily, when asked for)")
            else:
                top = name.split(".")[0]
                if top in RESTRICTED and not _in(module, RESTRICTED[top]):
                    wrong.append(f"{module} imports {name} (only {', '.join(sorted(RESTRICTED[top]))} may)")
    assert wrong == []


def test_no_import_cycles():
    graph = {m: {n if n in MODULES else n.rpartition(".")[0] for n, _ in _imports(m, p) if _is_own(n)}
             for m, p in MODULES.items()}
    graph = {m: {t for t in targets if t in MODULES and t != m} for m, targets in graph.items()}
    # A package's __init__ re-exporting its modules is not a cycle with them.
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "active"
        for target in sorted(graph[node]):
            if state.get(target) == "active":
                cycles.append(" → ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (split it by reason to change)"


def test_the_rules_catch_a_forbidden_edge(tmp_path: Path):
    """The check itself: an exposition module importing a collector is reported."""
    path = tmp_path / "bad.py"
    path.write_text("from exporter.collectors.cost import plan_queries\nimport boto3\n")
    names = [name for name, _ in _imports("exporter.exposition.bad", path)]
    allowed = ALLOWED[_room("exporter.exposition.bad", ALLOWED)]  # type: ignore[index]
    assert "exporter.collectors.cost" in names and not _in("exporter.collectors.cost", allowed - EXACT_ROOMS)
    assert not _in("exporter.exposition.bad", RESTRICTED["boto3"])


def test_the_reporter_sidecar_loads_none_of_the_exporters_internals():
    """Indirect imports count too: the sidecar (its CLI, runner, store, summary) knows the exporter only through
    /snapshot and the model. Only its backfill command loads the Cost Explorer collector, when it runs."""
    import subprocess
    import sys

    code = ("import sys, exporter.reporter.cli, exporter.reporter.runner, exporter.reporter.summary; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('exporter', 'boto3', 'botocore', "
            "'aws_ops_demo', 'moto'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    forbidden = ("exporter.scheduler", "exporter.exposition", "exporter.snapshot", "exporter.collectors", "exporter.aws",
                 "exporter.app", "exporter.cli", "exporter.server", "boto3", "botocore", "aws_ops_demo", "moto")
    assert [m for m in loaded if m in forbidden or m.startswith(tuple(f + "." for f in forbidden))] == []
    assert "exporter.model" in loaded
