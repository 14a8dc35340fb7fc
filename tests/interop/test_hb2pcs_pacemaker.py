"""hb2pcs outputs checked by Pacemaker's own tools (Debian's pacemaker 2.1.5 and crmsh):
crm_verify accepts every CIB; crm_simulate places each group on the node haresources
prefers, on the other one when that node is down, and back (or not) by auto_failback;
crmsh reads our crmsh script into the same configuration as our CIB XML.

Nothing here touches a live cluster: every tool works on a CIB file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from heartbeat.tools.hb2pcs import cib, crmsh, pcs
from heartbeat.tools.hb2pcs.agents import LEGACY
from heartbeat.tools.hb2pcs.cli import load
from heartbeat.tools.hb2pcs.convert import Options, convert
from heartbeat.tools.install import REPO
from tests.unit.test_hb2pcs import TREES, cluster_of, haresources_files, parsable

pytestmark = pytest.mark.skipif(
    shutil.which("crm_verify") is None or shutil.which("crm_simulate") is None,
    reason="crm_verify/crm_simulate not installed (Debian packages pacemaker and pacemaker-cli-utils; "
           "`make deps` installs them)")

_STARTED = re.compile(r"^\s*\* (\S+)\s+\([^)]*\):\s+Started (\S+)\s*$", re.M)
TOOL_TIMEOUT = 60


def verify(path: Path) -> None:
    done = subprocess.run(["crm_verify", "--xml-file", str(path)], capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr


def simulate(cib_in: Path, cib_out: Path, up=(), down=()) -> dict[str, str]:
    """Where each primitive runs after the transition (quorum kept, as two_node keeps it)."""
    argv = ["crm_simulate", "--xml-file", str(cib_in), "--simulate", "--quorum", "1",
            "--save-output", str(cib_out)]
    argv += [a for n in up for a in ("--node-up", n)] + [a for n in down for a in ("--node-down", n)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    revised = done.stdout.split("Revised Cluster Status:", 1)[1]
    return dict(_STARTED.findall(revised))


def placement(cluster, where: dict[str, str]) -> dict[str, str | None]:
    """group id -> the node all its members run on (None if not all on one node)."""
    out = {}
    for g in cluster.groups:
        nodes = {where.get(p.id) for p in g.primitives}
        out[g.id] = nodes.pop() if len(nodes) == 1 else None
    return out


def check_failover(cluster, tmp_path: Path) -> None:
    """Both nodes up: every group on its node; each node down in turn: on the other;
    back up: home again under auto_failback on/legacy, still away under off."""
    nodes = [m.name for m in cluster.corosync.members]
    start = tmp_path / "cib.xml"
    start.write_text(cib.render(cluster))
    verify(start)
    both = tmp_path / "both.xml"
    home = {g.id: g.node for g in cluster.groups}
    assert placement(cluster, simulate(start, both, up=nodes)) == home
    sticky = dict((s.name, s.value) for s in cluster.rsc_defaults)["resource-stickiness"] != "0"
    for gone in nodes:
        other = next(n for n in nodes if n != gone)
        down, back = tmp_path / f"down-{gone}.xml", tmp_path / f"back-{gone}.xml"
        moved = {gid: (other if node == gone else node) for gid, node in home.items()}
        assert placement(cluster, simulate(both, down, down=[gone])) == moved
        assert placement(cluster, simulate(down, back, up=[gone])) == (moved if sticky else home)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_golden_cib_verifies(tree):
    verify(REPO / "tests/unit/data/hb2pcs/golden" / f"{tree}.cib.xml")


@pytest.mark.parametrize("tree", ["example", "webcluster"])
@pytest.mark.parametrize("failback", ["on", "off", "legacy"])
def test_groups_run_where_haresources_says_and_fail_over(tree, failback, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    src = load(TREES[tree][0])
    text = re.sub(r"(?m)^auto_failback .*$", "", src.hacf_text) + f"auto_failback {failback}\n"
    c = cluster_of(text, src.haresources_text)
    check_failover(c, tmp_path)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(haresources_files().filter(parsable))
def test_generated_haresources_fail_over_in_crm_simulate(tmp_path, text):
    failback = "off" if len(text) % 2 else "on"
    c = cluster_of(f"bcast eth0\nnode node1 node2\nauto_failback {failback}\n", text)
    check_failover(c, tmp_path)


def set_attribute(cib_path: Path, node: str, name: str, value: int) -> None:
    """Set a transient attribute of ``node`` in a saved CIB, as the ping agent would."""
    tree = ET.parse(cib_path)
    state = next(s for s in tree.getroot().iter("node_state") if s.get("uname") == node)
    set_id = f"status-{state.get('id')}"
    attrs = state.find("transient_attributes")
    if attrs is None:
        attrs = ET.SubElement(state, "transient_attributes", id=state.get("id"))
        ET.SubElement(attrs, "instance_attributes", id=set_id)
    nvset = attrs.find("instance_attributes")
    nv = next((n for n in nvset.iter("nvpair") if n.get("name") == name), None)
    if nv is None:
        nv = ET.SubElement(nvset, "nvpair", id=f"{set_id}-{name}", name=name)
    nv.set("value", str(value))
    tree.write(cib_path)


@pytest.mark.parametrize("failback", ["on", "off"])
def test_the_node_that_reaches_more_ping_nodes_wins(failback, tmp_path):
    """ipfail's rule: a large sticky group still moves to the node that sees more ping nodes."""
    big = " ".join(f"192.0.2.{i}" for i in range(10, 20))
    c = cluster_of(f"bcast eth0\nnode node1 node2\nping 192.0.2.1\nauto_failback {failback}\n", f"node1 {big}\n")
    [group] = c.groups
    points = int(dict(c.clones[0].primitive.params)["multiplier"])
    start, both, cut = tmp_path / "cib.xml", tmp_path / "both.xml", tmp_path / "cut.xml"
    start.write_text(cib.render(c))
    verify(start)
    simulate(start, both, up=["node1", "node2"])
    for node in ("node1", "node2"):
        set_attribute(both, node, "pingd", points)
    assert placement(c, simulate(both, both))[group.id] == "node1"
    set_attribute(both, "node1", "pingd", 0)
    assert placement(c, simulate(both, cut))[group.id] == "node2"


