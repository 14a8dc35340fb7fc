"""What a node holds besides empty private directories, by flavor.

Each function fills the node's private directories (on the host, before the
node starts) and returns extra bind mounts, as (path in the node, host source),
and overlays (`Overlay`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Union

if TYPE_CHECKING:
    from .lab import Node


class Overlay(NamedTuple):
    """Files a host directory shows in the node only, on top of its own (read-only): for a
    place like /usr/sbin, which the node shares with the host and a bind mount would hide."""

    target: str
    additions: Path


Binds = list[Union[tuple[str, Path], Overlay]]

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


# The originals' ha_clustermsg pipes `>>>`, the body and `<<<` through `cat` into the FIFO,
# which can reach the FIFO in several writes; their FIFO reader is woken by a 1 s alarm and
# then takes what it has read as the whole message: a `>>>` alone gives "msg2string: Message
# with zero fields", and the request (hb_standby's, for one) is lost. On a loaded host that
# happens. The nodes' copies write each message in one piece (the same bytes).
CLUSTERMSG = re.compile(r'^(\s*\(echo ">>>"; cat -; echo "<<<"\)\s*\| )cat - (>> \$HA_FIFO)$', re.MULTILINE)
CLUSTERMSG_WHOLE = r"\1dd iflag=fullblock bs=65536 status=none \2"


def whole_fifo_messages(shellfuncs: Path) -> None:
    text, fixed = CLUSTERMSG.subn(CLUSTERMSG_WHOLE, shellfuncs.read_text())
    if fixed != 1:
        raise RuntimeError(f"{shellfuncs}: no ha_clustermsg line to adapt")
    shellfuncs.write_text(text)


def plain(node: Node) -> Binds:
    return []


def real(node: Node) -> Binds:
    copy([Path("/etc/ha.d", name) for name in REAL_HA_D], node.path("/etc/ha.d"))
    whole_fifo_messages(node.path("/etc/ha.d/shellfuncs"))
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


def ours(node: Node) -> Binds:
    stage = node.lab.stage()
    copy(list((stage / "etc/ha.d").iterdir()), node.path("/etc/ha.d"))
    copy([stage / "etc/init.d/heartbeat"], node.path("/etc/init.d"))
    copy(list((stage / "var/lib/heartbeat").iterdir()), node.path("/var/lib/heartbeat"))
    return [*[(f"/{p}", stage / p) for p in ("usr/share/heartbeat", "usr/libexec/heartbeat", "usr/bin/cl_status")],
            # hb2pcs and the hb_standby/hb_takeover links, beside the host's own commands
            Overlay("/usr/sbin", stage / "usr/sbin")]


# 2.1.3's OCF IPaddr takes the alias name from `ifconfig` output, which today ends
# in a colon (`eth0:0:`); its stop then fails and ResourceManager reboots the node.
# The node gets a copy of the agents with that colon dropped; /opt/hb21 stays as built.
IPADDR_ALIAS = re.compile(r"echo \$ifname; return \$OCF_SUCCESS;;")
IPADDR_ALIAS_FIXED = "echo ${ifname%:}; return $OCF_SUCCESS;;"
# where 2.1.3 keeps state (under its prefix) -> the node's private places, so that the
# helpers' paths (/var/run/heartbeat.pid, /var/lib/heartbeat, /run/lock) hold for it too
HB21_VAR_LINKS = {"run": "/run", "lock": "/run/lock", "lib/heartbeat": "/var/lib/heartbeat"}


def hb21(node: Node) -> Binds:
    """Heartbeat 2.1.3 as built by the shared tools: its own ha.d, init script, state and commands."""
    from . import hb21 as build
    prefix = build.ensure_built()
    copy(list((prefix / "etc/ha.d").iterdir()), node.path("/etc/ha.d"))
    whole_fifo_messages(node.path("/etc/ha.d/shellfuncs"))
    copy(list((prefix / "var/lib/heartbeat").iterdir()), node.path("/var/lib/heartbeat"))
    copy(list((prefix / "var/run").iterdir()), node.path("/run"))
    init = (prefix / "etc/init.d/heartbeat").read_text()
    # the script was written for EL, where /bin/sh is bash (`&>` in its stop)
    node.write("/etc/init.d/heartbeat", init.replace("#!/bin/sh", "#!/bin/bash", 1), mode=0o755)
    var = node.root / "hb21-var"
    for name, target in HB21_VAR_LINKS.items():
        (var / name).parent.mkdir(parents=True, exist_ok=True)
        (var / name).symlink_to(target)
    ocf = node.root / "hb21-ocf"
    copy([prefix / "lib/ocf"], node.root)
    (node.root / "ocf").rename(ocf)
    ipaddr = ocf / "resource.d/heartbeat/IPaddr"
    text, fixed = IPADDR_ALIAS.subn(IPADDR_ALIAS_FIXED, ipaddr.read_text())
    if not fixed:
        raise RuntimeError(f"{ipaddr}: no alias-name line to adapt")
    ipaddr.write_text(text)
    return [(str(prefix / "etc/ha.d"), node.path("/etc/ha.d")),
            (str(prefix / "etc/init.d"), node.path("/etc/init.d")),
            (str(prefix / "var"), var), (str(prefix / "lib/ocf"), ocf),
            # the lab's helpers run the admin commands from where Debian keeps them
            ("/usr/share/heartbeat", prefix / "lib64/heartbeat"), ("/usr/bin/cl_status", prefix / "bin/cl_status")]


FLAVORS: dict[str, Callable[[Node], Binds]] = {"plain": plain, "real": real, "ours": ours, "hb21": hb21}
