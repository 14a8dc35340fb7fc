"""The import rule of the layer packages (issue 12), read from the source of every module.

Every import counts: at the top, inside a function (the lazy imports that keep commands
fast) and under TYPE_CHECKING alike, since each is a dependency of the module.

- foundation (heartbeat/__init__, record, logformat): the standard library only;
- config: the foundation and config, and the standard library but for the modules that
  start or wait on processes, threads or signals (it may read the system: configcheck
  looks up users and groups, and host names with socket);
- core: the foundation, config and core, and the standard library without any I/O of its
  own: no event loop, socket, signal, process, thread, no `os` and no `time` (the clock
  and the pid are injected);
- tools and the commands (every module of resources: the scripts and agents a failover
  runs): no daemon server module and no event loop.
"""

from __future__ import annotations

import ast
import importlib.util
import sysconfig
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "heartbeat"
FOUNDATION = {"heartbeat", "heartbeat.record", "heartbeat.logformat"}
PROCESS_STDLIB = {"asyncio", "subprocess", "signal", "select", "selectors", "multiprocessing", "threading",
                  "concurrent"}
CORE_FORBIDDEN = PROCESS_STDLIB | {"socket", "os", "time"}
SERVER = ("heartbeat.daemon.main", "heartbeat.daemon.apiserver", "heartbeat.daemon.media", "heartbeat.daemon.fifo")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from X import y` counts as X.y when
    X.y is a module of ours, else as X."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            if base == "__future__":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def layer(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    return module.split(".")[1]


# typing's backport, for checkers only: heartbeat/record.py imports it under TYPE_CHECKING (3.9 has no
# dataclass_transform), never at run time (test_entry_imports)
TYPING_ONLY = {"typing_extensions"}


def is_stdlib(name: str) -> bool:
    top = name.split(".")[0]
    if top in TYPING_ONLY:
        return True
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    if spec.origin in (None, "built-in", "frozen"):
        return True
    return Path(spec.origin).is_relative_to(sysconfig.get_paths()["stdlib"]) and "site-packages" not in spec.origin


def breaches(module: str, imported: set[str]) -> set[str]:
    """What `module` may not import, by the rule of its layer."""
    ours = {m for m in imported if m == "heartbeat" or m.startswith("heartbeat.")}
    others = imported - ours
    kind = layer(module)
    if kind == "foundation":
        allowed = {"foundation"}
        forbidden: set[str] = set()
    elif kind == "config":
        allowed, forbidden = {"foundation", "config"}, PROCESS_STDLIB
    elif kind == "core":
        allowed, forbidden = {"foundation", "config", "core"}, CORE_FORBIDDEN
    elif kind in ("tools", "resources"):
        server = {m for m in ours if m.startswith(SERVER)}
        return server | {m for m in others if m.split(".")[0] == "asyncio"}
    else:
        return set()
    bad = {m for m in ours if layer(m) not in allowed}
    bad |= {m for m in others if m.split(".")[0] in forbidden or not is_stdlib(m)}
    return bad


def test_the_layers_are_all_known():
    assert {layer(m) for m in MODULES} == {"foundation", "config", "core", "daemon", "resources", "tools"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_what_its_layer_may(module):
    bad = breaches(module, imports_of(MODULES[module]))
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module, line, bad", [
    ("heartbeat.core.joint", "import asyncio", "asyncio"),
    ("heartbeat.core.failover", "from heartbeat.resources.resourcemanager import listkeys",
     "heartbeat.resources.resourcemanager"),
    ("heartbeat.config.pyhbcf", "def f():\n    from heartbeat.daemon.log import DaemonLog",
     "heartbeat.daemon.log"),
    ("heartbeat.core.membership", "if TYPE_CHECKING:\n    import time", "time"),
    ("heartbeat.tools.clstatus", "from heartbeat.daemon import apiserver", "heartbeat.daemon.apiserver"),
    ("heartbeat.resources.harc", "import heartbeat.daemon.media.udp", "heartbeat.daemon.media.udp"),
    ("heartbeat.record", "from heartbeat.config import errors", "heartbeat.config.errors"),
])
def test_a_breach_is_found(tmp_path, module, line, bad):
    """The rule catches an import of each kind wherever it stands in a module."""
    path = tmp_path / "module.py"
    path.write_text(MODULES[module].read_text() + "\n\n" + line + "\n")
    assert bad in breaches(module, imports_of(path))