def _configuration(root: ET.Element) -> dict:
    """What a configuration means, without ids and comments that tools may choose freely."""
    conf = root.find("configuration")

    def nv(el):
        return {(n.get("name"), n.get("value")) for n in el.iter("nvpair")} if el is not None else set()

    def prim(p):
        return (p.get("id"), p.get("class"), p.get("provider"), p.get("type"), frozenset(nv(p)),
                frozenset((o.get("name"), o.get("interval"), o.get("timeout")) for o in p.iter("op")))
    res = conf.find("resources")
    return {
        "groups": [(g.get("id"), [prim(p) for p in g.findall("primitive")]) for g in res.findall("group")],
        "clones": [(c.get("id"), prim(c.find("primitive"))) for c in res.findall("clone")],
        "locations": sorted(
            (loc.get("id"), loc.get("rsc"), loc.get("node"), loc.get("score"),
             tuple((r.get("score"), r.get("score-attribute"),
                    tuple((e.get("attribute"), e.get("operation"), e.get("value")) for e in r.iter("expression")))
                   for r in loc.iter("rule")))
            for loc in conf.find("constraints").iter("rsc_location")),
        "properties": nv(conf.find("crm_config")) - {(n, v) for n, v in nv(conf.find("crm_config"))
                                                   if n in ("have-watchdog", "dc-version", "cluster-infrastructure")},
        "rsc_defaults": nv(conf.find("rsc_defaults")),
    }


@pytest.mark.skipif(shutil.which("crm") is None,
                    reason="crm (Debian package crmsh) not installed; `make deps` installs it")
