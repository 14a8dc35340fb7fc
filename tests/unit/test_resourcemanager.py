"""ResourceManager (spec §5.2, §6, §7): lookups, group start/stop, status text, failures.

The command line is run as the daemon and the helpers run it (tests.unit.hatree); the
failure paths that sleep, reboot or start hb_standby later run in-process with those
injected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from heartbeat.resources import resourcemanager
from heartbeat.config.groupkeys import allkeys, listkeys, otherkeys, ourkeys
from heartbeat.resources.resourcemanager import (ResourceManager, args_of, canonical, group_words, is_ip, read_lines,
                                                 running_from_text, script_of)
from heartbeat.resources.scriptenv import ScriptLog, with_defaults
from tests.unit.deadline import deadline
from tests.unit.hatree import ha_tree

HARESOURCES = """\
# comment line
node1 10.0.0.1 Rec::a   # trailing comment
NODE2   Rec::b \\
        Rec::c::x::y Lsb
node2 Rec::d
"""
LINES = ["node1 10.0.0.1 Rec::a ", "node2 Rec::b Rec::c::x::y Lsb ", "node2 Rec::d "]


@pytest.fixture
def tree(tmp_path):
    with ha_tree(tmp_path, HARESOURCES, ["IPaddr", "Rec"]) as t:
        t.resource("Lsb", directory="init")
        yield t


def rm_in_process(tree, **inject):
    """A ResourceManager in this process, as its command line would build it."""
    env = with_defaults(tree.env, fixed_ha_dir=True)
    log = ScriptLog(env, "ResourceManager")
    return ResourceManager(env, read_lines(env["HA_DIR"], log), log, str(tree.noarchbin / "ResourceManager"),
                           base=tree.env, **inject)


# --- pure parts -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, running", [
    ("running", True), ("INFO:  Running OK", True), ("httpd (pid 123) is running...", True),
    ("running (Primary)", True),
    # "cannot " holds "not ": the shell's glob calls this stopped (checked with sh; the spec's
    # drbddisk remark says otherwise)
    ("cannot determine status, may be running (Unknown)", False),
    ("notrunning", True), ("OK", True), ("status: OK\n", True),
    ("stopped", False), ("INFO:  Resource is stopped", False), ("apache2 is not running", False),
    ("Not Running", False), ("NOT currently running", False), ("", False), ("ok", False),
    ("is not\nrunning", True),       # the blank must follow "not" on the same word boundary
    ("dead\nbut not running\n", False),
])
def test_status_text_rules(text, running):
    assert running_from_text(text) is running


@pytest.mark.parametrize("token, ip, canon, script, args", [
    ("10.0.0.1", True, "IPaddr::10.0.0.1", "10.0.0.1", "10.0.0.1"),
    ("10.0.0.1/24/eth0", True, "IPaddr::10.0.0.1/24/eth0", "10.0.0.1/24/eth0", "10.0.0.1/24/eth0"),
    ("IPaddr::10.0.0.1/24/eth0", False, "IPaddr::10.0.0.1/24/eth0", "IPaddr", "10.0.0.1/24/eth0"),
    ("Filesystem::/dev/sda1::/data1::ext3", False, None, "Filesystem", "/dev/sda1 /data1 ext3"),
    ("httpd", False, "httpd", "httpd", ""),
    ("a:b::c", False, None, "a:b", "a:c"),
])
def test_resource_tokens(token, ip, canon, script, args):
    assert is_ip(token) is ip
    assert canonical(token) == (canon or token)
    assert script_of(token) == script
    assert args_of(token) == args


def test_lookups_match_like_egrep_on_the_keys_haresources_allows(tree):
    lines = read_lines(str(tree.ha_dir), ScriptLog({}, "t"))
    assert lines == LINES
    assert listkeys(lines, "NODE2") == ["Rec::b", "Rec::d"]
    assert listkeys(lines, "node") == []               # anchored on the whole node name
    # '.' is egrep's any character, the one pattern character real names and keys hold
    assert listkeys(lines, "node.") == ["10.0.0.1", "Rec::b", "Rec::d"]
    assert allkeys(lines) == ["10.0.0.1", "Rec::b", "Rec::d"]
    assert ourkeys(lines, "node1") == ["10.0.0.1 Rec::a "]
    assert otherkeys(lines, "node1") == ["Rec::b Rec::c::x::y Lsb ", "Rec::d "]
    assert group_words(lines, "10.0.0.1") == ["node1", "10.0.0.1", "Rec::a"]
    assert group_words(["node1 10x0x0x1 "], "10.0.0.1") == ["node1", "10x0x0x1"]
    # a key is found anywhere on a line: several lines run as one group
    assert group_words(lines, "Rec::b") == ["node2", "Rec::b", "Rec::c::x::y", "Lsb"]
    assert group_words(lines, "Rec::c::x::y") == ["node2", "Rec::b", "Rec::c::x::y", "Lsb"]
    assert group_words(lines, "nosuch") == []
    # every other egrep character is itself (haresources refuses keys holding them)
    assert group_words(lines, "Rec::[ad]") == []
    assert listkeys(lines, ".*") == []


def test_a_hostile_key_is_matched_in_linear_time():
    """Issue 8 row 2: keys were Python regexes; this one backtracks for minutes."""
    lines = ["node1 Rec::" + "a" * 40 + " ", "node2 " + "a" * 40 + " "]
    with deadline(10):
        assert group_words(lines, "Rec::(a*a*)*Q") == []
        assert listkeys(lines, "(a*a*)*Q") == []
        assert group_words(lines, "(a*" * 20 + "a" + ")*" * 20 + "Q") == []


# --- listing commands ------------------------------------------------------------------------

@pytest.mark.parametrize("args, out", [
    (["listkeys", "node2"], "Rec::b\nRec::d\n"),
    (["listkeys", "Node1"], "10.0.0.1\n"),
    (["listkeys", "node3"], ""),
    (["allkeys"], "10.0.0.1\nRec::b\nRec::d\n"),
    (["ourkeys"], "10.0.0.1 Rec::a \n"),
    (["otherkeys"], "Rec::b Rec::c::x::y Lsb \nRec::d \n"),
])
def test_listing_commands(tree, args, out):
    done = tree.run("ResourceManager", *args)
    assert (done.returncode, done.stdout, done.stderr) == (0, out, "")
    assert tree.calls() == []


def test_ourkeys_needs_ha_curhost(tree):
    done = tree.run("ResourceManager", "ourkeys", HA_CURHOST="")
    assert (done.returncode, done.stdout) == (0, "")
    assert tree.run("ResourceManager", "otherkeys", HA_CURHOST="").stdout.count("\n") == 3


@pytest.mark.parametrize("args", [[], ["nosuch"], ["listkeys"], ["status"], ["takegroup"], ["givegroup"],
                                  ["statgroup"], ["takegroup", ""]])
def test_usage(tree, args):
    done = tree.run("ResourceManager", *args)
    prog = tree.noarchbin / "ResourceManager"
    assert done.returncode == 1
    assert done.stderr == f"usage: {prog} listkeys machine | takegroup key | givegroup key|status resource\n\n"
    assert done.stdout == "" and tree.calls() == [] and tree.log() == []


# --- status ------------------------------------------------------------------------------------

@pytest.mark.parametrize("say, rc, expected", [
    ("running\n", 3, 0),                  # the exit status of the script does not count
    ("INFO:  Resource is stopped\n", 0, 3),
    ("apache2 is not running\n", 0, 3),
    ("everything OK\n", 1, 0),
    ("\n", 0, 3),
])
def test_status_is_decided_by_the_text(tree, say, rc, expected):
    tree.say("Rec", say, "b", rc=rc)
    done = tree.run("ResourceManager", "status", "Rec::b")
    assert (done.returncode, done.stdout) == (expected, "")
    assert tree.calls() == ["Rec b status"]


def test_status_of_an_ip_runs_ipaddr(tree):
    assert tree.run("ResourceManager", "status", "10.0.0.1").returncode == 3
    tree.set_running("IPaddr", "10.0.0.1")
    assert tree.run("ResourceManager", "status", "10.0.0.1").returncode == 0
    assert tree.calls() == ["IPaddr 10.0.0.1 status"] * 2


def test_status_of_an_unknown_script_is_not_running_and_logged(tree):
    assert tree.run("ResourceManager", "status", "Nope::1").returncode == 3
    assert tree.log() == [("ResourceManager", "ERROR: Cannot locate resource script Nope")]


# --- takegroup / givegroup -------------------------------------------------------------------

def test_takegroup_starts_in_order_and_skips_what_runs(tree):
    tree.set_running("Rec", "c")
    done = tree.run("ResourceManager", "takegroup", "Rec::b")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    rd, init = f"{tree.ha_dir}/resource.d", tree.root / "init.d"
    assert tree.log() == [
        ("ResourceManager", "info: Acquiring resource group: node2 Rec::b Rec::c::x::y Lsb"),
        ("ResourceManager", f"info: Running {rd}/Rec b start"),
        ("ResourceManager", f"info: Running {init}/Lsb  start"),   # LSB script, no argument
    ]
    assert tree.calls() == ["Rec b status", "Rec b start", "Rec c x y status", "Lsb status", "Lsb start"]
    assert tree.running("Rec", "b") and tree.running("Lsb")


def test_inherited_resource_dir_shows_in_the_lines(tree):
    """Run via harc, HA_RESOURCEDIR comes from the daemon's HA_DIR with its trailing slash."""
    tree.run("ResourceManager", "takegroup", "Rec::d", HA_RESOURCEDIR=f"{tree.ha_dir}//resource.d")
    assert tree.log()[-1] == ("ResourceManager", f"info: Running {tree.ha_dir}//resource.d/Rec d start")


