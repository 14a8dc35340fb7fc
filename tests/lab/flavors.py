"""What a node holds besides empty private directories, by flavor.

Each function fills the node's private directories (on the host, before the
node starts) and returns extra bind mounts, as (path in the node, host source).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .lab import Node

Binds = list[tuple[str, Path]]

# files the Debian package puts in /etc/ha.d (configuration is the test's job)
REAL_HA_D = ("harc", "rc.d", "resource.d", "shellfuncs", "README.config")
# state the daemon creates on first start; copying it would give nodes one uuid
REAL_STATE = {"hb_uuid", "hb_generation", "hostcache", "delhostcache", "fifo"}
# what the init script would create under /run (owners as the package sets them)
REAL_RUN = {"heartbeat": "hacluster", "heartbeat/ccm": "hacluster", "heartbeat/crm": "hacluster",
            "heartbeat/dopd": "hacluster", "crm": "hacluster", "resource-agents": "root"}


def copy(sources: list[Path], destination: Path) -> None:
    """`cp -a`: keeps owners and modes (hacluster:haclient 750 matters to heartbeat)."""
    if sources:
        subprocess.run(["cp", "-a", *map(str, sources), str(destination) + "/"],
                       check=True, capture_output=True, timeout=30)


def plain(node: "Node") -> Binds:
    return []


def real(node: "Node") -> Binds:
    copy([Path("/etc/ha.d", name) for name in REAL_HA_D], node.path("/etc/ha.d"))
    copy([Path("/etc/init.d/heartbeat")], node.path("/etc/init.d"))
    copy([p for p in Path("/var/lib/heartbeat").iterdir() if p.name not in REAL_STATE],
         node.path("/var/lib/heartbeat"))
    for name, owner in REAL_RUN.items():
        directory = node.path("/run/" + name)
        directory.mkdir()
        if owner == "root":
            os.chmod(directory, 0o1755)
        else:
            shutil.chown(directory, owner, "haclient")
            os.chmod(directory, 0o750)
    return []


def ours(node: "Node") -> Binds:
    stage = node.lab.stage()
    copy(list((stage / "etc/ha.d").iterdir()), node.path("/etc/ha.d"))
    copy([stage / "etc/init.d/heartbeat"], node.path("/etc/init.d"))
    copy(list((stage / "var/lib/heartbeat").iterdir()), node.path("/var/lib/heartbeat"))
    return [(f"/{p}", stage / p) for p in ("usr/share/heartbeat", "usr/libexec/heartbeat", "usr/bin/cl_status")]


FLAVORS: dict[str, Callable[["Node"], Binds]] = {"plain": plain, "real": real, "ours": ours}
