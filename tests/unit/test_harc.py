"""harc and the rc.d event scripts (spec §8.2, §8.3), run as the daemon runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from heartbeat.resources import harc, ownprograms
from heartbeat.tools.install import REPO
from heartbeat.resources.ownprograms import EntryPoint
from tests.unit.hatree import DATE, ha_tree

HARESOURCES = """\
node1 10.0.0.1 Rec::a
node2 Rec::b Rec::c
"""


@pytest.fixture
def tree(tmp_path):
    with ha_tree(tmp_path, HARESOURCES, ["IPaddr", "Rec"]) as t:
        yield t


def test_status_dead_runs_mach_down_for_the_dead_node(tree):
    done = tree.harc_event("status", t="status", src="node2", st="dead")
    assert done.returncode == 0, done.stderr
    rcd = f"{tree.ha_dir}//rc.d"
    assert tree.log() == [
        ("harc", f"info: Running {rcd}/status status"),
        ("mach_down", "info: Taking over resource group Rec::b"),
        ("ResourceManager", "info: Acquiring resource group: node2 Rec::b Rec::c"),
        ("ResourceManager", f"info: Running {tree.ha_dir}//resource.d/Rec b start"),
        ("ResourceManager", f"info: Running {tree.ha_dir}//resource.d/Rec c start"),
        ("mach_down", "info: mach_down takeover complete for node node2."),
    ]
    assert tree.calls() == ["Rec b status", "Rec b start", "Rec c status", "Rec c start"]
    assert done.stdout == "" and done.stderr == ""   # all output went to the debug log
    assert tree.messages() == []                     # legacy mode: no resource message


def test_harc_passes_its_pid_to_the_event_script(tree):
    tree.harc_event("ip-request-resp", t="ip-request-resp", src="node1", dest="node1",
                    ipaddr="10.0.0.1", weown="yes", ok="OK")
    pids = {name: pid for name, pid, _msg in tree.entries()}
    assert pids["harc"] == pids["ip-request-resp"]
    assert pids["ResourceManager"] != pids["harc"]


@pytest.mark.parametrize("fields", [
    {"st": "up", "src": "node2"},
    {"st": "active", "src": "node2"},
    {"st": "dead", "src": "node1"},                  # ourselves
    {"st": "dead", "src": "node2", "info": "ping"},  # a ping node
])
def test_status_events_that_take_nothing(tree, fields):
    assert tree.harc_event("status", t="status", **fields).returncode == 0
    assert tree.calls() == []
    assert not any(name == "ResourceManager" for name, _ in tree.log())


def test_harc_errors_without_rc_d_or_with_a_non_executable_script(tree):
    (tree.ha_dir / "rc.d" / "status").chmod(0o644)
    assert tree.harc_event("status", st="dead", src="node2").returncode == 1
    assert tree.harc_event("nosuch").returncode == 1
    for path in (tree.ha_dir / "rc.d").iterdir():
        path.unlink()
    (tree.ha_dir / "rc.d").rmdir()
    assert tree.harc_event("status").returncode == 1
    harc, rcd = str(tree.harc), f"{tree.ha_dir}//rc.d"
    assert tree.log() == [
        ("harc", f"ERROR: {harc}: {rcd}/status: not executable"),
        ("harc", f"ERROR: {harc}: {rcd}/nosuch: not executable"),
        ("harc", f"ERROR: {harc}: {rcd} does not exist"),
    ]
    assert tree.calls() == []


@pytest.mark.parametrize("args", [[], [""], ["../harc"], [".hidden"], ["-status"], ["status;id"], ["status\n"]])
def test_harc_refuses_what_is_not_an_event_name(tree, args):
    done = tree.run(tree.harc, *args)
    assert done.returncode == 1
    assert done.stderr.startswith(f"usage: {tree.harc} event")
    assert tree.log() == [] and not tree.debuglog.exists()


def test_harc_sends_the_event_scripts_output_to_the_debug_log(tree):
    done = tree.harc_event("ip-request", t="ip-request", src="node2")   # no ipaddr: help text
    assert done.returncode == 1 and done.stdout == ""
    text = tree.debuglog.read_text()
    assert "releases the resource group $HA_ipaddr" in text
    assert "HA_src=node2\n" in text
    assert tree.messages() == []


def test_ip_request_releases_a_running_group_and_answers_weown_yes(tree):
    tree.set_running("Rec", "b")
    tree.set_running("Rec", "c")
    giveip = tree.ha_dir / "rc.d" / "local_giveip"
    giveip.write_text('#!/bin/sh\necho "local_giveip $*" >>"$TEST_CALLS"\n')
    giveip.chmod(0o755)
    done = tree.harc_event("ip-request", t="ip-request", src="node2", ipaddr="Rec::b")
    assert done.returncode == 0, tree.debuglog.read_text()
    # the key is probed, then every member stopped in reverse order
    assert tree.calls() == ["Rec b status", "local_giveip ip-request", "Rec c stop", "Rec b stop"]
    assert ("ResourceManager", "info: Releasing resource group: node2 Rec::b Rec::c") in tree.log()
    assert tree.messages() == [[("t", "ip-request-resp"), ("dest", "node2"), ("ipaddr", "Rec::b"),
                                ("weown", "yes"), ("ok", "OK")]]


def test_ip_request_for_a_group_whose_key_is_down_answers_weown_no(tree):
    tree.set_running("Rec", "c")           # only the key is probed
    assert tree.harc_event("ip-request", t="ip-request", src="node2", ipaddr="Rec::b").returncode == 0
    assert tree.calls() == ["Rec b status"]
    assert tree.running("Rec", "c")
    assert tree.messages() == [[("t", "ip-request-resp"), ("dest", "node2"), ("ipaddr", "Rec::b"),
                                ("weown", "no"), ("ok", "OK")]]


def test_ip_request_from_ourselves_is_ignored(tree):
    tree.set_running("Rec", "b")
    assert tree.harc_event("ip-request", t="ip-request", src="node1", ipaddr="Rec::b").returncode == 0
    assert tree.calls() == [] and tree.messages() == []


def test_ip_request_resp_for_us_takes_the_group(tree):
    done = tree.harc_event("ip-request-resp", t="ip-request-resp", src="node2", dest="node1",
                           ipaddr="10.0.0.1", weown="yes", ok="OK")
    assert done.returncode == 0
    assert tree.log() == [
        ("harc", f"info: Running {tree.ha_dir}//rc.d/ip-request-resp ip-request-resp"),
        ("ip-request-resp", "received ip-request-resp 10.0.0.1 OK yes"),
        ("ResourceManager", "info: Acquiring resource group: node1 10.0.0.1 Rec::a"),
        ("ResourceManager", f"info: Running {tree.ha_dir}//resource.d/IPaddr 10.0.0.1 start"),
        ("ResourceManager", f"info: Running {tree.ha_dir}//resource.d/Rec a start"),
    ]
    assert tree.running("IPaddr", "10.0.0.1") and tree.running("Rec", "a")


def test_ip_request_resp_not_ok_is_logged_but_takes_nothing(tree):
    tree.harc_event("ip-request-resp", dest="node1", ipaddr="10.0.0.1", weown="no", ok="NO")
    assert tree.log()[1:] == [("ip-request-resp", "received ip-request-resp 10.0.0.1 NO no")]
    assert tree.calls() == []


def test_ip_request_resp_for_another_node_is_ignored(tree):
    tree.harc_event("ip-request-resp", dest="node2", ipaddr="Rec::b", weown="yes", ok="OK")
    assert [name for name, _ in tree.log()] == ["harc"]
    assert tree.calls() == []


def test_ip_request_resp_without_a_group_prints_help(tree):
    assert tree.harc_event("ip-request-resp", dest="node1").returncode == 1
    assert "starts the resource group $HA_ipaddr" in tree.debuglog.read_text()


@pytest.mark.parametrize("hold, mirrored", [
    ("all", "all"), ("local", "foreign"), ("foreign", "local"), ("failback", "all"),
])
def test_hb_takeover_event_makes_us_go_standby_for_the_mirrored_set(tree, hold, mirrored):
    done = tree.harc_event("hb_takeover", t="hb_takeover", src="node2", rsc_hold=hold)
    assert done.returncode == 0
    assert tree.log()[1:] == [("hb_standby", f"Going standby [{mirrored}].")]
    assert tree.messages() == [[("t", "ask_resources"), ("rsc_hold", mirrored), ("info", "me")]]


def test_hb_takeover_event_from_ourselves_is_ignored(tree):
    tree.harc_event("hb_takeover", t="hb_takeover", src="node1", rsc_hold="all")
    assert tree.messages() == [] and [name for name, _ in tree.log()] == ["harc"]


@pytest.mark.parametrize("nicefailback, message", [
    ("", []),
    ("yes", [[("t", "resource"), ("rsc_hold", "foreign"), ("info", "standby")]]),
])
def test_ask_resources_takes_the_groups_of_the_node_going_standby(tree, nicefailback, message):
    done = tree.harc_event("ask_resources", t="ask_resources", src="node2", NICEFAILBACK=nicefailback)
    assert done.returncode == 0
    script = f"{tree.ha_dir}//rc.d/ask_resources"
    expected = [("ask_resources", "info: XXXX standby node node2"),
                ("ask_resources", "info: Taking over resource group Rec::b")]
    if nicefailback:
        expected.append(("ask_resources", f"info: {script}: nice_failback: acquiring foreign resources"))
    assert [e for e in tree.log() if e[0] == "ask_resources"] == expected
    assert tree.running("Rec", "b") and tree.running("Rec", "c")
    assert tree.messages() == message


def test_2_1_4_style_lines(tree):
    """heartbeat 2.1.4: HA_DIR without the trailing slash, `name[pid]:<TAB>date msg` lines."""
    tree.run(tree.harc, "status", HA_t="status", HA_src="node2", HA_st="dead", PYHB_LOGSTYLE="2.1.4",
             HA_DIR=str(tree.ha_dir))
    lines = [re.sub(r"\[\d+\]", "[PID]", line) for line in tree.logfile.read_text().splitlines()]
    assert lines[0] == f"harc[PID]:\t{DATE} info: Running {tree.ha_dir}/rc.d/status status"
    assert lines[1] == f"mach_down[PID]:\t{DATE} info: Taking over resource group Rec::b"
    assert lines[-1] == f"mach_down[PID]:\t{DATE} info: mach_down takeover complete for node node2."
    assert f"ResourceManager[PID]:\t{DATE} info: Running {tree.ha_dir}/resource.d/Rec c start" in lines


def test_an_unwritable_debug_log_is_an_error_and_nothing_runs(tree):
    missing = tree.root / "nodir" / "ha-debug"
    done = tree.run(tree.harc, "status", HA_t="status", HA_src="node2", HA_st="dead", HA_DEBUGLOG=str(missing))
    assert done.returncode == 2
    assert done.stderr == f"{tree.harc}: cannot open the debug log {missing}: No such file or directory\n"
    assert tree.calls() == [] and tree.log() == []


def test_a_signed_ip_request_cannot_run_a_program_outside_resource_d(tree):
    """Issue 8 row 1: the key of an ip-request named /bin/sh through ``..`` and handed it
    ``-c id>FILE`` as arguments; rc.d/ip-request's ``ResourceManager status`` ran it as root."""
    proof = tree.root / "owned"
    key = "../" * 24 + f"bin/sh::-c::id>{proof}"
    done = tree.harc_event("ip-request", t="ip-request", src="node2", ipaddr=key)
    assert not proof.exists(), proof.read_text()
    assert tree.calls() == []
    assert ("ResourceManager", f"ERROR: resource [{key}]: script name [{'../' * 24}bin/sh] "
            "is not a plain file name") in tree.log()
    # nothing was found running, so nothing was given up
    assert done.returncode == 0