def test_resource_d_comes_before_the_init_directory(tree):
    tree.resource("Rec", directory="init")
    (tree.root / "init.d" / "Rec").write_text("#!/bin/sh\necho WRONG >>\"$TEST_CALLS\"\n")
    tree.run("ResourceManager", "takegroup", "Rec::d")
    assert tree.calls() == ["Rec d status", "Rec d start"]


def test_script_output_goes_to_the_debug_log(tree):
    tree.fail("Rec", "start", "d", rc=0)     # prints its complaint on stderr, succeeds
    done = tree.run("ResourceManager", "takegroup", "Rec::d")
    assert done.stdout == "" and done.stderr == ""
    assert "Rec: start failed on purpose\n" in tree.debuglog.read_text()


def test_debug_lines_go_to_the_debug_log_only(tree):
    tree.run("ResourceManager", "takegroup", "Rec::d", HA_debug="1")
    rec = f"{tree.ha_dir}/resource.d/Rec"
    debug = tree.debuglog.read_text()
    assert "ResourceManager(default)[" in debug
    assert f"debug: Starting {rec} d start\n" in debug
    assert f"debug: {rec} d start done. RC=0\n" in debug
    assert not any(msg.startswith("debug:") for _, msg in tree.log())


def test_extra_operands_are_ignored_as_the_original_reads_only_its_second_word(tree):
    # standby and shutdown hand each ourkeys/otherkeys line to ResourceManager word by word
    tree.set_running("Rec", "c")
    done = tree.run("ResourceManager", "takegroup", "Rec::b", "Rec::c::x::y", "Lsb")
    assert (done.returncode, done.stderr) == (0, "")
    assert tree.calls() == ["Rec b status", "Rec b start", "Rec c x y status", "Lsb status", "Lsb start"]
    assert tree.run("ResourceManager", "listkeys", "node1", "node2").stdout == "10.0.0.1\n"


