"""hb2pcs: golden outputs of whole trees, every line accounted for, and the mapping rules.

Golden files live in tests/unit/data/hb2pcs/golden; after a deliberate change of the
outputs, rewrite them with ``HB2PCS_REGOLD=1`` and read the diff before committing.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from heartbeat.config.hacf import DIRECTIVES, parse_hacf
from heartbeat.config.haresources import parse_haresources
from heartbeat.tools.hb2pcs import cli, convert as convert_module
from heartbeat.tools.hb2pcs.convert import Options, Sources, convert
from heartbeat.tools.install import LAUNCHERS, REPO

DATA = Path("tests/unit/data/hb2pcs")
GOLDEN = DATA / "golden"
TREES = {
    "example": ("ha.d-examples", ["--address", "node1=192.0.2.11", "--address", "node2=192.0.2.12"]),
    "webcluster": (str(DATA / "webcluster"), ["--init-scripts", "systemd",
                                              "--address", "web1=192.0.2.11,198.51.100.11",
                                              "--address", "web2=192.0.2.12,198.51.100.12"]),
    "oddities": (str(DATA / "oddities"), []),
}
OUTPUTS = {"pcs": "pcs.sh", "crmsh": "crm", "cib": "cib.xml", "corosync": "corosync.conf"}


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    # outputs name their source files by the path given, so goldens use repository-relative ones
    monkeypatch.chdir(REPO)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def check_golden(name: str, text: str) -> None:
    path = REPO / GOLDEN / name
    if os.environ.get("HB2PCS_REGOLD"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("tree", sorted(TREES))
def test_golden_outputs(tree, tmp_path, capsys):
    ha_dir, options = TREES[tree]
    files = {kind: tmp_path / f"{tree}.{suffix}" for kind, suffix in OUTPUTS.items()}
    argv = ["-d", ha_dir, *options] + [a for kind, f in files.items() for a in (f"--{kind}", str(f))]
    rc, out, err = run(capsys, *argv)
    assert rc == (1 if tree == "oddities" else 0), err
    for f in files.values():
        check_golden(f.name, f.read_text())
    assert os.access(files["pcs"], os.X_OK)
    rc, report, _ = run(capsys, "-d", ha_dir, *options)
    check_golden(f"{tree}.lines", report)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_line_is_accounted_for(tree, capsys):
    """Every line that is not blank or a comment has exactly one fate, in every output."""
    ha_dir, options = TREES[tree]
    rc, report, err = run(capsys, "-d", ha_dir, *options)
    fated = {(m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+?):(\d+)(?:-\d+)?: ", report, re.M)}
    for name in ("ha.cf", "haresources", "authkeys"):
        path = os.path.join(ha_dir, name)
        text = Path(path).read_text()
        joined = False
        for number, line in enumerate(text.split("\n"), 1):
            content = line.split("#", 1)[0].strip() if name == "ha.cf" else line.strip()
            if content and not line.lstrip().startswith("#") and not joined:
                assert (path, number) in fated, f"{path}:{number} [{line}] has no fate"
            joined = name == "haresources" and line.endswith("\\")
    problems = [line for line in report.splitlines() if ": cannot be converted: " in line]
    assert problems == [line for line in err.splitlines() if ": cannot be converted: " in line]
    assert (rc == 1) == bool(problems)


def test_outputs_cite_their_lines(capsys, tmp_path):
    ha_dir, options = TREES["example"]
    for kind in OUTPUTS:
        f = tmp_path / kind
        run(capsys, "-d", ha_dir, *options, f"--{kind}", str(f))
        text = f.read_text()
        assert "ha.d-examples/haresources:10-12" in text, kind
        assert "ha.d-examples/ha.cf:14" in text, kind     # deadtime
        assert "NO FENCING" in text, kind


def test_the_keys_never_leave_authkeys(capsys, tmp_path):
    ha_dir, options = TREES["webcluster"]
    for kind in OUTPUTS:
        f = tmp_path / kind
        _, out, err = run(capsys, "-d", ha_dir, *options, f"--{kind}", str(f))
        assert "web-cluster-secret" not in f.read_text() + out + err
        assert "corosync-keygen" in f.read_text() + err


def test_heartbeat_class_script_is_refused_with_what_to_do(capsys):
    rc, _, err = run(capsys, "-d", TREES["oddities"][0])
    assert rc == 1
    line = next(x for x in err.splitlines() if "Sendmsg" in x)
    assert line.startswith(f"{DATA}/oddities/haresources:1: cannot be converted: [Sendmsg] is a heartbeat-class")
    assert "OCF agent" in line and "systemd unit" in line


def test_config_errors_stop_everything(capsys, tmp_path):
    (tmp_path / "ha.cf").write_text("node a b\nbcast eth0\nkeepalive 2s\n")
    (tmp_path / "haresources").write_text("a 192.0.2.5\nb\n")
    out = tmp_path / "cib.xml"
    rc, _, err = run(capsys, "-d", str(tmp_path), "--cib", str(out))
    assert rc == 6 and not out.exists()
    assert f"{tmp_path}/ha.cf:3: Invalid keepalive [2s]" in err
    assert f"{tmp_path}/haresources:2: resource group of node [b] has no resources" in err
    (tmp_path / "ha.cf").write_text("node a b\nbcast eth0\n")
    (tmp_path / "haresources").write_text("c 192.0.2.5\n")
    rc, _, err = run(capsys, "-d", str(tmp_path), "--cib", str(out))
    assert rc == 6 and not out.exists()
    assert f"{tmp_path}/haresources:1: Bad nodename [c]" in err


def test_a_node_name_corosync_cannot_hold_is_refused(capsys, tmp_path):
    (tmp_path / "ha.cf").write_text("bcast eth0\nnode a\nnode b{x}\n")
    (tmp_path / "haresources").write_text("a 192.0.2.5\n")
    rc, _, err = run(capsys, "-d", str(tmp_path))
    assert rc == 6
    assert err.startswith(f"{tmp_path}/ha.cf:3: cannot be converted: node name [b{{x}}]")


@pytest.mark.parametrize("argv", [["--address", "node9=192.0.2.9"], ["--address", "node1"],
                                  ["--address", "node1=not an address"], ["--pcs", "-", "--cib", "-"],
                                  ["--init-scripts", "upstart"]])
def test_usage_errors(argv, capsys):
    rc, _, _ = run(capsys, "-d", "ha.d-examples", *argv)
    assert rc == 2


def test_installed_like_the_other_commands():
    assert LAUNCHERS["usr/sbin/hb2pcs"] == "heartbeat.tools.hb2pcs.cli:main"
    assert "hb2pcs = heartbeat.tools.hb2pcs.cli:main" in (REPO / "setup.cfg").read_text()


# -- the mapping rules, on the pure converter ------------------------------------------
def cluster_of(hacf: str, haresources: str, **opts):
    cf = parse_hacf(hacf, "ha.cf")
    res = parse_haresources(haresources, "haresources")
    return convert(Sources("/etc/ha.d", cf, hacf, res, haresources, "authkeys", (), frozenset()), Options(**opts))


BASE = "bcast eth0\nnode n1 n2\n"


@pytest.mark.parametrize("mode, stickiness, warned", [("on", "0", False), ("off", "200", False),
                                                      ("legacy", "0", True)])
def test_auto_failback_sets_stickiness_against_the_location_score(mode, stickiness, warned):
    c = cluster_of(BASE + f"auto_failback {mode}\n", "n1 192.0.2.5 192.0.2.6\n")
    assert [(s.name, s.value) for s in c.rsc_defaults] == [("resource-stickiness", stickiness)]
    [pref] = c.preferences
    group_stickiness = int(stickiness) * len(c.groups[0].primitives)
    assert (group_stickiness > pref.score) == (mode == "off")
    assert any("legacy" in w for w in c.warnings) == warned


def test_two_nodes_keep_quorum_with_two_node_and_no_stop_policy():
    c = cluster_of(BASE, "n1 192.0.2.5\n")
    assert [(s.name, s.value) for s in c.corosync.quorum] == [("two_node", "1")]
    assert "no-quorum-policy" not in {s.name for s in c.properties}
    c3 = cluster_of("bcast eth0\nnode n1 n2 n3\n", "n1 192.0.2.5\n")
    assert c3.corosync.quorum == ()
    assert ("no-quorum-policy", "ignore") in {(s.name, s.value) for s in c3.properties}


def test_no_fencing_is_said_loudly():
    c = cluster_of(BASE, "n1 192.0.2.5\n")
    assert ("stonith-enabled", "false") in {(s.name, s.value) for s in c.properties}
    assert any(w.startswith("NO FENCING") for w in c.warnings)


def test_token_and_consensus_add_up_to_deadtime():
    c = cluster_of(BASE + "keepalive 1\ndeadtime 7\nwarntime 3\n", "n1 192.0.2.5\n")
    totem = {s.name: int(s.value) for s in c.corosync.totem}
    assert totem["token"] + totem["consensus"] == 7000
    assert totem["consensus"] >= 1.2 * totem["token"]
    assert totem["token_warning"] == 43


def test_each_interface_is_one_link_with_the_given_addresses():
    hacf = "bcast eth0\nmcast eth1 239.0.0.1 694 1 0\nucast eth2 192.0.2.7\nucast eth2 192.0.2.8\nnode n1 n2\n"
    c = cluster_of(hacf, "n1 192.0.2.5\n", addresses={"n1": ("a1", "b1", "c1"), "n2": ("a2", "b2", "c2")})
    assert [(link.number, link.iface) for link in c.corosync.links] == [(0, "eth0"), (1, "eth1"), (2, "eth2")]
    assert [len(link.origins) for link in c.corosync.links] == [1, 1, 2]
    assert [m.addresses for m in c.corosync.members] == [("a1", "b1", "c1"), ("a2", "b2", "c2")]
    assert not c.problems


def test_a_link_without_every_address_is_not_convertible():
    hacf = "bcast eth0\nbcast eth1\nnode n1 n2\n"
    c = cluster_of(hacf, "n1 192.0.2.5\n", addresses={"n1": ("a1", "b1"), "n2": ("a2",)})
    assert [link.iface for link in c.corosync.links] == ["eth0"]
    [problem] = c.problems
    assert str(problem).startswith("ha.cf:2: cannot be converted: knet link 1 on [eth1]") and "for n2" in problem.text
    assert [m.addresses for m in c.corosync.members] == [("a1",), ("a2",)]
    assert any("b1 not used" in w for w in c.warnings)


def test_serial_only_keeps_a_link_0_for_corosync():
    c = cluster_of("serial /dev/ttyS0\nnode n1 n2\n", "n1 192.0.2.5\n")
    assert c.corosync.links == () and [m.addresses for m in c.corosync.members] == [("n1",), ("n2",)]
    assert [f.origin.first for f in c.problems] == [1]


def test_a_comment_ending_in_a_backslash_continues_nothing():
    c = cluster_of(BASE, "# old \\\nn1 192.0.2.5\n")
    assert str(c.groups[0].origin) == "haresources:2"


def test_a_ping_host_that_is_no_host_is_not_convertible():
    c = cluster_of(BASE + "ping 192.0.2.1\nping bad'host\nping_group g 192.0.2.2 \x01\n", "n1 192.0.2.5\n")
    assert [dict(cl.primitive.params)["host_list"] for cl in c.clones] == ["192.0.2.1"]
    assert [(f.origin.first, f.text.split(" is ")[0]) for f in c.problems] == [
        (4, "ping host [bad'host]"), (5, "ping host [\x01]")]


def test_ping_and_ping_group_become_ping_clones_and_rules():
    c = cluster_of(BASE + "ping 192.0.2.1 192.0.2.2\nping_group gw 192.0.2.3 192.0.2.4\n"
                          "deadping 20\nrespawn hacluster /usr/lib/heartbeat/ipfail\n",
                   "n1 192.0.2.5\nn2 192.0.2.6\n")
    assert [(cl.id, dict(cl.primitive.params)["host_list"]) for cl in c.clones] == \
        [("ping-clone", "192.0.2.1 192.0.2.2"), ("ping_gw-clone", "192.0.2.3 192.0.2.4")]
    assert all(dict(cl.primitive.params)["dampen"] == "20s" for cl in c.clones)
    assert [(r.rsc, r.attribute, r.score, r.score_attribute) for r in c.rules] == [
        (c.groups[0].id, "pingd", None, True), (c.groups[1].id, "pingd", None, True),
        (c.groups[0].id, "pingd_gw", 1000, False), (c.groups[1].id, "pingd_gw", 1000, False)]
    assert not any("ipfail" in w for w in c.warnings)
    assert all(op.name != "monitor" or op.interval == "10s" for cl in c.clones for op in cl.primitive.ops)


def test_one_ping_node_more_outweighs_stickiness_and_preference():
    big = " ".join(f"192.0.2.{i}" for i in range(10, 22))
    for failback in ("on", "off"):
        c = cluster_of(BASE + f"ping 192.0.2.1\nauto_failback {failback}\n", f"n1 {big}\nn2 192.0.2.30\n")
        [clone] = c.clones
        points = int(dict(clone.primitive.params)["multiplier"])
        held = max(len(g.primitives) for g in c.groups) * int(c.rsc_defaults[0].value)
        assert points > held + c.preferences[0].score


@pytest.mark.parametrize("token, agent, params", [
    ("192.0.2.5", "ocf:heartbeat:IPaddr2",
     {"ip": "192.0.2.5", "arp_interval": "500", "arp_count": "10", "arp_bg": "true"}),
    ("IPaddr::192.0.2.5/24/eth1/192.0.2.255", "ocf:heartbeat:IPaddr2",
     {"ip": "192.0.2.5", "cidr_netmask": "24", "nic": "eth1", "broadcast": "192.0.2.255"}),
    # a third field starting with a digit is the broadcast, not the nic
    ("IPaddr::192.0.2.5/255.255.255.128/192.0.2.127", "ocf:heartbeat:IPaddr2",
     {"ip": "192.0.2.5", "cidr_netmask": "25", "broadcast": "192.0.2.127"}),
    ("IPaddr2::192.0.2.5/24/eth0:web", "ocf:heartbeat:IPaddr2",
     {"nic": "eth0", "iflabel": "web", "lvs_support": "true", "arp_interval": "200", "arp_count": "5"}),
    ("Filesystem::/dev/sdb1::/data::xfs::noatime", "ocf:heartbeat:Filesystem",
     {"device": "/dev/sdb1", "directory": "/data", "fstype": "xfs", "options": "noatime"}),
    ("Delay", "ocf:heartbeat:Delay", {"startdelay": "10"}),
    ("SendArp::192.0.2.5/eth0", "ocf:heartbeat:SendArp", {"ip": "192.0.2.5", "nic": "eth0"}),
    ("httpd", "lsb:httpd", {}),
])
def test_resource_mapping(token, agent, params):
    c = cluster_of(BASE, f"n1 {token}\n")
    [p] = c.groups[0].primitives
    assert p.agent == agent
    assert params.items() <= dict(p.params).items()
    assert [op.name for op in p.ops][:1] == ["monitor"]


def test_delay_start_and_stop_outlast_its_sleeps():
    c = cluster_of(BASE, "n1 Delay::90::45\n")
    [p] = c.groups[0].primitives
    assert {op.name: op.timeout for op in p.ops} == {"monitor": "20s", "start": "111s", "stop": "66s"}


def test_init_scripts_as_systemd_and_no_monitors():
    c = cluster_of(BASE, "n1 httpd\n", init_standard="systemd", monitor=False)
    [p] = c.groups[0].primitives
    assert (p.agent, p.ops) == ("systemd:httpd", ())


@pytest.mark.parametrize("token, reason", [
    ("IPaddr::192.0.2.5/33", "netmask [33]"),
    ("Filesystem::/dev/sdb1::/data", "names no fstype"),
    ("httpd::-DSSL", "init script [httpd] is given arguments"),
    ("MailTo", "takes 1 to 2 arguments"),
    ("Delay::soon", "Delay startdelay [soon] is not a number of seconds"),
])
def test_unconvertible_resources(token, reason):
    c = cluster_of(BASE, f"n1 {token}\n")
    [problem] = c.problems
    assert str(problem).startswith("haresources:1: cannot be converted: ") and reason in problem.text


def test_every_ha_cf_directive_has_a_decision():
    """A directive added to the parser without a decision here would be reported as having no mapping."""
    mapped_by_value = {"node", "bcast", "mcast", "ucast", "serial", "ping", "ping_group", "deadtime",
                       "warntime", "deadping", "udpport", "cluster", "auto_failback", "nice_failback",
                       "logfacility", "debug", "respawn", "failfast", "stonith", "stonith_host"}
    decided = set(convert_module._SUPERSEDED) | set(convert_module._NOT_CONVERTIBLE) | mapped_by_value
    unsupported = {name for name in DIRECTIVES if name.endswith("6") or name in ("hbaping", "tipc", "rds")}
    assert set(DIRECTIVES) - unsupported <= decided


# -- generated haresources files ----------------------------------------------------------
def resource_tokens():
    octet = st.integers(2, 250)
    return st.one_of(
        octet.map(lambda o: f"192.0.2.{o}"),
        st.tuples(octet, st.sampled_from(["24", "255.255.255.0", "25"]), st.sampled_from(["eth0", "eth1"]))
        .map(lambda t: f"IPaddr::198.51.100.{t[0]}/{t[1]}/{t[2]}"),
        octet.map(lambda o: f"IPaddr2::192.0.2.{o}/24"),
        st.sampled_from(["a", "b", "c"]).map(lambda d: f"Filesystem::/dev/sd{d}1::/srv/{d}::ext4"),
        st.sampled_from(["httpd", "postfix", "smb", "mysqld"]),
        st.integers(0, 9).map(lambda n: f"Delay::{n}::0"),
        st.just("MailTo::root::failover"))


def haresources_files():
    group = st.tuples(st.sampled_from(["node1", "node2", "NODE2"]),
                      st.lists(resource_tokens(), min_size=1, max_size=4),
                      st.booleans())
    return st.lists(group, min_size=1, max_size=4).map(
        lambda groups: "".join(f"{node} " + (" \\\n\t" if split else " ").join(tokens) + "\n"
                               for node, tokens, split in groups))


def parsable(text: str) -> bool:
    try:
        parse_haresources(text, "haresources")
    except Exception:
        return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(haresources_files().filter(parsable))
def test_generated_haresources_convert_group_for_group(text):
    res = parse_haresources(text, "haresources")
    c = cluster_of(BASE.replace("n1 n2", "node1 node2"), text)
    assert not c.problems
    assert [(g.node, len(g.primitives)) for g in c.groups] == [(g.node, len(g.resources)) for g in res.groups]
    assert [p.node for p in c.preferences] == [g.node for g in res.groups]
    ids = [p.id for g in c.groups for p in g.primitives] + [g.id for g in c.groups]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", i) for i in ids)
    for p in (p for g in c.groups for p in g.primitives):
        shlex.split(" ".join(shlex.quote(v) for _k, v in p.params))
