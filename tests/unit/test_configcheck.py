"""A whole /etc/ha.d checked at once: the shipped examples, cross-file and host checks,
every problem listed as file:line, and the exit codes of `python3 -m heartbeat.config.configcheck`."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from heartbeat.config import configcheck
from heartbeat.config.configcheck import EXIT_NOT_CONFIGURED, EXIT_OK, EXIT_USAGE, load_config, local_node_name
from heartbeat.config.errors import ConfigErrors, Warning_
from heartbeat.tools.install import REPO

EXAMPLES = REPO / "ha.d-examples"

HACF = """\
keepalive 1
deadtime 10
auto_failback on
bcast eth0
node node1 node2
"""
AUTHKEYS = "auth 1\n1 md5 secret\n"
HARESOURCES = "node1 IPaddr::192.0.2.100/24/eth0 httpd\n"
SCRIPTS = ("IPaddr", "Filesystem", "httpd")


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def tree(root: Path, hacf: str = HACF, authkeys: str = AUTHKEYS, haresources: str = HARESOURCES,
         scripts=SCRIPTS, key_mode: int = 0o600, nodeinfo: str | None = "node1\n") -> Path:
    """An /etc/ha.d under root: the three files, resource.d/ scripts and a nodeinfo."""
    ha_dir = root / "ha.d"
    ha_dir.mkdir(parents=True)
    (ha_dir / "ha.cf").write_text(hacf)
    (ha_dir / "authkeys").write_text(authkeys)
    (ha_dir / "authkeys").chmod(key_mode)
    (ha_dir / "haresources").write_text(haresources)
    for name in scripts:
        executable(ha_dir / "resource.d" / name)
    if nodeinfo is not None:
        (ha_dir / "nodeinfo").write_text(nodeinfo)
    return ha_dir


def load(ha_dir: Path, node: str = "node1", ifaces=("eth0",), init_dir: Path | None = None):
    return load_config(str(ha_dir), node_name=node, init_dir=str(init_dir or ha_dir / "no-init.d"),
                       iface_exists=lambda name: name in ifaces)


def problems(ha_dir: Path, **kw) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load(ha_dir, **kw)
    return [str(e) for e in info.value.errors]


# -- the shipped examples -----------------------------------------------------------
def installed_examples(root: Path) -> Path:
    """The examples copied the way README.md says, chmod 600 included."""
    ha_dir = root / "ha.d"
    ha_dir.mkdir()
    for name in ("ha.cf", "authkeys", "haresources"):
        shutil.copy(EXAMPLES / name, ha_dir / name)
    (ha_dir / "authkeys").chmod(0o600)
    for name in SCRIPTS:
        executable(ha_dir / "resource.d" / name)
    return ha_dir


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_examples_pass_on_both_nodes(tmp_path, node):
    cfg = load(installed_examples(tmp_path), node=node)
    assert cfg.local_node == node and cfg.hacf.nodes == ("node1", "node2")
    assert (cfg.hacf.keepalive_ms, cfg.hacf.deadtime_ms, cfg.hacf.warntime_ms, cfg.hacf.initdead_ms) == \
        (1000, 10000, 5000, 30000)
    assert cfg.hacf.ping_nodes == ("192.0.2.1",) and cfg.hacf.recorded["pacemaker"] == "off"
    assert cfg.authkeys.signing_key.method == "sha1"
    [group] = cfg.haresources.groups
    assert group.node == "node1" and group.key == "IPaddr::192.0.2.100/24/eth0"
    assert [(r.script, r.args) for r in group.resources] == [
        ("IPaddr", ("192.0.2.100/24/eth0",)),
        ("Filesystem", ("192.0.2.20:/export/www", "/srv/www", "nfs")),
        ("httpd", ())]
    # the one warning the real 3.0.6 logs at every start of the lab configuration too, and
    # ours about the example's placeholder key, which must be replaced
    assert [w.text for _, w in cfg.warnings if w.level != "info"] == [
        "Logging daemon is disabled --enabling logging daemon is recommended",
        "key 1 is the published example key [replace-me-with-a-long-random-shared-secret]: anyone "
        "can sign with it; replace it by a long random secret"]


def immutable_parts(value, path="cfg"):
    """Every mutable thing reachable from a loaded configuration, by where it is."""
    if value is None or isinstance(value, (str, bytes, int, float, enum.Enum)):
        return []
    if dataclasses.is_dataclass(value):
        own = [] if type(value).__dataclass_params__.frozen else [path]
        return own + [p for f in dataclasses.fields(value)
                      for p in immutable_parts(getattr(value, f.name), f"{path}.{f.name}")]
    if isinstance(value, tuple):
        return [p for i, v in enumerate(value) for p in immutable_parts(v, f"{path}[{i}]")]
    if isinstance(value, MappingProxyType):
        return [p for k, v in value.items() for p in immutable_parts(v, f"{path}[{k!r}]")]
    return [f"{path} ({type(value).__name__})"]


def test_a_loaded_configuration_is_immutable_all_the_way_down(tmp_path):
    cfg = load(installed_examples(tmp_path))
    assert immutable_parts(cfg) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hacf.deadtime_ms = 1
    with pytest.raises(TypeError):
        cfg.authkeys.keys[1] = None


def test_example_addresses_are_documentation_addresses():
    allowed = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24"))
    found = set()
    for name in ("ha.cf", "haresources", "README.md"):
        found |= set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", (EXAMPLES / name).read_text()))
    assert found and all(any(ipaddress.ip_address(a) in net for net in allowed) for a in found)


def test_example_authkeys_as_git_checks_it_out_is_refused_until_chmod_600(tmp_path):
    ha_dir = installed_examples(tmp_path)
    (ha_dir / "authkeys").chmod(0o644)
    assert problems(ha_dir) == [f"{ha_dir}/authkeys: Bad permissions on keyfile [{ha_dir}/authkeys], "
                                "600 recommended."]


# -- every problem of every file ------------------------------------------------------
def test_every_problem_of_every_file_is_listed_with_file_and_line(tmp_path):
    ha_dir = tree(tmp_path,
                  hacf="keepalive 1\nnosuch on\ndeadtime 10s\nbcast eth0\nnode node1 node2\n",
                  authkeys="auth 1\n1 sha256 secret\n", key_mode=0o644,
                  haresources="# web\nnode2\nnode1 IPaddr::192.0.2.100/24/eth0 httpd\n")
    assert problems(ha_dir) == [
        f"{ha_dir}/ha.cf:2: Illegal directive [nosuch]",
        f"{ha_dir}/ha.cf:3: Invalid deadtime [10s]: a time is a number of seconds (2, 0.5) or a number "
        "followed by ms or us (500ms); 's' is not a unit",
        f"{ha_dir}/authkeys: Bad permissions on keyfile [{ha_dir}/authkeys], 600 recommended.",
        f"{ha_dir}/authkeys:2: Invalid authtype [sha256] (crc, md5 or sha1)",
        f"{ha_dir}/authkeys:1: Auth Key [1] not found in keyfile",
        f"{ha_dir}/haresources:2: resource group of node [node2] has no resources",
    ]


def test_missing_files_are_named(tmp_path):
    ha_dir = tmp_path / "ha.d"
    ha_dir.mkdir()
    errs = problems(ha_dir)
    assert [e.split(": ", 1)[0] for e in errs] == [f"{ha_dir}/ha.cf", f"{ha_dir}/authkeys",
                                                   f"{ha_dir}/haresources"]
    assert all("No such file or directory" in e for e in errs)


def test_haresources_nodes_must_be_ha_cf_nodes(tmp_path):
    ha_dir = tree(tmp_path, hacf=HACF + "ping 192.0.2.1\n",
                  haresources="node3 IPaddr::192.0.2.100 httpd\n192.0.2.1 IPaddr::192.0.2.101\n")
    assert problems(ha_dir) == [
        f"{ha_dir}/haresources:1: Bad nodename [node3]: not a node in ha.cf",
        f"{ha_dir}/haresources:2: Bad nodename [192.0.2.1]: a ping node cannot own resources"]


def test_the_local_node_must_be_declared(tmp_path):
    [err] = problems(tree(tmp_path), node="NODE9")
    assert err.startswith(f"{tmp_path}/ha.d/ha.cf: Current node [node9] not in configuration!")
    assert load(tree(tmp_path / "b"), node="NODE1").local_node == "node1"


def test_media_interfaces_must_exist(tmp_path):
    ha_dir = tree(tmp_path, hacf="bcast eth0 eth7\nucast eth8 192.0.2.12\n"
                                 "mcast eth9 239.0.2.1 694 1 0\nnode node1 node2\n")
    assert problems(ha_dir) == [f"{ha_dir}/ha.cf:1: IP interface [eth7] does not exist",
                                f"{ha_dir}/ha.cf:2: IP interface [eth8] does not exist",
                                f"{ha_dir}/ha.cf:3: IP interface [eth9] does not exist"]


def test_serial_devices_must_be_character_devices(tmp_path):
    plain = tmp_path / "ttyFAKE"
    plain.write_text("")
    ha_dir = tree(tmp_path, hacf=HACF + f"serial /dev/null\nserial {plain}\nserial /dev/nonexistent-tty\n")
    assert problems(ha_dir) == [
        f"{ha_dir}/ha.cf:7: Serial port [{plain}] not a char device in config file",
        f"{ha_dir}/ha.cf:8: Nonexistent serial port [/dev/nonexistent-tty] in config file"]


def test_respawn_users_and_commands(tmp_path):
    good = tmp_path / "bin" / "client"
    executable(good)
    plain = tmp_path / "bin" / "plain"
    plain.write_text("")
    ha_dir = tree(tmp_path, hacf=HACF + f"respawn root {good}\nrespawn no-such-user-x {good}\n"
                                        f"respawn root {plain}\n")
    assert problems(ha_dir) == [
        f"{ha_dir}/ha.cf:7: Invalid uid [no-such-user-x] specified for client child",
        f"{ha_dir}/ha.cf:8: Client child command [{plain}] is not executable"]


def test_apiauth_users_and_groups_must_exist(tmp_path):
    ha_dir = tree(tmp_path, hacf=HACF + "apiauth ping gid=root,0\napiauth mon uid=nosuchuserx gid=nosuchgrpx\n")
    assert problems(ha_dir) == [f"{ha_dir}/ha.cf:7: Invalid apiauth directive for API client mon: "
                                "unknown user [nosuchuserx], group [nosuchgrpx]"]


def test_coreroot_must_be_a_directory(tmp_path):
    ha_dir = tree(tmp_path, hacf=HACF + f"coreroot {tmp_path}/none\n")
    assert problems(ha_dir) == [f"{ha_dir}/ha.cf:6: Invalid core directory [{tmp_path}/none]"]


def test_scripts_are_found_in_resource_d_then_the_init_dir(tmp_path):
    init_dir = tmp_path / "init.d"
    executable(init_dir / "httpd")
    ha_dir = tree(tmp_path, scripts=("IPaddr",))
    assert [g.key for g in load(ha_dir, init_dir=init_dir).haresources.groups] == \
        ["IPaddr::192.0.2.100/24/eth0"]
    (init_dir / "httpd").chmod(0o644)                       # not executable: not found
    [err] = problems(ha_dir, init_dir=init_dir)
    assert err == (f"{ha_dir}/haresources:1: Cannot locate resource script httpd (no executable httpd "
                   f"in {ha_dir}/resource.d or {init_dir})")


def test_a_bare_ip_needs_ipaddr(tmp_path):
    ha_dir = tree(tmp_path, haresources="node1 192.0.2.100 httpd\n", scripts=("httpd",))
    assert problems(ha_dir) == [f"{ha_dir}/haresources:1: Cannot locate resource script IPaddr "
                                f"(no executable IPaddr in {ha_dir}/resource.d or {ha_dir}/no-init.d)"]


def test_warnings_are_kept_with_their_file(tmp_path):
    ha_dir = tree(tmp_path, hacf=HACF + "udp eth0\n", authkeys="auth 1\n1 md5 secret\n1 md5 other\n")
    cfg = load(ha_dir)
    assert (f"{ha_dir}/ha.cf", Warning_(6, "WARN", "WARNING: directive 'udp' replaced by 'bcast'")) in cfg.warnings
    assert (f"{ha_dir}/authkeys", Warning_(3, "WARN", "key 1 redefined (first on line 2); this line wins")) \
        in cfg.warnings


# -- the local node's name -------------------------------------------------------------
def test_local_node_name_from_nodeinfo_or_uname(tmp_path):
    (tmp_path / "nodeinfo").write_text("Node1\nignored\n")
    assert local_node_name(str(tmp_path)) == "node1"
    (tmp_path / "nodeinfo").write_text("node1")             # no newline: the daemon ignores it
    assert local_node_name(str(tmp_path)) == os.uname().nodename.lower()
    assert local_node_name(str(tmp_path / "none")) == os.uname().nodename.lower()


# -- the command -------------------------------------------------------------------------
def cli_tree(tmp_path: Path, **kw) -> Path:
    """A tree the command accepts on this host: it checks interfaces for real, so it uses lo."""
    return tree(tmp_path, hacf=HACF.replace("bcast eth0", "bcast lo"), **kw)


def test_main_ok(tmp_path, capsys):
    ha_dir = cli_tree(tmp_path)
    assert configcheck.main([str(ha_dir)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == f"{ha_dir}: configuration OK: 2 nodes, 1 media, 1 resource groups\n" and err == ""


def test_main_prints_warnings_but_not_info(tmp_path, capsys):
    ha_dir = tree(tmp_path, hacf="keepalive 100ms\ndeadtime 1\ninitdead 2\nbcast lo\nnode node1 node2\n"
                                 "auto_failback on\n")
    assert configcheck.main([str(ha_dir)]) == EXIT_OK
    err = capsys.readouterr().err
    assert err == f"{ha_dir}/ha.cf:3: warning: Initial dead time [2000 ms] may be too small!\n"


def test_main_lists_every_error_and_exits_6(tmp_path, capsys):
    ha_dir = cli_tree(tmp_path, key_mode=0o640, haresources="node1 IPaddr::192.0.2.100 nothere\n")
    assert configcheck.main([str(ha_dir)]) == EXIT_NOT_CONFIGURED
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{ha_dir}/authkeys: Bad permissions on keyfile [{ha_dir}/authkeys], 600 recommended.",
        f"{ha_dir}/haresources:1: Cannot locate resource script nothere (no executable nothere in "
        f"{ha_dir}/resource.d or /etc/init.d)"]


@pytest.mark.parametrize("args", [["a", "b"], ["-c"], ["--help"]])
def test_main_usage(args, capsys):
    assert configcheck.main(args) == EXIT_USAGE
    assert capsys.readouterr().err == configcheck.USAGE + "\n"


@pytest.mark.parametrize("module", ["heartbeat.config.configcheck", "heartbeat.daemon.main"])
def test_both_entry_points_check_a_tree(tmp_path, module):
    # `heartbeat -c DIR` is the daemon's way to the same check
    ok = cli_tree(tmp_path / "ok")
    bad = tmp_path / "bad"
    bad.mkdir()
    run = [sys.executable, "-m", module] + (["-c"] if module == "heartbeat.daemon.main" else [])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    assert subprocess.run(run + [str(ok)], env=env, capture_output=True, timeout=60).returncode == 0
    failed = subprocess.run(run + [str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 6 and f"{bad}/ha.cf: Cannot open config file" in failed.stderr


def test_main_warns_that_crc_authenticates_nothing_and_still_exits_0(tmp_path, capsys):
    ha_dir = cli_tree(tmp_path, authkeys="auth 1\n1 crc\n")
    assert configcheck.main([str(ha_dir)]) == EXIT_OK
    err = capsys.readouterr().err
    assert err == (f"{ha_dir}/authkeys:2: warning: key 1 is crc, which authenticates nothing: anyone who "
                   "can reach the cluster's network can forge its messages; use sha1 with a long random key\n")


@pytest.mark.parametrize("token, reason", [
    ("IPaddr::192.0.2.300/24", "[192.0.2.300] is not an IPv4 address"),
    ("192.0.2.300", "[192.0.2.300] is not an IPv4 address"),
    ("IPaddr2::192.0.2.10/33", "Invalid netmask specification [33]"),
    ("IPaddr::192.0.2.10/0.0.0.0", "Invalid netmask specification [0.0.0.0]"),
    ("IPaddr::192.0.2.10/24/eth0/192.0.2.256", "broadcast [192.0.2.256] is not an IPv4 address"),
    ("IPaddr2::2001:db8::1", "[2001:db8] is not an IPv4 address"),
])
def test_bad_addresses_of_ipaddr_resources_are_errors(tmp_path, token, reason):
    """Issue 8 row 12: found at check time instead of when the takeover fails."""
    ha_dir = tree(tmp_path, haresources=f"node1 httpd\nnode2 {token} other\n",
                  scripts=("IPaddr", "IPaddr2", "httpd", "other"))
    assert problems(ha_dir) == [f"{ha_dir}/haresources:2: resource [{token}]: {reason}"]


@pytest.mark.parametrize("token", ["IPaddr::192.0.2.10/255.255.255.0/eth0", "192.0.2.10", "IPaddr2::192.0.2.10/32",
                                   "IPaddr::192.0.2.10/24/eth0:1/192.0.2.255", "IPaddr::192.0.2.10"])
def test_good_addresses_of_ipaddr_resources(tmp_path, token):
    load(tree(tmp_path, haresources=f"node1 {token}\n", scripts=("IPaddr", "IPaddr2")))