def test_takegroup_of_running_resources_only_probes(tree):
    for arg in ("b", "c"):
        tree.set_running("Rec", arg)
    tree.set_running("Lsb")
    tree.run("ResourceManager", "takegroup", "Rec::b")
    assert tree.calls() == ["Rec b status", "Rec c x y status", "Lsb status"]
    assert len(tree.log()) == 1


def test_unknown_key_does_nothing(tree):
    for op in ("takegroup", "givegroup"):
        assert tree.run("ResourceManager", op, "nosuch").returncode == 0
    assert tree.calls() == [] and tree.log() == []


def test_givegroup_stops_every_member_in_reverse_running_or_not(tree):
    tree.set_running("Rec", "b")
    done = tree.run("ResourceManager", "givegroup", "Rec::b")
    assert done.returncode == 0
    assert tree.calls() == ["Lsb stop", "Rec c x y stop", "Rec b stop"]
    rd, init = f"{tree.ha_dir}/resource.d", tree.root / "init.d"
    assert tree.log() == [
        ("ResourceManager", "info: Releasing resource group: node2 Rec::b Rec::c::x::y Lsb"),
        ("ResourceManager", f"info: Running {init}/Lsb  stop"),
        ("ResourceManager", f"info: Running {rd}/Rec c x y stop"),
        ("ResourceManager", f"info: Running {rd}/Rec b stop"),
    ]
    assert not tree.running("Rec", "b")


