"""harc and the rc.d event scripts (spec §8.2, §8.3), run as the daemon runs them."""

from __future__ import annotations

import re

import pytest

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
