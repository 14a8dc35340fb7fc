"""Which modules each command may load: the commands admins type and the programs of a
failover pay for every import before they do anything. A new launcher or agent needs its
own entry here; an entry point that starts loading more fails until it is pinned anew."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from heartbeat.install import LAUNCHERS, REPO

# heavy libraries no command loads: the event loop (and ssl with it) is the daemon's own
HEAVY = {"asyncio", "ssl", "pyroute2", "scapy", "netifaces", "heartbeat.daemon", "heartbeat.hacf",
         "heartbeat.configcheck", "heartbeat.membership", "heartbeat.failover", "heartbeat.media"}
DAEMON_NEVER = {"pyroute2", "scapy", "netifaces", "heartbeat.agents"}
# standard modules that cost a command milliseconds of CPU before it does anything (issue 10:
# cl_status, ResourceManager, heartbeat -s and an agent's status within 40 ms): dataclasses
# (and the inspect it loads) and typing, where heartbeat.record and TYPE_CHECKING do the same;
# hashlib and hmac (OpenSSL) and uuid (and platform), imported where a digest, a lock or a
# uuid is made; subprocess, imported where a program runs
STDLIB_HEAVY = {"dataclasses", "inspect", "typing", "hashlib", "hmac", "_hashlib", "uuid", "platform",
                "subprocess"}
# entry points that run a program in most of what they do; the others (status, listkeys,
# mach_down and ResourceManager forking our own agents) run none, or only on some paths
RUNS_PROGRAMS = {"heartbeat.agents.filesystem", "heartbeat.agents.ipaddr2", "heartbeat.agents.ipsrcaddr",
                 "heartbeat.agents.mailto", "heartbeat.agents.sendarp_resource", "heartbeat.initscript"}
# a one-off migration tool, no failover or admin's routine waits for it
STDLIB_HEAVY_ALLOWED = {"heartbeat.hb2pcs.cli": {"dataclasses", "inspect", "typing", "subprocess"},
                        **{module: {"subprocess"} for module in RUNS_PROGRAMS}}

BASE = {"heartbeat", "heartbeat.log", "heartbeat.record", "heartbeat.scriptenv"}
AGENT = BASE | {"heartbeat.agents", "heartbeat.agents.ocf"}
ADDRESS_AGENT = AGENT | {"heartbeat.agents.findif", "heartbeat.agents.ipaddr", "heartbeat.netlink",
                         "heartbeat.agents.sendarp", "heartbeat.garp", "heartbeat.statefiles"}
ALLOWED: dict[str, set[str]] = {
    "heartbeat.command": {"heartbeat", "heartbeat.command", "heartbeat.nodename", "heartbeat.record",
                          "heartbeat.statefiles"},
    "heartbeat.clstatus": {"heartbeat", "heartbeat.clstatus", "heartbeat.apiwire", "heartbeat.auth",
                           "heartbeat.authkeys", "heartbeat.codec", "heartbeat.errors", "heartbeat.log",
                           "heartbeat.message", "heartbeat.record"},
    "heartbeat.resourcemanager": BASE | {"heartbeat.resourcemanager", "heartbeat.ownprograms"},
    "heartbeat.machdown": BASE | {"heartbeat.machdown", "heartbeat.nodename", "heartbeat.resourcemanager",
                                  "heartbeat.ownprograms"},
    "heartbeat.reqresource": BASE | {"heartbeat.reqresource", "heartbeat.resourcemanager", "heartbeat.ownprograms"},
    "heartbeat.standby": BASE | {"heartbeat.standby"},
    "heartbeat.harc": BASE | {"heartbeat.harc", "heartbeat.ownprograms"},  # runs our mach_down forked
    "heartbeat.initscript": BASE | {"heartbeat.initscript", "heartbeat.ownprograms"},
    "heartbeat.agents.findif": {"heartbeat", "heartbeat.agents", "heartbeat.agents.findif", "heartbeat.netlink",
                                "heartbeat.record"},
    "heartbeat.agents.sendarp": {"heartbeat", "heartbeat.agents", "heartbeat.agents.sendarp", "heartbeat.garp",
                                 "heartbeat.log", "heartbeat.record", "heartbeat.statefiles"},
    "heartbeat.agents.ipaddr": ADDRESS_AGENT,
    "heartbeat.agents.ipaddr2": ADDRESS_AGENT | {"heartbeat.agents.ipaddr2"},
    "heartbeat.agents.ipsrcaddr": ADDRESS_AGENT | {"heartbeat.agents.ipaddr2", "heartbeat.agents.ipsrcaddr"},
    "heartbeat.agents.sendarp_resource": ADDRESS_AGENT | {"heartbeat.agents.sendarp_resource"},
    "heartbeat.agents.filesystem": AGENT | {"heartbeat.agents.filesystem"},
    "heartbeat.agents.delay": AGENT | {"heartbeat.agents.delay"},
    "heartbeat.agents.mailto": AGENT | {"heartbeat.agents.mailto"},
    # a one-off migration tool, no failover waits for it: it reads the files with the
    # daemon's own parsers, but still loads no event loop and no library
    "heartbeat.hb2pcs.cli": {"heartbeat", "heartbeat.agents", "heartbeat.agents.delay", "heartbeat.agents.findif",
                             "heartbeat.agents.ipaddr", "heartbeat.agents.ocf", "heartbeat.agents.sendarp",
                             "heartbeat.authkeys", "heartbeat.configcheck", "heartbeat.errors", "heartbeat.garp",
                             "heartbeat.hacf", "heartbeat.haresources", "heartbeat.hb2pcs",
                             "heartbeat.hb2pcs.agents", "heartbeat.hb2pcs.cib", "heartbeat.hb2pcs.cli",
                             "heartbeat.hb2pcs.convert", "heartbeat.hb2pcs.corosyncconf", "heartbeat.hb2pcs.crmsh",
                             "heartbeat.hb2pcs.model", "heartbeat.hb2pcs.pcs", "heartbeat.hb2pcs.report",
                             "heartbeat.log", "heartbeat.message", "heartbeat.netlink", "heartbeat.nodename",
                             "heartbeat.ownprograms", "heartbeat.pyhbcf", "heartbeat.record", "heartbeat.resourcemanager",
                             "heartbeat.scriptenv", "heartbeat.statefiles"},
}
CONFIG_READERS = {"heartbeat.hb2pcs.cli": {"heartbeat.hacf", "heartbeat.configcheck"}}


def resource_script_modules() -> set[str]:
    found = set()
    for script in (REPO / "resource.d").iterdir():
        found |= set(re.findall(r"^from (heartbeat\.agents\.\w+) import legacy_main$", script.read_text(), re.M))
    return found


ENTRY_POINTS = sorted({target.split(":")[0] for target in LAUNCHERS.values()} | resource_script_modules())


def loaded_after(code: str) -> set[str]:
    # -S: what a .pth file of this machine's site-packages loads at start (this sandbox's
    # loads typing) is not the command's; the libraries there stay importable
    prelude = "import site, sys\nsys.path.extend(site.getsitepackages())\n"
    done = subprocess.run([sys.executable, "-S", "-c", f"{prelude}{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def ours_and_heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("heartbeat") or m.split(".")[0] in {h.split(".")[0] for h in HEAVY}}


def test_every_entry_point_is_pinned():
    assert set(ENTRY_POINTS) == set(ALLOWED)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_loads_only_what_it_is_allowed(module):
    loaded = loaded_after(f"import {module}")
    assert {m for m in loaded if m.startswith("heartbeat")} <= ALLOWED[module]
    heavy = HEAVY - CONFIG_READERS.get(module, set())
    assert not {m for m in loaded if m in heavy or m.split(".")[0] in heavy}
    assert not loaded & (STDLIB_HEAVY - STDLIB_HEAVY_ALLOWED.get(module, set()))


def test_heartbeat_s_and_k_answer_without_loading_the_daemon(tmp_path):
    pidfile = tmp_path / "heartbeat.pid"
    code = ("from heartbeat import command\n"
            f"paths = command.Paths(pidfile={str(pidfile)!r})\n"
            "command.Paths = lambda: paths\n"
            "assert command.main(['heartbeat', '-s']) == command.EXIT_STOPPED\n"
            "assert command.main(['heartbeat', '-k']) == command.EXIT_OK\n")
    loaded = loaded_after(code)
    assert {m for m in loaded if m.startswith("heartbeat")} <= ALLOWED["heartbeat.command"]
    assert not ours_and_heavy(loaded) - ALLOWED["heartbeat.command"]
    assert not loaded & STDLIB_HEAVY


def test_resourcemanager_reads_haresources_without_a_heavy_standard_module():
    # listkeys, and every group operation, parse haresources when they run, not at import
    loaded = loaded_after("import heartbeat.resourcemanager, heartbeat.haresources")
    assert not loaded & STDLIB_HEAVY


def test_the_daemon_loads_no_agent_and_no_packet_or_netlink_library():
    loaded = loaded_after("import heartbeat.command, heartbeat.daemon")
    assert not {m for m in loaded if m in DAEMON_NEVER or m.split(".")[0] in DAEMON_NEVER
                or m.startswith("heartbeat.agents")}


def test_every_other_command_line_is_the_daemons():
    done = subprocess.run([sys.executable, "-c", "import sys; from heartbeat.command import main; "
                                                 "sys.exit(main(['heartbeat', '-V']))"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    from heartbeat import VERSION_STRING
    assert (done.returncode, done.stdout) == (0, VERSION_STRING + "\n")