def test_failed_start_gives_up_the_whole_group_and_schedules_standby_foreign(tree):
    standby = []
    tree.fail("Rec", "start", "c", rc=5)
    tree.set_running("Rec", "b")
    rc = rm_in_process(tree, spawn_standby=standby.append).takegroup("Rec::b")
    assert rc == 0                           # the release's status, as in the original
    assert standby == ["foreign"]
    rd, init = f"{tree.ha_dir}/resource.d", tree.root / "init.d"
    assert tree.log() == [
        ("ResourceManager", "info: Acquiring resource group: node2 Rec::b Rec::c::x::y Lsb"),
        ("ResourceManager", f"info: Running {rd}/Rec c x y start"),
        ("ResourceManager", f"ERROR: Return code 5 from {rd}/Rec"),
        ("ResourceManager", "CRIT: Giving up resources due to failure of Rec::c::x::y"),
        ("ResourceManager", "info: Releasing resource group: node2 Rec::b Rec::c::x::y Lsb"),
        ("ResourceManager", f"info: Running {init}/Lsb  stop"),
        ("ResourceManager", f"info: Running {rd}/Rec c x y stop"),
        ("ResourceManager", f"info: Running {rd}/Rec b stop"),
    ]
    # Lsb, after the failure, was never started but is stopped
    assert tree.calls() == ["Rec b status", "Rec c x y status", "Rec c x y start",
                            "Lsb stop", "Rec c x y stop", "Rec b stop"]
    assert not tree.running("Rec", "b")


def test_failed_start_of_a_missing_script(tree):
    tree.write_haresources("node1 Rec::a Missing::x\n")
    standby = []
    rm_in_process(tree, spawn_standby=standby.append, sleep=lambda s: None).takegroup("Rec::a")
    lines = [msg for _, msg in tree.log()]
    # status 1, start 2, then stop 2 a time, retried 10 times, and the status after that
    assert lines.count("ERROR: Cannot locate resource script Missing") == 1 + 2 + 11 * 2 + 1
    assert "CRIT: Giving up resources due to failure of Missing::x" in lines
    assert standby == ["foreign"] and not tree.running("Rec", "a")


def test_the_delayed_standby_runs_hb_standby_foreign(tree, monkeypatch):
    monkeypatch.setattr(resourcemanager, "STANDBY_DELAY", 0)
    child = rm_in_process(tree)._background_standby("foreign")
    try:
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert tree.messages() == [[("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")]]
    assert tree.log() == [("hb_standby", "Going standby [foreign].")]


def test_failed_stop_is_retried_every_second_up_to_the_limit(tree):
    sleeps = []
    tree.fail("Rec", "stop", "d")
    rc = rm_in_process(tree, sleep=sleeps.append).givegroup("Rec::d")
    assert rc == 0 and sleeps == [1] * 10
    msgs = [msg for _, msg in tree.log()]
    assert msgs.count("info: Retrying failed stop operation [Rec::d]") == 10
    assert msgs.count(f"info: Running {tree.ha_dir}/resource.d/Rec d stop") == 11
    assert msgs[-3:] == ["ERROR: Resource script for Rec::d probably not LSB-compliant.",
                         "WARN: it (Rec::d) MUST succeed on a stop when already stopped",
                         "WARN: Machine reboot narrowly avoided!"]
    assert tree.calls()[-1] == "Rec d status"


@pytest.mark.parametrize("limit, attempts", [("2", 3), ("", 1), ("x", 1)])
def test_stop_retry_limit_from_the_environment(tree, limit, attempts):
    tree.env["HA_STOPRETRYMAX"] = limit
    tree.fail("Rec", "stop", "d")
    rm_in_process(tree, sleep=lambda s: None).givegroup("Rec::d")
    assert tree.calls().count("Rec d stop") == attempts


def test_unlimited_retries_until_the_stop_succeeds(tree):
    tree.env["HA_STOPRETRYMAX"] = "0"
    tree.fail("Rec", "stop", "d")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 15:
            (tree.state / "fail-Rec_d-stop").unlink()

    assert rm_in_process(tree, sleep=sleep).givegroup("Rec::d") == 0
    assert tree.calls().count("Rec d stop") == 16
    assert not any("LSB" in msg for _, msg in tree.log())