# A mach_down standing in for ours: run by a shell it is this script, which hands over to the
# probe with its arguments; run as our launcher (entry_point patched) it is the probe itself.
def _stand_in(tree, monkeypatch, function: str):
    script = {"report": f"exec {sys.executable} -S -c 'import sys; sys.path.insert(0, {json.dumps(str(REPO))}); "
                        "from tests.unit.ownprogram_probe import report; sys.exit(report(sys.argv[1:]))' "
                        "\"$0\" \"$@\"",
              "killed": "kill -TERM $$"}[function]
    path = tree.noarchbin / "mach_down"
    path.write_text(f"#!/bin/sh\n{script}\n")
    monkeypatch.syspath_prepend(str(REPO))
    ours = EntryPoint("tests.unit.ownprogram_probe", function)
    monkeypatch.setattr(ownprograms, "entry_point", lambda p: ours if p == str(path) else None)
    return path


@pytest.mark.parametrize("function, status", [("report", 5), ("killed", 128 + 15)])
def test_our_status_runs_mach_down_as_its_shell_would(tree, monkeypatch, function, status):
    """Issue 10: harc runs our rc.d/status without a shell; mach_down gets the same arguments
    and environment (shellfuncs' exports, its PATH, no LC_ALL) and harc the same status."""
    _stand_in(tree, monkeypatch, function)
    out = tree.root / "seen.json"
    # no PWD: the shell exports the working directory's
    env = {**tree.env, "HA_t": "status", "HA_src": "node2", "HA_st": "dead", "PROBE_OUT": str(out),
           "LC_ALL": "C", "LANGUAGE": "de", "PATH": "/usr/bin:/bin:/usr/bin:.:/sbin", "HA_RESOURCEDIR": "",
           "LANG": "C.UTF-8"}  # or the stand-in's interpreter would add LC_CTYPE (PEP 538)
    # the script as it is: its shell runs the stand-in as a program, which is not ours
    by_shell = subprocess.run([str(tree.ha_dir / "rc.d" / "status"), "status"], env=env)
    assert by_shell.returncode == status
    seen_by_shell = json.loads(out.read_text()) if status == 5 else None
    if seen_by_shell:
        out.unlink()
    assert harc._status(env) == status
    assert harc._status({**env, "PWD": "/nowhere"}) == status   # the shell sets it right
    if seen_by_shell:
        seen = json.loads(out.read_text())
        differing = {k: (seen["env"].get(k), seen_by_shell["env"].get(k))
                     for k in set(seen["env"]) | set(seen_by_shell["env"])
                     if seen["env"].get(k) != seen_by_shell["env"].get(k)}
        assert differing == {}
        assert seen["argv"] == seen_by_shell["argv"]
        assert seen_by_shell["argv"] == [f"{tree.noarchbin}/mach_down", "node2"]