@pytest.mark.parametrize("tree", sorted(TREES))
def test_crmsh_script_means_the_same_as_the_cib(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    ha_dir, options = TREES[tree]
    opts = Options(init_standard="systemd" if "systemd" in options else "lsb")
    c = convert(load(ha_dir), opts)
    ours = ET.fromstring(cib.render(c))
    # an empty configuration with our nodes, for crmsh to load into (CIB_file: no cluster needed)
    shadow = ET.fromstring(cib.render(c))
    conf = shadow.find("configuration")
    for tag in ("resources", "constraints", "rsc_defaults", "crm_config"):
        for child in list(conf.find(tag)):
            conf.find(tag).remove(child)
    (tmp_path / "shadow.xml").write_text(ET.tostring(shadow, encoding="unicode"))
    (tmp_path / "script.crm").write_text(crmsh.render(c))
    # -F: crmsh looks the agents up on this host, and lsb:httpd is not installed here
    done = subprocess.run(["crm", "-F", "configure", "load", "update", str(tmp_path / "script.crm")],
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                          env={**os.environ, "CIB_file": str(tmp_path / "shadow.xml")})
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = ET.parse(tmp_path / "shadow.xml").getroot()
    assert _configuration(loaded) == _configuration(ours)


OCF_ROOT = Path("/usr/lib/ocf")
# one token per resource.d wrapper hb2pcs maps, using every argument it takes
EVERY_ARGUMENT = ("IPaddr::192.0.2.5/24/eth0/192.0.2.255", "IPaddr2::192.0.2.6/24/eth0:web/192.0.2.255",
                  "Filesystem::/dev/sdb1::/data::xfs::noatime", "IPsrcaddr::192.0.2.5", "SendArp::192.0.2.7/eth0",
                  "MailTo::root::failover", "Delay::1::2", "apache::/etc/httpd.conf", "Xinetd::tftp",
                  "LVM::vg0", "Raid1::/etc/raidtab::/dev/md0", "AudibleAlarm::node2", "portblock::tcp::80::block")


@pytest.mark.skipif(not all((OCF_ROOT / "resource.d" / provider).is_dir() for provider in ("heartbeat", "pacemaker")),
                    reason="resource-agents/pacemaker OCF agents not installed; `make deps` installs them")
def test_every_parameter_written_is_one_the_agent_declares():
    assert {t.split("::")[0] for t in EVERY_ARGUMENT} == set(LEGACY)
    c = cluster_of("bcast eth0\nnode node1 node2\nping 192.0.2.1\n", f"node1 {' '.join(EVERY_ARGUMENT)}\n")
    assert not c.problems
    for p in [p for g in c.groups for p in g.primitives] + [cl.primitive for cl in c.clones]:
        agent = OCF_ROOT / "resource.d" / p.provider / p.type
        meta = subprocess.run([str(agent), "meta-data"], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                              env={**os.environ, "OCF_ROOT": str(OCF_ROOT)}).stdout
        declared = {e.get("name") for e in ET.fromstring(meta).iter("parameter")}
        assert {k for k, _v in p.params} <= declared, p.agent


def _same_but_defaults(pcs_made: dict, ours: dict) -> bool:
    """pcs adds the agents' default start/stop/reload operations; the rest must be equal."""
    def without_added_ops(prims, reference):
        return [p[:5] + (p[5] & r[5],) for p, r in zip(prims, reference)]
    groups = [(g, without_added_ops(ps, dict(ours["groups"])[g])) for g, ps in pcs_made["groups"]]
    clones = [(c, without_added_ops([p], [dict(ours["clones"])[c]])[0]) for c, p in pcs_made["clones"]]
    rest = {k: v for k, v in pcs_made.items() if k not in ("groups", "clones")}
    return (groups, clones, rest) == (ours["groups"], ours["clones"],
                                      {k: v for k, v in ours.items() if k not in ("groups", "clones")})


@pytest.mark.skipif(shutil.which("pcs") is None,
                    reason="pcs not installed (Debian's package starts pcsd at install, so `make deps` leaves it out)")
@pytest.mark.parametrize("tree", sorted(TREES))
def test_pcs_script_means_the_same_as_the_cib(tree, tmp_path):
    golden = REPO / "tests/unit/data/hb2pcs/golden"
    script = (golden / f"{tree}.pcs.sh").read_text()
    empty = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    (tmp_path / pcs.CIB_FILE).write_text(empty.stdout)
    for line in script.splitlines():
        if not line.startswith(f"pcs -f {pcs.CIB_FILE} "):
            continue
        # --force: pcs looks init scripts up on this host, and lsb:httpd is not installed here
        force = " --force" if re.search(r" (lsb|systemd):", line) else ""
        done = subprocess.run(line + force, shell=True, cwd=tmp_path, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    made = ET.parse(tmp_path / pcs.CIB_FILE).getroot()
    assert _same_but_defaults(_configuration(made), _configuration(ET.parse(golden / f"{tree}.cib.xml").getroot()))