def test_stop_failure_of_a_running_resource_kills_heartbeat_and_reboots(tree):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        (tree.root / "run").mkdir()
        (tree.root / "run" / "heartbeat.pid").write_text(f"{victim.pid:10d}\n")
        tree.set_running("Rec", "d")
        tree.fail("Rec", "stop", "d", rc=4)
        rc = rm_in_process(tree, sleep=lambda s: None).givegroup("Rec::d")
        assert victim.wait(timeout=10) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert rc == 4
    msgs = [msg for _, msg in tree.log()]
    assert msgs[-2:] == ["CRIT: Resource STOP failure. Reboot required!", "CRIT: Killing heartbeat ungracefully!"]
    assert tree.calls()[-1] == "reboot"


def test_unable_to_reboot_is_logged(tree):
    tree.env["PYHB_REBOOT"] = "/bin/false"
    tree.set_running("Rec", "d")
    tree.fail("Rec", "stop", "d")
    tree.env["HA_STOPRETRYMAX"] = "1"
    rm_in_process(tree, sleep=lambda s: None).givegroup("Rec::d")
    assert tree.log()[-1] == ("ResourceManager", "CRIT: Unable to force reboot.")


# --- statgroup / verifyallidle ---------------------------------------------------------------

@pytest.mark.parametrize("running, result", [
    ([], "NONE"), (["b"], "SOME"), (["c"], "SOME"), (["b", "c", "Lsb"], "ALL"), (["Lsb"], "SOME"),
])
def test_statgroup_writes_to_the_debug_log(tree, running, result):
    for arg in running:
        tree.set_running("Lsb") if arg == "Lsb" else tree.set_running("Rec", arg)
    done = tree.run("ResourceManager", "statgroup", "Rec::b")
    assert (done.returncode, done.stdout) == (0, "")
    assert tree.debuglog.read_text().splitlines()[-1] == result


def test_statgroup_of_an_unknown_key_is_none(tree):
    tree.run("ResourceManager", "statgroup", "nosuch")
    assert tree.debuglog.read_text() == "NONE\n"


def test_verifyallidle_counts_active_keys(tree):
    tree.set_running("IPaddr", "10.0.0.1")
    tree.set_running("Rec", "d")
    tree.set_running("Rec", "c")            # not a key: not checked
    done = tree.run("ResourceManager", "verifyallidle")
    prog = tree.noarchbin / "ResourceManager"
    assert done.returncode == 2
    assert tree.calls() == ["IPaddr 10.0.0.1 status", "Rec b status", "Rec d status"]
    block = ["CRITICAL: Resource {} is active, and should not be!",
             "CRITICAL: Non-idle resources can affect data integrity!",
             "info: If you don't know what this means, then get help!"]
    expected_log = []
    expected_err = ""
    for key in ("10.0.0.1", "Rec::d"):
        expected_log += [b.format(key) for b in block]
        expected_log.append(f"info: Read the docs and/or source to {prog} for more details.")
        expected_err += "".join(b.format(key) + "\n" for b in block)
        expected_err += f"info: Read the docs and/or the source to {prog} for more details.\n"
    expected_log += ["CRITICAL: Non-idle resources will affect resource takeback!",
                     "CRITICAL: Non-idle resources may affect data integrity!"]
    assert [msg for _, msg in tree.log()] == expected_log
    assert done.stderr == expected_err


def test_verifyallidle_when_idle(tree):
    done = tree.run("ResourceManager", "verifyallidle")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert tree.log() == []


# --- the haresources file ----------------------------------------------------------------------

def test_a_bad_haresources_is_logged_and_nothing_runs(tree):
    tree.write_haresources("node1 Rec::a\nnode2 Rec::a\n")          # duplicate key
    done = tree.run("ResourceManager", "takegroup", "Rec::a")
    assert done.returncode == 0 and tree.calls() == []
    assert tree.log() and all(msg.startswith("ERROR: ") for _, msg in tree.log())


def test_a_missing_haresources_means_no_groups(tree):
    os.unlink(tree.ha_dir / "haresources")
    done = tree.run("ResourceManager", "allkeys")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_exit_status_of_a_script_killed_by_a_signal(tree):
    (tree.ha_dir / "resource.d" / "Rec").write_text("#!/bin/sh\nkill -9 $$\n")
    rm_in_process(tree, spawn_standby=lambda kind: None, sleep=lambda s: None).takegroup("Rec::d")
    assert ("ResourceManager", f"ERROR: Return code 137 from {tree.ha_dir}/resource.d/Rec") in tree.log()