def test_our_status_runs_nothing_for_a_live_node(tree, monkeypatch):
    _stand_in(tree, monkeypatch, "killed")
    assert harc._status({**tree.env, "HA_st": "active", "HA_src": "node2"}) == 0


def test_an_admins_shellfuncs_or_mach_down_leaves_our_status_to_its_shell(tree):
    env = {**tree.env, "HA_t": "status", "HA_src": "node2", "HA_st": "dead"}
    assert harc._status(env) == 0   # ours throughout: run without the shell
    assert tree.calls() == ["Rec b status", "Rec b start", "Rec c status", "Rec c start"]
    tree.calls_file.unlink()
    with open(tree.ha_dir / "shellfuncs", "a") as f:
        f.write("export ADMIN=1\n")
    assert harc._status(env) is None
    (tree.noarchbin / "mach_down").write_text('#!/bin/sh\necho "mach_down $* $ADMIN" >>"$TEST_CALLS"\n')
    assert tree.harc_event("status", t="status", src="node2", st="dead").returncode == 0
    assert tree.calls() == ["mach_down node2 1"]


def test_an_edited_status_runs_as_a_script(tree):
    with open(tree.ha_dir / "rc.d" / "status", "a") as f:
        f.write('echo "status edited" >>"$TEST_CALLS"\n')
    assert tree.harc_event("status", t="status", src="node2", st="dead").returncode == 0
    assert tree.calls() == ["Rec b status", "Rec b start", "Rec c status", "Rec c start", "status edited"]
