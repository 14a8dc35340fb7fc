"""Our resource-side commands against Debian's 3.0.6 ones, case by case.

One lab node of flavor "real" holds the original harc, rc.d, shellfuncs (in its private
/etc/ha.d) and /usr/share/heartbeat. Each case runs there and, with our tree, on the
host, with the same haresources, recording resource scripts (tests.unit.hatree), fields
and environment; exit status, output, resource calls, log lines and FIFO messages must
be the same once PIDs and the two trees' paths are written alike.
"""

from __future__ import annotations

import itertools
import re
import shutil

import pytest

from tests.lab import Lab
from tests.unit.hatree import HaTree

pytestmark = [pytest.mark.netns, pytest.mark.interop]

HARESOURCES = """\
# comment
node1 10.0.0.1 Rec::a   # trailing comment
NODE2   Rec::b \\
        Rec::c::x::y
node2 Rec::d
"""
NO_PREP: tuple = ()


def running(*keys):
    return tuple(("running", k) for k in keys)


def event(name, prep=NO_PREP, **fields):
    return ("harc", [name], prep, {f"HA_{k}": v for k, v in fields.items()})


def command(name, *args, prep=NO_PREP, **env):
    return (name, list(args), prep, env)


CASES = [
    event("status", t="status", src="node2", st="dead"),
    event("status", t="status", src="NODE2", st="dead", NICEFAILBACK="yes"),
    event("status", running("Rec_d"), t="status", src="node2", st="dead"),
    event("status", t="status", src="node2", st="dead", info="ping"),
    event("status", t="status", src="node1", st="dead"),
    event("status", t="status", src="node2", st="active"),
    event("ip-request", running("Rec_b", "Rec_c"), t="ip-request", src="node2", ipaddr="Rec::b"),
    event("ip-request", running("Rec_c"), t="ip-request", src="node2", ipaddr="Rec::b"),
    event("ip-request", running("Rec_b"), t="ip-request", src="node1", ipaddr="Rec::b"),
    event("ip-request-resp", t="ip-request-resp", src="node2", dest="node1", ipaddr="10.0.0.1",
          weown="yes", ok="OK"),
    event("ip-request-resp", t="ip-request-resp", src="node2", dest="node2", ipaddr="10.0.0.1",
          weown="yes", ok="OK"),
    event("ip-request-resp", t="ip-request-resp", src="node2", dest="node1", ipaddr="Rec::b",
          weown="no", ok="NO"),
    event("hb_takeover", t="hb_takeover", src="node2", rsc_hold="local"),
    event("hb_takeover", t="hb_takeover", src="node2", rsc_hold="failback"),
    event("hb_takeover", t="hb_takeover", src="node1", rsc_hold="all"),
    event("nosuch", t="nosuch"),
    event("ask_resources", t="ask_resources", src="node2", NICEFAILBACK="yes"),
    command("mach_down", "node2", HA_NICEFAILBACK="yes"),
    command("mach_down", "Node2", prep=running("Rec_b")),
    command("mach_down", "node1"),
    command("req_resource", "Rec::b"),
    command("req_resource", "Rec::b", prep=running("Rec_b")),
    command("req_resource", "10.0.0.1", HA_DONTASK="yes"),
    command("req_resource", "Rec::b", HA_NICEFAILBACK="yes", HA_debug="2"),
    command("hb_standby"),
    command("hb_standby", "failback"),
    command("hb_standby", "local"),
    command("hb_standby", "bogus"),
    command("hb_standby", "all", "local"),
    command("hb_standby", "--help"),
    command("hb_standby", HA_LOGFILE=""),
    command("hb_standby", HA_LOGFILE="", HA_DEBUGLOG=""),
    command("hb_takeover"),
    command("hb_takeover", "failback"),
    command("hb_takeover", "bogus"),
    command("hb_takeover", "--help"),
    command("ResourceManager", "listkeys", "NODE2"),
    command("ResourceManager", "listkeys", "node."),
    command("ResourceManager", "allkeys"),
    command("ResourceManager", "ourkeys"),
    command("ResourceManager", "otherkeys"),
    command("ResourceManager", "status", "Rec::b"),
    command("ResourceManager", "status", "10.0.0.1", prep=running("IPaddr_10.0.0.1")),
    command("ResourceManager", "status", "Rec::b", prep=(("say", "Rec_b", "apache2 is not running\n", 0),)),
    command("ResourceManager", "status", "Rec::b", prep=(("say", "Rec_b", "everything OK\n", 1),)),
    command("ResourceManager", "status", "Rec::b",
            prep=(("say", "Rec_b", "cannot determine status, may be running\n", 4),)),
    command("ResourceManager", "takegroup", "Rec::b", prep=running("Rec_c")),
    command("ResourceManager", "takegroup", "Rec::d", HA_debug="1"),
    command("ResourceManager", "takegroup", "nosuch"),
    command("ResourceManager", "givegroup", "Rec::b", prep=running("Rec_b")),
    command("ResourceManager", "givegroup", "Rec::d", prep=(("fail", "Rec_d", "stop"),), HA_STOPRETRYMAX="1"),
    command("ResourceManager", "statgroup", "Rec::b", prep=running("Rec_b")),
    command("ResourceManager", "verifyallidle", prep=running("IPaddr_10.0.0.1", "Rec_d", "Rec_c")),
    command("ResourceManager", "bogus"),
]