def test_an_unwritable_debug_log_is_an_error_and_nothing_runs(tree):
    missing = tree.root / "nodir" / "ha-debug"
    done = tree.run("ResourceManager", "takegroup", "Rec::d", HA_DEBUGLOG=str(missing))
    assert done.returncode == 2
    prog = tree.noarchbin / "ResourceManager"
    assert done.stderr == f"{prog}: cannot open the debug log {missing}: No such file or directory\n"
    assert tree.calls() == [] and tree.log() == []


# --- hostile names (issue 8 row 1) -----------------------------------------------------------

HOSTILE_NAMES = ["../Rec", "..", ".", "/bin/sh", "sub/Rec", "-Rec", "Rec;id", "Rec|id", "Rec$x", "Rec`id`",
                 "Rec>x", "Rec*", "Rec?", "Rec[a]", "'Rec'", ".Rec", "Rec(x)", "Rec&"]


@pytest.mark.parametrize("command, script", [("status", name) for name in HOSTILE_NAMES]
                         + [(command, "../sub/Rec") for command in ("takegroup", "givegroup", "statgroup")])
def test_a_resource_name_that_is_not_a_plain_file_name_is_refused_and_logged(tree, command, script):
    # a script the lookup would run if it followed the path
    (tree.ha_dir / "resource.d" / "sub").mkdir()
    tree.resource("sub/Rec")
    token = f"{script}::b"
    done = tree.run("ResourceManager", command, token)
    assert tree.calls() == []
    assert done.returncode == (3 if command == "status" else 1)
    assert tree.log() == [("ResourceManager", f"ERROR: resource [{token}]: script name [{script}] "
                           "is not a plain file name")]


@pytest.mark.parametrize("token, shown", [("Rec\x00::b", "Rec\\x00::b"), ("Rec::b\x00", "Rec::b\\x00"),
                                          ("Rec::b\nx", "Rec::b\\nx"), ("Rec::b c", "Rec::b c"), ("", ""),
                                          ("Rec::\x01", "Rec::\\x01"), ("Re c::b", "Re c::b")])
def test_a_resource_token_with_control_characters_or_blanks_is_refused(tree, token, shown):
    rm = rm_in_process(tree)
    assert rm.is_running(token) is False
    assert rm.doscript(token, "start") == 1
    assert tree.calls() == []
    problem = ("ResourceManager", f"ERROR: resource [{shown}] is empty or holds blanks or control characters")
    assert tree.log() == [problem, problem]


def test_a_blank_in_a_key_from_the_command_line_is_refused(tree):
    tree.set_running("Rec", "b")
    assert tree.run("ResourceManager", "givegroup", "node2 Rec::b").returncode == 1
    assert tree.calls() == []


def test_plain_names_still_resolve(tree):
    for name in ("Rec", "nfs-kernel-server", "postgresql@13-main", "a.b_c+d,e"):
        tree.resource(name, directory="init")
        rm = rm_in_process(tree)
        assert rm.scriptpath(f"{name}::x") is not None


def test_a_takeover_waits_for_a_release_of_the_same_group(tree):
    """A dead node's takeover no longer waits behind other jobs (issue 8 row 2), so a
    release of its group may still be running: the takegroup waits for that release
    instead of seeing the group half-stopped as running and starting nothing."""
    slow = tree.ha_dir / "resource.d" / "Slow"
    slow.write_text('#!/bin/sh\n[ "$2" = stop ] && echo "Slow $*" >>"$TEST_CALLS" && sleep 1\n'
                    f'exec {tree.ha_dir}/resource.d/Rec "$@"\n')
    slow.chmod(0o755)
    tree.write_haresources("node2 Slow::b\n")
    tree.set_running("Rec", "b")
    release = subprocess.Popen([str(tree.noarchbin / "ResourceManager"), "givegroup", "Slow::b"],
                               env=tree.env, stdin=subprocess.DEVNULL)
    try:
        for _ in range(300):                   # bounded: at most 30 s
            if "Slow b stop" in tree.calls():
                break
            time.sleep(0.1)
        assert tree.run("ResourceManager", "takegroup", "Slow::b").returncode == 0
        assert release.wait(timeout=60) == 0
    finally:
        if release.poll() is None:
            release.kill()
            release.wait()
    assert tree.calls() == ["Slow b stop", "Rec b stop", "Rec b status", "Rec b start"]
    assert tree.running("Rec", "b")
