"""Which modules each command may load: the commands admins type and the programs of a
failover pay for every import before they do anything. A new launcher or agent needs its
own entry here; an entry point that starts loading more fails until it is pinned anew."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from heartbeat.tools.install import LAUNCHERS, REPO

# heavy libraries no command loads: the event loop (and ssl with it) is the daemon's own
HEAVY = {
    "asyncio",
    "ssl",
    "pyroute2",
    "scapy",
    "netifaces",
    "heartbeat.daemon.main",
    "heartbeat.config.hacf",
    "heartbeat.config.configcheck",
    "heartbeat.core.membership",
    "heartbeat.core.failover",
    "heartbeat.daemon.media",
}
DAEMON_NEVER = {"pyroute2", "scapy", "netifaces", "heartbeat.resources.agents"}
# standard modules that cost a command milliseconds of CPU before it does anything (issue 10:
# cl_status, ResourceManager, heartbeat -s and an agent's status within 40 ms): dataclasses
# (and the inspect it loads) and typing, where heartbeat.record and TYPE_CHECKING do the same;
# hashlib and hmac (OpenSSL) and uuid (and platform), imported where a digest, a lock or a
# uuid is made; subprocess, imported where a program runs
STDLIB_HEAVY = {"dataclasses", "inspect", "typing", "hashlib", "hmac", "_hashlib", "uuid", "platform", "subprocess"}
# entry points that run a program in most of what they do; the others (status, listkeys,
# mach_down and ResourceManager forking our own agents) run none, or only on some paths
RUNS_PROGRAMS = {
    "heartbeat.resources.agents.filesystem",
    "heartbeat.resources.agents.ipaddr2",
    "heartbeat.resources.agents.ipsrcaddr",
    "heartbeat.resources.agents.mailto",
    "heartbeat.resources.agents.sendarp_resource",
    "heartbeat.tools.initscript",
}
# a one-off migration tool, no failover or admin's routine waits for it
STDLIB_HEAVY_ALLOWED = {
    "heartbeat.tools.hb2pcs.cli": {"dataclasses", "inspect", "typing", "subprocess"},
    **{module: {"subprocess"} for module in RUNS_PROGRAMS},
}

BASE = {"heartbeat", "heartbeat.logformat", "heartbeat.record", "heartbeat.resources.scriptenv"}
AGENT = BASE | {"heartbeat.resources.agents", "heartbeat.resources.agents.ocf"}
ADDRESS_AGENT = AGENT | {
    "heartbeat.config.addressarg",
    "heartbeat.resources.agents.findif",
    "heartbeat.resources.agents.ipaddr",
    "heartbeat.resources.netlink",
    "heartbeat.resources.agents.sendarp",
    "heartbeat.resources.garp",
    "heartbeat.daemon.statefiles",
}
# ResourceManager with the lookups it shares with the configuration (pure, `re` only)
RESOURCE_MANAGER = {"heartbeat.resources.resourcemanager", "heartbeat.config.groupkeys", "heartbeat.config.scriptnames"}
ALLOWED: dict[str, set[str]] = {
    "heartbeat.daemon.command": {
        "heartbeat",
        "heartbeat.daemon.command",
        "heartbeat.config.nodename",
        "heartbeat.record",
        "heartbeat.daemon.statefiles",
    },
    "heartbeat.tools.clstatus": {
        "heartbeat",
        "heartbeat.tools.clstatus",
        "heartbeat.core.apiwire",
        "heartbeat.core.auth",
        "heartbeat.config.authkeys",
        "heartbeat.core.codec",
        "heartbeat.config.errors",
        "heartbeat.logformat",
        "heartbeat.core.message",
        "heartbeat.record",
    },
    "heartbeat.resources.resourcemanager": BASE | RESOURCE_MANAGER | {"heartbeat.resources.ownprograms"},
    "heartbeat.resources.machdown": BASE
    | RESOURCE_MANAGER
    | {"heartbeat.resources.machdown", "heartbeat.config.nodename", "heartbeat.resources.ownprograms"},
    "heartbeat.resources.reqresource": BASE
    | RESOURCE_MANAGER
    | {"heartbeat.resources.reqresource", "heartbeat.resources.ownprograms"},
    "heartbeat.resources.standby": BASE | {"heartbeat.resources.standby"},
    # runs our mach_down forked
    "heartbeat.resources.harc": BASE
    | {"heartbeat.resources.harc", "heartbeat.config.scriptnames", "heartbeat.resources.ownprograms"},
    "heartbeat.tools.initscript": BASE | {"heartbeat.tools.initscript", "heartbeat.resources.ownprograms"},
    "heartbeat.resources.agents.findif": {
        "heartbeat",
        "heartbeat.config.addressarg",
        "heartbeat.resources.agents",
        "heartbeat.resources.agents.findif",
        "heartbeat.resources.netlink",
        "heartbeat.record",
    },
    "heartbeat.resources.agents.sendarp": {
        "heartbeat",
        "heartbeat.resources.agents",
        "heartbeat.resources.agents.sendarp",
        "heartbeat.resources.garp",
        "heartbeat.logformat",
        "heartbeat.record",
        "heartbeat.daemon.statefiles",
    },
    "heartbeat.resources.agents.ipaddr": ADDRESS_AGENT,
    "heartbeat.resources.agents.ipaddr2": ADDRESS_AGENT | {"heartbeat.resources.agents.ipaddr2"},
    "heartbeat.resources.agents.ipsrcaddr": ADDRESS_AGENT
    | {"heartbeat.resources.agents.ipaddr2", "heartbeat.resources.agents.ipsrcaddr"},
    "heartbeat.resources.agents.sendarp_resource": ADDRESS_AGENT | {"heartbeat.resources.agents.sendarp_resource"},
    "heartbeat.resources.agents.filesystem": AGENT | {"heartbeat.resources.agents.filesystem"},
    "heartbeat.resources.agents.delay": AGENT | {"heartbeat.resources.agents.delay"},
    "heartbeat.resources.agents.mailto": AGENT | {"heartbeat.resources.agents.mailto"},
    # a one-off migration tool, no failover waits for it: it reads the files with the
    # daemon's own parsers, but still loads no event loop and no library
    "heartbeat.tools.hb2pcs.cli": RESOURCE_MANAGER
    | {
        "heartbeat",
        "heartbeat.config.addressarg",
        "heartbeat.resources.agents",
        "heartbeat.resources.agents.delay",
        "heartbeat.resources.agents.findif",
        "heartbeat.resources.agents.ipaddr",
        "heartbeat.resources.agents.ocf",
        "heartbeat.resources.agents.sendarp",
        "heartbeat.config.authkeys",
        "heartbeat.config.configcheck",
        "heartbeat.config.errors",
        "heartbeat.resources.garp",
        "heartbeat.config.hacf",
        "heartbeat.config.haresources",
        "heartbeat.tools.hb2pcs",
        "heartbeat.tools.hb2pcs.agents",
        "heartbeat.tools.hb2pcs.cib",
        "heartbeat.tools.hb2pcs.cli",
        "heartbeat.tools.hb2pcs.convert",
        "heartbeat.tools.hb2pcs.corosyncconf",
        "heartbeat.tools.hb2pcs.crmsh",
        "heartbeat.tools.hb2pcs.model",
        "heartbeat.tools.hb2pcs.pcs",
        "heartbeat.tools.hb2pcs.report",
        "heartbeat.logformat",
        "heartbeat.core.message",
        "heartbeat.resources.netlink",
        "heartbeat.config.nodename",
        "heartbeat.resources.ownprograms",
        "heartbeat.config.pyhbcf",
        "heartbeat.record",
        "heartbeat.resources.resourcemanager",
        "heartbeat.resources.scriptenv",
        "heartbeat.daemon.statefiles",
    },
}
CONFIG_READERS = {"heartbeat.tools.hb2pcs.cli": {"heartbeat.config.hacf", "heartbeat.config.configcheck"}}


def resource_script_modules() -> set[str]:
    found = set()
    for script in (REPO / "resource.d").iterdir():
        found |= set(
            re.findall(r"^from (heartbeat\.resources\.agents\.\w+) import legacy_main$", script.read_text(), re.M)
        )
    return found


ENTRY_POINTS = sorted({target.split(":")[0] for target in LAUNCHERS.values()} | resource_script_modules())


def loaded_after(code: str) -> set[str]:
    # -S: what a .pth file of this machine's site-packages loads at start (this sandbox's
    # loads typing) is not the command's; the libraries there stay importable
    prelude = "import site, sys\nsys.path.extend(site.getsitepackages())\n"
    script = f"{prelude}{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def ours_and_heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("heartbeat") or m.split(".")[0] in {h.split(".")[0] for h in HEAVY}}


def with_packages(modules: set[str]) -> set[str]:
    """The modules and the layer packages they live in (whose __init__ imports nothing)."""
    return modules | {name.rsplit(".", i)[0] for name in modules for i in range(1, name.count(".") + 1)}


def test_every_entry_point_is_pinned():
    assert set(ENTRY_POINTS) == set(ALLOWED)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_loads_only_what_it_is_allowed(module):
    loaded = loaded_after(f"import {module}")
    assert {m for m in loaded if m.startswith("heartbeat")} <= with_packages(ALLOWED[module])
    heavy = HEAVY - CONFIG_READERS.get(module, set())
    assert not {m for m in loaded if m in heavy or m.split(".")[0] in heavy}
    assert not loaded & (STDLIB_HEAVY - STDLIB_HEAVY_ALLOWED.get(module, set()))


def test_heartbeat_s_and_k_answer_without_loading_the_daemon(tmp_path):
    pidfile = tmp_path / "heartbeat.pid"
    code = (
        "from heartbeat.daemon import command\n"
        f"paths = command.Paths(pidfile={str(pidfile)!r})\n"
        "command.Paths = lambda: paths\n"
        "assert command.main(['heartbeat', '-s']) == command.EXIT_STOPPED\n"
        "assert command.main(['heartbeat', '-k']) == command.EXIT_OK\n"
    )
    loaded = loaded_after(code)
    assert {m for m in loaded if m.startswith("heartbeat")} <= with_packages(ALLOWED["heartbeat.daemon.command"])
    assert not ours_and_heavy(loaded) - with_packages(ALLOWED["heartbeat.daemon.command"])
    assert not loaded & STDLIB_HEAVY


def test_resourcemanager_reads_haresources_without_a_heavy_standard_module():
    # listkeys, and every group operation, parse haresources when they run, not at import
    loaded = loaded_after("import heartbeat.resources.resourcemanager, heartbeat.config.haresources")
    assert not loaded & STDLIB_HEAVY


def test_the_daemon_loads_no_agent_and_no_packet_or_netlink_library():
    loaded = loaded_after("import heartbeat.daemon.command, heartbeat.daemon.main")
    assert not {
        m
        for m in loaded
        if m in DAEMON_NEVER or m.split(".")[0] in DAEMON_NEVER or m.startswith("heartbeat.resources.agents")
    }


def test_every_other_command_line_is_the_daemons():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from heartbeat.daemon.command import main; sys.exit(main(['heartbeat', '-V']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    from heartbeat import VERSION_STRING

    assert (done.returncode, done.stdout) == (0, VERSION_STRING + "\n")