def case_id(case) -> str:
    name, args, prep, env = case
    extra = [p[1] if p[0] == "running" else p[0] for p in prep] + [f"{k}={v}" for k, v in env.items()]
    return " ".join([name, *args, *extra])


@pytest.fixture(scope="module")
def node():
    with Lab() as lab:
        yield lab.node("node1", flavor="real")


_serial = itertools.count()


def _prepare(tree: HaTree, prep) -> None:
    for name in ("IPaddr", "Rec"):
        tree.resource(name)
    for step in prep:
        kind, key, *rest = step
        if kind == "running":
            (tree.state / key).touch()
        elif kind == "say":
            (tree.state / f"say-{key}").write_text(rest[0])
            (tree.state / f"sayrc-{key}").write_text(f"{rest[1]}\n")
        else:
            (tree.state / f"fail-{key}-{rest[0]}").write_text("1\n")


def _outcome(tree: HaTree, done, curhost_paths: dict[str, str]) -> str:
    parts = [f"rc={done.returncode}", "stdout:" + done.stdout, "stderr:" + done.stderr,
             "calls:" + "\n".join(tree.calls()),
             "log:" + (tree.logfile.read_text() if tree.logfile.exists() else ""),
             "debug:" + (tree.debuglog.read_text() if tree.debuglog.exists() else ""),
             "messages:" + repr(tree.messages())]
    text = re.sub(r"\[\d+\]", "[PID]", "\n".join(parts))
    for path, alias in curhost_paths.items():
        text = text.replace(path, alias)
    return text


def _run_real(node, case) -> str:
    name, args, prep, env = case
    tree = HaTree(node.path("/srv") / f"real{next(_serial)}", HARESOURCES)
    try:
        _prepare(tree, prep)
        ha_d = node.path("/etc/ha.d")
        shutil.copy(tree.ha_dir / "haresources", ha_d / "haresources")
        shutil.rmtree(ha_d / "resource.d")
        shutil.copytree(tree.ha_dir / "resource.d", ha_d / "resource.d")
        run_env = {**tree.env, "HA_DIR": "/etc/ha.d/", "HA_FUNCS": "/etc/ha.d//shellfuncs",
                   "HA_NOARCHBIN": "/usr/share/heartbeat", "INITDIR": "/etc/init.d",
                   "OCF_ROOT": "/usr/lib/ocf", **env}
        program = "/etc/ha.d/harc" if name == "harc" else f"/usr/share/heartbeat/{name}"
        done = node.run([program, *args], env=run_env, check=False, timeout=60)
        return _outcome(tree, done, {})
    finally:
        tree.close()


def _run_ours(node, case) -> str:
    name, args, prep, env = case
    tree = HaTree(node.path("/srv") / f"ours{next(_serial)}", HARESOURCES)
    try:
        _prepare(tree, prep)
        done = tree.run(tree.harc if name == "harc" else name, *args, **env)
        return _outcome(tree, done, {str(tree.ha_dir): "/etc/ha.d", str(tree.noarchbin): "/usr/share/heartbeat"})
    finally:
        tree.close()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_as_the_original(node, case):
    assert _run_ours(node, case) == _run_real(node, case)
