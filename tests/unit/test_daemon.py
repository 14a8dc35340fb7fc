"""The daemon shell: options and exit codes, pid-file commands, the script environment,
the API view, the job runner, packet drops, and two cores talking over an in-memory medium."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
import resource
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat import VERSION_STRING
from heartbeat.daemon import statefiles
from heartbeat.core.auth import Authenticator, compute
from heartbeat.config.authkeys import parse_authkeys
from heartbeat.core.codec import decode, encode
from heartbeat.config.configcheck import load_config
from heartbeat.daemon.command import EXIT_STALE, EXIT_STOPPED, Paths, kill, status
from heartbeat.core.joint import Core, CoreView, Hooks
from heartbeat.daemon.main import (EXIT_NOT_CONFIGURED, ClientChildren, EXIT_OK, EXIT_USAGE, JobRunner,
                              Options, Shell, UsageError, main, parse_options, raise_descriptor_limit,
                              script_environment, _restart_exec, _restart_in_place_exec, _secure_files)
from heartbeat.core.failover import Command, Failover, Job, JobLog, JobSend, Log, Run, Send, ShutdownReady
from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.core.message import Message

HA_CF = """logfile {log}
logfacility none
keepalive 1
deadtime 5
warntime 3
initdead 10
bcast eth0
env DEMO=yes
node node1
node node2
"""


class RecordingLog(DaemonLog):
    def __init__(self) -> None:
        super().__init__(LogSettings(host="node1", stderr=False, debug_level=1))
        self.lines: list[tuple[str, str]] = []

    def log(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    def texts(self, level: str | None = None) -> list[str]:
        return [t for lv, t in self.lines if level in (None, lv)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000 + self.now


def write_tree(root, auth="1 md5 secret", resources="") -> str:
    ha_dir = root / "ha.d"
    ha_dir.mkdir()
    (ha_dir / "ha.cf").write_text(HA_CF.format(log=root / "ha-log"))
    (ha_dir / "authkeys").write_text(f"auth 1\n{auth}\n")
    os.chmod(ha_dir / "authkeys", 0o600)
    (ha_dir / "haresources").write_text(resources)
    return str(ha_dir)


def config_for(ha_dir, node):
    return load_config(ha_dir, node_name=node, iface_exists=lambda name: True)


# -- options ------------------------------------------------------------------
def test_options_count_debug_and_pick_commands():
    o = parse_options(["-d", "-d", "-f", "-M"])
    assert (o.debug, o.foreground, o.manage_resources, o.kill, o.status) == (2, True, False, False, False)
    assert parse_options(["-k"]).kill and parse_options(["-s"]).status and parse_options(["-r"]).reload
    assert parse_options(["-c", "/tmp/x"]).args == ("/tmp/x",)
    o = parse_options(["-R", "-C", "all", "-C", "local"])
    assert (o.restarting, o.held) == (True, "local")
    assert (parse_options(["-R"]).held, parse_options([]).restarting) == (None, False)


@pytest.mark.parametrize("argv", [["-x"], ["-C", "all"], ["-r", "-R"], ["-v"]])
def test_bad_options_are_usage_errors(argv):
    with pytest.raises(UsageError):
        parse_options(argv)


USAGE = ("\nUsage: heartbeat [-dDkMrRsvWlVf] [-C Current-resource-state]\n"
         "\t-C only valid with -R\n\t-r is mutually exclusive with -R\n")


@pytest.mark.parametrize("argv, complaint", [
    (["-x"], "/usr/libexec/heartbeat/heartbeat: invalid option -- 'x'\n"),
    (["-C"], "/usr/libexec/heartbeat/heartbeat: option requires an argument -- 'C'\n"),
    (["-C", "all"], ""),
])
def test_bad_options_print_what_the_original_prints_and_exit_2(argv, complaint, capsys):
    assert main(["/usr/libexec/heartbeat/heartbeat", *argv]) == EXIT_USAGE
    assert capsys.readouterr().err == complaint + USAGE


def test_version(capsys):
    assert main(["heartbeat", "-V"]) == EXIT_OK
    assert capsys.readouterr().out == VERSION_STRING + "\n"


def test_defaults_table(capsys):
    assert main(["heartbeat", "-D"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["Directive                Default   Description", "-" * 80,
                         "cluster                  linux-ha  the name of cluster"]
    assert lines[-1] == "memreserve               6500      number of kbytes to preallocate in heartbeat"
    assert len(lines) == 26
    assert main(["heartbeat", "-D", "-W"]) == EXIT_OK
    wiki = capsys.readouterr().out.splitlines()
    assert wiki[2] == "This was produced by {{{heartbeat -DW}}} ''# (version 3.0.6)''"
    assert wiki[7] == "||[wiki:ha.cf/KeepaliveDirective keepalive]||1000ms||keepalive time||"
    assert wiki[-4] == ("||[wiki:ha.cf/RecordConfigChangesDirective record_config_changes]||on||"
                        "record changes to the cib (valid only with: pacemaker on)||")


def test_check_lists_every_error_and_exits_non_zero(tmp_path, capsys):
    ha_dir = write_tree(tmp_path, auth="1 md5")          # md5 without a key
    (tmp_path / "ha.d" / "ha.cf").write_text("keepalive soon\nnode node1\n")
    assert main(["heartbeat", "-c", ha_dir]) == EXIT_NOT_CONFIGURED
    err = capsys.readouterr().err
    assert f"{ha_dir}/ha.cf:1:" in err and f"{ha_dir}/authkeys:2:" in err


# -- pid-file commands ---------------------------------------------------------
def paths_in(tmp_path, ha_dir="/nonexistent") -> Paths:
    return Paths(ha_dir=ha_dir, pidfile=str(tmp_path / "heartbeat.pid"), state_dir=str(tmp_path),
                 run_dir=str(tmp_path / "run"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_status_without_pid_file_is_3(tmp_path, capsys):
    assert main(["heartbeat", "-s", "stray operand"], paths=paths_in(tmp_path)) == EXIT_STOPPED
    assert capsys.readouterr().out == "heartbeat is stopped. No process\n"


def test_status_with_stale_pid_file_is_1(tmp_path, capsys):
    paths = paths_in(tmp_path)
    statefiles.write_pid(dead_pid(), paths.pidfile)
    assert status("hb", paths) == EXIT_STALE
    assert capsys.readouterr().out == "hb is stopped. No process\n"


def test_status_running(tmp_path, tree, capsys):
    paths = paths_in(tmp_path, tree)
    (tmp_path / "ha.d" / "nodeinfo").write_text("Node1\n")
    statefiles.write_pid(os.getpid(), paths.pidfile)
    assert status("heartbeat", paths) == EXIT_OK
    host = os.uname().nodename.lower()
    assert capsys.readouterr().out == f"heartbeat OK [pid {os.getpid()} et al] is running on {host} [node1]...\n"


def test_kill_not_running(tmp_path, capsys):
    assert kill(paths_in(tmp_path)) == EXIT_OK
    assert capsys.readouterr().err == "INFO: Heartbeat already stopped.\n"


def test_kill_terminates_and_waits(tmp_path):
    paths = paths_in(tmp_path)
    child = subprocess.Popen(["sleep", "30"])
    statefiles.write_pid(child.pid, paths.pidfile)
    waits = []

    def sleep(seconds):            # the child stays a zombie until reaped
        waits.append(seconds)
        child.wait(5)

    assert kill(paths, sleep=sleep) == EXIT_OK
    assert child.returncode == -15 and waits == [1.0]


def test_reload_signals_a_running_daemon_after_validating(tmp_path, tree, capsys):
    paths = paths_in(tmp_path, tree)
    (tmp_path / "ha.d" / "nodeinfo").write_text("node1\n")
    cf = tmp_path / "ha.d" / "ha.cf"
    cf.write_text(cf.read_text().replace("bcast eth0", "bcast lo"))   # an interface every host has
    # a runner started under nohup hands SIG_IGN for SIGHUP down to its children: give the stand-in
    # daemon the default action, so that the signal is what ends it
    child = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        statefiles.write_pid(child.pid, paths.pidfile)
        assert main(["heartbeat", "-r"], paths=paths) == EXIT_OK
        assert child.wait(30) == -signal.SIGHUP
        signalling = f"info: Signalling heartbeat pid {child.pid} to reread config files"
        assert signalling in capsys.readouterr().err
        assert signalling in (tmp_path / "ha-log").read_text()       # 3.0.6 logs it there too
    finally:
        child.kill()
        child.wait(5)


def test_a_crc_key_is_warned_about_when_the_configuration_is_loaded(tmp_path, capsys):
    """Issue 8 row 11: start and reload log the configuration's warnings (one path)."""
    paths = paths_in(tmp_path, write_tree(tmp_path, auth="1 crc"))
    (tmp_path / "ha.d" / "nodeinfo").write_text("node1\n")
    cf = tmp_path / "ha.d" / "ha.cf"
    cf.write_text(cf.read_text().replace("bcast eth0", "bcast lo"))
    child = subprocess.Popen(["sleep", "30"])
    try:
        statefiles.write_pid(child.pid, paths.pidfile)
        assert main(["heartbeat", "-r"], paths=paths) == EXIT_OK
        assert "WARN: key 1 is crc, which authenticates nothing" in (tmp_path / "ha-log").read_text()
    finally:
        child.kill()
        child.wait(5)


def test_reload_refuses_a_broken_configuration(tmp_path, tree, capsys):
    paths = paths_in(tmp_path, tree)
    (tmp_path / "ha.d" / "ha.cf").write_text("node node1\nkeepalive never\n")
    child = subprocess.Popen(["sleep", "30"])
    try:
        statefiles.write_pid(child.pid, paths.pidfile)
        assert main(["heartbeat", "-r"], paths=paths) == EXIT_NOT_CONFIGURED
        assert child.poll() is None
        err = capsys.readouterr().err
        assert f"{tree}/ha.cf:2:" in err and f"info: Config errors: Heartbeat pid {child.pid} NOT restarted" in err
    finally:
        child.kill()
        child.wait(5)


def test_start_when_already_running(tmp_path, capsys):
    paths = paths_in(tmp_path)
    statefiles.write_pid(os.getppid(), paths.pidfile)
    assert main(["heartbeat", "-f"], paths=paths) == EXIT_OK
    assert f"info: heartbeat: already running [pid {os.getppid()}]." in capsys.readouterr().err


def test_start_sets_the_daemons_umask_whatever_it_was_started_with(tmp_path, capsys):
    """Issue 8 row 13: under umask 000 the run directory came out 0777 and the log 0666."""
    old = os.umask(0)
    try:
        assert main(["heartbeat", "-f"], paths=paths_in(tmp_path)) == EXIT_NOT_CONFIGURED
        assert os.umask(0) == 0o022
    finally:
        os.umask(old)


def test_start_raises_the_descriptor_limit_to_the_hard_one():
    """Issue 8 row 7: descriptors in reserve for the daemon's own work."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        assert raise_descriptor_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_start_takes_write_access_off_what_others_could_change(tmp_path):
    ha_dir = write_tree(tmp_path)
    paths = paths_in(tmp_path, ha_dir)._replace(state_dir=str(tmp_path / "lib"),
                                             run_dir=str(tmp_path / "run"))
    config = config_for(ha_dir, "node1")
    for d in (paths.state_dir, paths.run_dir):
        os.mkdir(d)
        os.chmod(d, 0o777)
    generation = tmp_path / "lib" / "hb_generation"
    generation.write_text("              1\n")
    generation.chmod(0o666)
    log_file = tmp_path / "ha-log"
    log_file.write_text("")
    log_file.chmod(0o666)
    logged = []
    _secure_files(paths, config.hacf, lambda line: logged.append(line))
    assert [oct(os.stat(p).st_mode & 0o777) for p in (paths.state_dir, paths.run_dir, generation, log_file)] \
        == ["0o755", "0o755", "0o644", "0o644"]
    assert len(logged) == 4 and all("writable by others" in line for line in logged)


@pytest.mark.parametrize("pid, rc, complaint", [
    (None, EXIT_NOT_CONFIGURED, "ERROR: heartbeat is not running.\n"),
    (os.getppid(), 1, f"ERROR: Heartbeat already running [pid {os.getppid()}].\n"),
])
def test_restarted_start_refuses_unless_the_pid_file_names_us(tmp_path, tree, capsys, pid, rc, complaint):
    paths = paths_in(tmp_path, tree)
    (tmp_path / "ha.d" / "nodeinfo").write_text("node1\n")
    if pid is not None:
        statefiles.write_pid(pid, paths.pidfile)
    assert main(["heartbeat", "-R", "-C", "local"], paths=paths) == rc
    assert capsys.readouterr().err.endswith(complaint)


def test_restarted_start_with_config_errors_is_not_restarted(tmp_path, capsys):
    ha_dir = tmp_path / "empty"
    ha_dir.mkdir()
    paths = paths_in(tmp_path, str(ha_dir))
    statefiles.write_pid(os.getpid(), paths.pidfile)
    assert main(["heartbeat", "-R"], paths=paths) == 1
    assert "info: Config errors: Heartbeat NOT restarted" in capsys.readouterr().err


def test_start_with_config_errors_exits_6(tmp_path, capsys):
    ha_dir = tmp_path / "empty"
    ha_dir.mkdir()
    assert main(["heartbeat", "-f"], paths=paths_in(tmp_path, str(ha_dir))) == EXIT_NOT_CONFIGURED
    err = capsys.readouterr().err
    assert f"ERROR: {ha_dir}/ha.cf" in err and "ERROR: Configuration error, heartbeat not started." in err


def test_errors_beside_a_sound_ha_cf_go_to_its_log_file_too(tmp_path, tree, capsys):
    os.unlink(os.path.join(tree, "haresources"))
    assert main(["heartbeat", "-f"], paths=paths_in(tmp_path, tree)) == EXIT_NOT_CONFIGURED
    logged = (tmp_path / "ha-log").read_text()
    assert f"ERROR: {tree}/haresources: Cannot open resources file [{tree}/haresources]" in logged
    assert logged.endswith("ERROR: Configuration error, heartbeat not started.\n")


# -- environment, view ------------------------------------------------------------
def test_script_environment(tree):
    env = script_environment(config_for(tree, "node1"), 2, base={"PATH": "/bin", "HA_debug": "9"})
    # 2.1.4's by default: its directory without 3.0.6's trailing slash, its script log lines
    assert env["HA_DIR"] == tree and env["HA_FUNCS"] == tree + "/shellfuncs" and env["PYHB_LOGSTYLE"] == "2.1.4"
    with open(os.path.join(tree, "pyheartbeat.cf"), "w") as f:
        f.write("log_style 3.0.6\n")
    env = script_environment(config_for(tree, "node1"), 2, base={"PATH": "/bin", "HA_debug": "9"})
    assert env["HA_DIR"] == tree + "/" and env["HA_FUNCS"] == tree + "//shellfuncs" and "PYHB_LOGSTYLE" not in env
    assert env["HA_CURHOST"] == "node1" and env["HA_DEMO"] == "yes" and env["HA_debug"] == "2"
    assert env["HA_LOGFACILITY"] == "none" and env["HA_DEBUGLOG"] == "" and env["PATH"] == "/bin"
    assert env["HA_DATEFMT"] == "%Y/%m/%d_%T\t" and env["OCF_ROOT"] == "/usr/lib/ocf"
    assert "HA_debug" not in script_environment(config_for(tree, "node1"), 0, base={"HA_debug": "1"})


class Wire:
    """An in-memory broadcast segment named eth0: every packet reaches every core, sender included."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, bytes]] = []
        self.cores: dict[str, Core] = {}
        self.cut: set[str] = set()      # nodes whose packets are lost
        self.partitioned = False        # every packet reaches its sender only

    def hooks(self, node: str, **kw) -> Hooks:
        return Hooks(transmit=lambda packet, msg: self.queue.append((node, packet)), **kw)

    def queue_messages(self) -> list[Message]:
        return [decode(packet, next(iter(self.cores.values())).auth) for _, packet in self.queue]

    def pump(self) -> None:
        for _ in range(10000):
            if not self.queue:
                return
            sender, packet = self.queue.pop(0)
            if sender in self.cut:
                continue
            for name, core in self.cores.items():
                if name not in self.cut and (name == sender or not self.partitioned):
                    core.packet("eth0", packet)
        raise AssertionError("messages never stop")


def make_core(tree, node, wire, clock, log=None, engine=None, **hooks) -> Core:
    core = Core(config_for(tree, node), log or RecordingLog(), wire.hooks(node, **hooks),
                uuid=bytes([len(wire.cores) + 1]) * 16, generation=7, clock=clock, engine=engine, pid=1000,
                loadavg=lambda: "0.00 0.00 0.00 1/1 1")
    wire.cores[node] = core
    return core


def run_until(wire, clock, predicate, limit_s=60.0, step=0.05) -> float:
    """Advance the fake clock, ticking cores at their deadlines; seconds until predicate()."""
    start = clock.now
    for _ in range(int(limit_s / step) + 1):
        wire.pump()
        if predicate():
            return clock.now - start
        clock.now += step
        for name, core in wire.cores.items():
            if name not in wire.cut and core.next_deadline() <= clock.now:
                core.tick()
    raise AssertionError("condition never reached")


def test_two_cores_come_up_active_and_detect_death(tree):
    wire, clock = Wire(), FakeClock()
    log1, log2 = RecordingLog(), RecordingLog()
    one = make_core(tree, "node1", wire, clock, log1)
    two = make_core(tree, "node2", wire, clock, log2)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active"
              and two.membership.node_status("node1") == "active", limit_s=5)
    assert "Status update for node node2: status active" in log1.texts("info")
    assert "Local status now set to: 'active'" in log2.texts("info")
    assert "Link node1:eth0 up." in log1.texts("info")

    view = CoreView(one)
    assert view.node_names() == ["node1", "node2"] and view.node_status("node2") == "active"
    assert view.link_names("node2") == ["eth0"] and view.link_status("node2", "eth0") == "up"
    assert view.node_uuid("node2") == bytes([2]) * 16 and view.node_name_by_uuid(bytes([2]) * 16) == "node2"
    assert view.node_status("node3") is None and view.link_status("node2", "eth9") is None
    assert view.parameter("keepalive") == "1" and view.parameter("hbversion") == VERSION_STRING
    assert view.holding() is None

    # while starting, a node advertises 2 s more deadtime (for 5 s): cut it after that
    start = clock.now
    run_until(wire, clock, lambda: clock.now - start >= 6)
    wire.cut.add("node2")
    took = run_until(wire, clock, lambda: one.membership.node_status("node2") == "dead", limit_s=10)
    assert 4.0 <= took <= 5.1         # deadtime after the last heartbeat, sent up to a keepalive before
    assert "node node2: is dead" in log1.texts("WARN")


def test_a_healed_partition_restarts_the_node(tree):
    wire, clock = Wire(), FakeClock()
    log1 = RecordingLog()
    one = make_core(tree, "node1", wire, clock, log1)
    two = make_core(tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active", limit_s=5)
    wire.partitioned = True
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "dead", limit_s=10)
    assert not one.restart
    wire.partitioned = False
    run_until(wire, clock, lambda: one.stopped, limit_s=5)
    assert one.restart and "Cluster node node2 returning after partition." in log1.texts("CRIT")


def test_garbage_and_bad_signatures_are_dropped_and_logged(tree):
    wire, clock = Wire(), FakeClock()
    log = RecordingLog()
    core = make_core(tree, "node1", wire, clock, log)
    core.start()
    wire.pump()
    before = core.membership.node_status("node2")
    core.packet("eth0", b"\x00\xffnot a heartbeat packet")
    assert any("dropped a packet from eth0" in t for t in log.texts("debug"))
    forged = Message.of(t="status", st="active", src="node2", seq="1", hg="1", ts="5")
    wrong_key = Authenticator(parse_authkeys("auth 1\n1 md5 other\n", "authkeys", 0o600))
    core.packet("eth0", encode(forged, wrong_key))
    assert any(t.startswith("authtoken does not match") for t in log.texts("ERROR"))
    assert core.membership.node_status("node2") == before == "init"


def test_shutdown_without_engine_says_goodbye_and_finishes_at_once(tree):
    wire, clock, done = Wire(), FakeClock(), []
    core = make_core(tree, "node1", wire, clock, shutdown_ready=lambda: done.append(1))
    peer_log = RecordingLog()
    peer = make_core(tree, "node2", wire, clock, peer_log)
    core.start()
    peer.start()
    run_until(wire, clock, lambda: peer.membership.node_status("node1") == "active", limit_s=5)
    core.shutdown()
    core.shutdown()
    assert done == [1] and core.stopped
    sent = [m for m in wire.queue_messages() if m.type == "shutdone"]
    assert [(m.get("src"), m.get("st")) for m in sent] == [("node1", "dead")]


class FakeEngine:
    """Records the events the core hands over; answers with scripted actions."""
    holding = "local"

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.deadline: float | None = None

    def comm_up(self, now, statuses):
        self.calls.append(("comm_up", dict(statuses)))
        return [Log("info", "engine saw comm up"), Run(Job(1, "first", {}, ()))]

    def node_status(self, now, node, status, msg):
        self.calls.append(("node_status", node, status, None if msg is None else msg.get("st")))
        return []

    def link_status(self, now, node, link, status):
        self.calls.append(("link_status", node, link, status))
        return []

    def receive(self, now, msg):
        self.calls.append(("receive", msg.get("t"), msg.get("src")))
        return []

    def shutdown(self, now):
        return [Send(Message.of(t="shutdone")), ShutdownReady()]

    def tick(self, now):
        self.calls.append(("tick",))
        return []

    def next_deadline(self):
        return self.deadline


def test_engine_gets_membership_events_and_its_actions_are_carried_out(tree):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    engine, jobs, done = FakeEngine(), [], []
    one = make_core(tree, "node1", wire, clock, log, engine=engine,
                    start_job=jobs.append, shutdown_ready=lambda: done.append(1))
    two = make_core(tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active", limit_s=5)
    # node2 is still "up" when node1's node-list exchange completes
    assert ("comm_up", {"node1": "active", "node2": "up"}) in engine.calls
    assert ("info", "engine saw comm up") in log.lines and [j.name for j in jobs] == ["first"]
    assert ("link_status", "node2", "eth0", "up") in engine.calls
    assert ("node_status", "node2", "active", "active") in engine.calls
    assert not any(c[0] == "node_status" and c[1] == "node1" for c in engine.calls)
    assert CoreView(one).holding() == "local"

    engine.deadline = clock.now - 1
    assert one.next_deadline() == engine.deadline
    one.tick()
    assert ("tick",) in engine.calls

    one.shutdown()
    wire.pump()
    assert done == [1] and ("receive", "shutdone", "node1") in engine.calls


class EchoEngine(FakeEngine):
    """Answers each of our own "ping-test" messages with a "pong-test"."""

    def receive(self, now, msg):
        super().receive(now, msg)
        return [Send(Message.of(t="pong-test"))] if msg.get("t") == "ping-test" else []


def test_messages_the_engine_sends_while_a_batch_runs_go_out_after_it(tree):
    wire, clock = Wire(), FakeClock()
    one = make_core(tree, "node1", wire, clock, engine=EchoEngine())
    one.start()
    one.send(Message.of(t="ping-test"))
    sent = [(m.get("t"), int(m.get("seq"), 16)) for m in wire.queue_messages() if "seq" in m]
    assert [t for t, _ in sent][-2:] == ["ping-test", "pong-test"]
    assert [seq for _, seq in sent] == sorted(seq for _, seq in sent)


# -- hostile input costs no heartbeat (issue 8, rows 3 and 9) ----------------------------------
def joined_pair(tree, log1=None, engine=None):
    wire, clock = Wire(), FakeClock()
    one = make_core(tree, "node1", wire, clock, log1, engine=engine)
    two = make_core(tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active"
              and two.membership.node_status("node1") == "active", limit_s=5)
    return wire, clock, one, two


def heartbeats_from(wire, node: str, during_s: float, clock, until=None) -> int:
    """Run for `during_s` seconds; how many status messages `node` sent meanwhile."""
    sent = []
    core = wire.cores[node]
    transmit = core.hooks.transmit
    core.hooks.transmit = lambda packet, msg: (sent.append(msg.type), transmit(packet, msg))
    start = clock.now
    run_until(wire, clock, lambda: clock.now - start >= during_s, limit_s=during_s + 1)
    core.hooks.transmit = transmit
    return sent.count("status")


def test_a_status_with_a_300_digit_dt_costs_no_heartbeat(tree):
    # row 3: OverflowError in the timer code, no heartbeat for 8 s, the peer declared us dead
    log = RecordingLog()
    wire, clock, one, two = joined_pair(tree, log)
    forged = Message.of(t="status", st="active", dt="f" * 300, protocol="1", src="node2",
                        seq="ffff", hg="7", ts=format(int(clock.time()), "x"))
    one.packet("eth0", encode(forged, one.auth))
    assert heartbeats_from(wire, "node1", 8, clock) >= 7
    assert two.membership.node_status("node1") == "active"


class FaultyEngine(FakeEngine):
    """Meets a bug on every message, and on every deadline question once asked to."""
    broken_deadline = False

    def receive(self, now, msg):
        super().receive(now, msg)
        raise OverflowError("a bug")

    def next_deadline(self):
        if self.broken_deadline:
            raise OverflowError("another bug")
        return None


def test_a_bug_met_on_messages_is_logged_rate_limited_and_costs_no_timer(tree):
    log = RecordingLog()
    engine = FaultyEngine()
    wire, clock, one, two = joined_pair(tree, log, engine=engine)
    for i in range(100):
        one.send(Message.of(t="x-test", n=str(i)))
    failures = [t for t in log.texts("ERROR") if "OverflowError" in t]
    assert 1 <= len(failures) <= 10
    assert failures[0] == "Deliver: OverflowError: a bug"
    engine.broken_deadline = True
    assert one.next_deadline() == clock.now + 1          # a keepalive from now
    engine.broken_deadline = False
    assert heartbeats_from(wire, "node1", 70, clock) >= 60
    assert two.membership.node_status("node1") == "active"
    one.send(Message.of(t="x-test"))                      # a minute later: a report again, with the count
    assert any(t.endswith("more failures not logged") for t in log.texts("ERROR"))


def many_fields_with_a_wrong_trailer(count: int) -> bytes:
    from heartbeat.core.codec import render_netstring
    msg = Message.of(t="status", src="node2", seq="1", hg="7", ts="5")
    for _ in range(count - 5):
        msg.append("f", "x")
    token = b"1 " + b"0" * 32                # well formed, wrong digest
    return render_netstring(msg) + b"%d:%s," % (len(token), token)


def test_a_flood_of_bad_packets_is_logged_capped_and_rate_limited(tree):
    # row 9: a 56 KB datagram of 7,000 fields logged 7,004 lines
    log = RecordingLog()
    wire, clock, one, two = joined_pair(tree, log)
    packet = many_fields_with_a_wrong_trailer(7000)
    assert 50_000 < len(packet) < 65_000
    before = len(log.lines)
    one.packet("eth0", packet)
    assert len(log.lines) - before <= 25
    for _ in range(100):
        one.packet("eth0", packet)
    assert len(log.lines) - before <= 10 * 25
    clock.now += 61
    one.packet("eth0", packet)
    assert any(t.endswith("bad packets dropped without a word") for t in log.texts("WARN"))


RESTART_LINES = ["Heartbeat restart triggered.", "Restarting heartbeat.", "Performing heartbeat restart exec."]
HB = "/usr/libexec/heartbeat/heartbeat"


def test_restart_execs_the_same_command_in_the_foreground(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, args: calls.append((path, args)))
    log = RecordingLog()
    _restart_exec([HB, "-d", "-f", "-R", "-C", "all"], log, parse_options(["-d", "-f", "-R", "-C", "all"]), 5000,
                  sleep=calls.append)
    assert calls == [6, (HB, [HB, "-f", "-d"])]     # a fresh start: what the last one kept is gone
    assert log.texts("info") == RESTART_LINES


@pytest.mark.parametrize("held, tail", [("foreign", ["-R", "-C", "foreign"]), (None, ["-R"])])
def test_restart_in_place_execs_at_once_with_what_we_hold(monkeypatch, held, tail):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, args: calls.append((path, args)))
    log = RecordingLog()
    _restart_in_place_exec([HB, "-M"], log, parse_options(["-M"]), held)
    assert calls == [(HB, [HB, "-M", *tail])]
    assert log.texts("info") == RESTART_LINES


def engine_for(tree, node="node1") -> Failover:
    config = config_for(tree, node)
    return Failover(config.hacf, config.haresources, node, rcd_scripts=frozenset(), wall=time.time, pid=os.getpid())


def test_restart_in_place_gives_nothing_up_and_asks_peers_to_wait(held_tree):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    jobs = []
    one = make_core(held_tree, "node1", wire, clock, log, engine=engine_for(held_tree), start_job=jobs.append)
    two = make_core(held_tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.comm_is_up and two.membership.node_status("node1") == "active", limit_s=30)
    assert [j.name for j in jobs] == ["req_our_resources"]
    jobs.clear()
    deadtime = one.config.hacf.deadtime_ms
    assert one.restart_in_place() and (one.restart, one.keep_resources) == (True, True)
    one.stay_awaited()
    wire.pump()
    assert two.membership.node_deadtime_ms("node1") == deadtime + 30000
    assert not one.restart_in_place()                            # once only
    one.shutdown()                                               # nor a real shutdown after it
    wire.pump()
    assert jobs == [] and not any(m.type in ("shutdone", "resource") for m in wire.queue_messages())
    assert not any("shutdown in progress" in t for t in log.texts("info"))


def test_restart_in_place_before_comm_up_waits_for_it_then_tells_the_engine_nothing(held_tree):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    jobs = []
    one = make_core(held_tree, "node1", wire, clock, log, engine=engine_for(held_tree), start_job=jobs.append)
    one.start()
    assert not one.restart_in_place()
    assert log.texts("WARN")[-1] == "Shutdown delayed until Communication is up."
    run_until(wire, clock, lambda: one.comm_is_up, limit_s=30)
    assert jobs == []


def test_restarted_core_hands_the_engine_what_it_held(held_tree):
    wire, clock = Wire(), FakeClock()
    engine, log, jobs = engine_for(held_tree), RecordingLog(), []
    one = make_core(held_tree, "node1", wire, clock, log, engine=engine, start_job=jobs.append)
    one.start()
    one.restarted("none")
    assert log.texts("info")[-1] == "restart:  local resources already acquired."
    assert engine.held is None        # legacy (the default): holdings are not kept
    run_until(wire, clock, lambda: one.comm_is_up, limit_s=30)
    assert [j.name for j in jobs] == ["req_our_resources"]   # the dead peer's takeover; a fresh start asks twice


# -- job runner -------------------------------------------------------------------
def test_job_runner_runs_commands_logs_and_sends(tree, tmp_path):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    core = make_core(tree, "node1", wire, clock, log)
    core.start()
    wire.pump()
    finished = []
    core.job_done = lambda job_id, rc: finished.append((job_id, rc))
    out = tmp_path / "out"
    job = Job(4, "test", {"HA_t": "status"}, (
        Command(("sh", "-c", f'echo "$HA_CURHOST $HA_t $HA_DEMO" > {out}; exit 3')),
        JobLog("info", "between"),
        JobSend(Message.of(t="ping-test")),
        Command(("sh", "-c", "exit 5")),
        Command(("/nonexistent/program",)),
    ))
    runner = JobRunner(core, lambda: script_environment(core.config, 0))
    rc = asyncio.run(runner.run(job))
    assert rc == 127 and finished == [(4, 127)]
    assert out.read_text() == "node1 status yes\n"
    assert ("info", "between") in log.lines
    assert any(t.startswith("Cannot run /nonexistent/program") for t in log.texts("ERROR"))
    assert any(packet.find(b"t=ping-test") >= 0 for _, packet in wire.queue)


def test_job_without_commands_reports_0(tree):
    core = make_core(tree, "node1", Wire(), FakeClock())
    finished = []
    core.job_done = lambda job_id, rc: finished.append((job_id, rc))
    assert asyncio.run(JobRunner(core, dict).run(Job(1, "empty", {}, ()))) == 0
    assert finished == [(1, 0)]


# -- the shell on a loop, with a loopback medium ----------------------------------------
class LoopbackMedium:
    """Hands every packet straight back, as a broadcast socket does for the sender."""
    name = "eth0"
    is_ping = False

    def __init__(self, receive, auth) -> None:
        self.receive = receive
        self.auth = auth                 # what a ping or serial medium signs its own packets with
        self.sent: list[Message] = []
        self.closed = False

    def send(self, packet: bytes, msg: Message) -> None:
        self.sent.append(msg)
        asyncio.get_running_loop().call_soon(self.receive, self.name, packet)

    def close(self) -> None:
        self.closed = True


async def wait_until(predicate, what: str, timeout: float = 10.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lone_shell(tmp_path):
    """node1 alone without resources, on a loopback medium: (make the shell, its log, its paths)."""
    ha_dir = write_tree(tmp_path)
    cf = tmp_path / "ha.d" / "ha.cf"
    cf.write_text(cf.read_text().replace("node node2\n", f"apiauth anon uid={os.getuid()}\n"))
    paths = paths_in(tmp_path, ha_dir)
    config = config_for(ha_dir, "node1")
    log = RecordingLog()

    async def open_media(cfg, auth, log_, receive):
        return [LoopbackMedium(receive, auth)]

    def make() -> Shell:
        return Shell(config, log, Options(foreground=True, manage_resources=False), paths,
                     uuid=b"\x01" * 16, generation=3, open_media=open_media)
    return make, log, paths


async def started(shell: Shell, paths: Paths) -> asyncio.Task:
    run = asyncio.get_running_loop().create_task(shell.run())
    await wait_until(lambda: os.path.exists(paths.api_socket), "the API socket at comm-up")
    return run


def test_shell_sigterm_stops_it_for_good(tmp_path):
    make, log, paths = lone_shell(tmp_path)

    async def scenario():
        shell = make()
        run = await started(shell, paths)
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(run, 10)
        return shell

    assert not asyncio.run(scenario()).core.restart
    assert f"Heartbeat shutdown in progress. ({os.getpid()})" in log.texts("info")
    assert log.texts("info")[-1] == "node1 Heartbeat shutdown complete."


def test_shell_runs_fifo_api_signals_and_restarts_in_place(tmp_path):
    make, log, paths = lone_shell(tmp_path)
    cf = tmp_path / "ha.d" / "ha.cf"

    async def scenario():
        shell = make()
        run = await started(shell, paths)
        media = shell.media
        assert f"Creating FIFO {paths.fifo}." in log.texts("info")
        assert "Local status now set to: 'active'" in log.texts("info")

        env = {**os.environ, "HA_APISOCK": paths.api_socket}
        done = await asyncio.create_subprocess_exec(sys.executable, "-m", "heartbeat.tools.clstatus", "nodestatus",
                                                    "node1", env=env, stdout=asyncio.subprocess.PIPE)
        out, _ = await done.communicate()
        assert (done.returncode, out) == (0, b"active\n")

        with open(paths.fifo, "w") as fifo:
            fifo.write(">>>\nt=fifo-test\nnote=hello\n<<<\n")
        await wait_until(lambda: any(m.type == "fifo-test" for m in media[0].sent), "the FIFO message sent")
        sent = next(m for m in media[0].sent if m.type == "fifo-test")
        assert (sent.get("src"), sent.get("note")) == ("node1", "hello")

        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_until(lambda: f"debug now set to 1 [pid {os.getpid()}]" in log.texts("info"), "SIGUSR1")
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: "Configuration unchanged." in log.texts("info"), "SIGHUP")
        keys = tmp_path / "ha.d" / "authkeys"
        keys.write_text("auth 2\n2 sha1 newsecret\n")
        os.utime(keys, (1, 1))
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: "Rereading authentication file." in log.texts("info"), "SIGHUP, new authkeys")
        assert shell.core.auth.active == 2
        # the media opened at start-up sign with the new key too, so that their packets
        # (the ping node's echoes, serial frames) still pass the new check
        assert media[0].auth.active == 2
        assert shell.core.auth.verify(f"2 {compute('sha1', b'newsecret', b'x')}", b"x")
        assert media[0].auth.sign(b"x") == f"2 {compute('sha1', b'newsecret', b'x')}"
        os.rename(cf, f"{cf}.away")
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: f"Cannot stat {cf}: No such file or directory" in log.texts("ERROR"),
                         "SIGHUP without ha.cf")
        os.rename(f"{cf}.away", cf)
        os.utime(cf, (1, 1))
        os.kill(os.getpid(), signal.SIGHUP)          # a changed ha.cf: restart in place, no SIGTERM
        assert await asyncio.wait_for(run, 10)
        assert media[0].closed and not os.path.exists(paths.api_socket)
        return shell

    shell = asyncio.run(scenario())
    assert shell.core.keep_resources and log.texts("info").count("Configuration unchanged.") == 1
    assert any(m.type == "status" and m.get("dt") == f"{5000 + 30000:x}" for m in shell.media[0].sent)
    assert log.texts("info")[-1] == "node1 Heartbeat shutdown complete."


# -- authenticated nonsense never stops the daemon ----------------------------------------
FIELD_NAMES = ("t", "src", "seq", "hg", "ts", "st", "dest", "dt", "protocol", "info", "rsc_hold",
               "firstseq", "lastseq", "ackseq", "nodelist", "delnodelist", "rtype", "isstable", "node")
TYPES = ("status", "NS_st", "NS_rexmit", "NS_nak_rexmit", "NS_ackmsg", "reqnodes", "repnodes", "starting",
         "resource", "ask_resources", "shutdone", "ip-request", "ip-request-resp", "hb_takeover", "stonith")
VALUES = st.one_of(st.sampled_from(("node1", "node2", "node3", "active", "dead", "up", "init", "0", "1", "ff",
                                    "-1", "", " ", "all", "local", "foreign", "none", "me", "other", "done")),
                   # anything a string field can carry: no NUL, no lone surrogate
                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))


@st.composite
def cluster_messages(draw):
    fields = {"t": draw(st.sampled_from(TYPES)), "src": draw(st.sampled_from(("node1", "node2", "node3", "")))}
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES[2:]), max_size=8, unique=True)):
        fields[name] = draw(VALUES)
    return Message.of(**fields)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cluster_messages(), st.floats(0, 3)), max_size=12))
def test_signed_nonsense_never_raises_out_of_the_core(tree, script):
    wire, clock = Wire(), FakeClock()
    config = config_for(tree, "node1")
    engine = Failover(config.hacf, config.haresources, "node1", rcd_scripts=frozenset({"status"}), wall=clock.time,
                      pid=1000)
    one = make_core(tree, "node1", wire, clock, engine=engine)
    two = make_core(tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active", limit_s=5)
    for msg, pause in script:
        one.packet("eth0", encode(msg, one.auth))
        clock.now += pause
        one.tick()
        wire.pump()


# -- respawn clients ---------------------------------------------------------------------------
def respawn_config(tmp_path, script: str):
    ha_dir = write_tree(tmp_path)
    child = tmp_path / "child.sh"
    child.write_text(f"#!/bin/sh\n{script}\n")
    os.chmod(child, 0o755)
    user = pwd.getpwuid(os.getuid()).pw_name
    with open(os.path.join(ha_dir, "ha.cf"), "a") as cf:
        cf.write(f"respawn {user} {child} --flag\n")
    return config_for(ha_dir, "node1"), f"{child} --flag"


def run_clients(config, log, until, timeout=10.0):
    async def scenario():
        clients = ClientChildren(config.hacf.respawn, log, lambda: {"PATH": "/bin:/usr/bin"}, pause_s=0)
        clients.start_all()
        await wait_until(lambda: until(clients), "the children to get there", timeout)
        await clients.stop_all()
    asyncio.run(scenario())


def test_a_dying_client_is_respawned_until_it_dies_too_fast(tmp_path):
    config, command = respawn_config(tmp_path, "exit 3")
    log = RecordingLog()
    run_clients(config, log, lambda c: any("respawning too fast" in t for t in log.texts("ERROR")))
    errors = log.texts("ERROR")
    assert errors[:2] == [f"Client {command} exited with return code 3.", f'Respawning client "{command}":']
    assert errors.count(f'Respawning client "{command}":') == 10
    assert errors[-1] == f'Client {command} "respawning too fast"'
    starts = [t for t in log.texts("info") if t.startswith("Starting child client")]
    assert len(starts) == 11 and starts[0] == f'Starting child client "{command}" ({os.getuid()},{os.getgid()})'


def test_failfast_clients_are_respawned_with_a_warning(tmp_path):
    config, command = respawn_config(tmp_path, "exit 0")
    failfast = dataclasses.replace(config.hacf.respawn[0], failfast=True)
    log = RecordingLog()
    ClientChildren([failfast], log, dict)
    assert log.lines == [("WARN", f"failfast client {command} is respawned instead: "
                                  "pyheartbeat never reboots the node")]


def test_exit_100_is_not_respawned(tmp_path):
    config, command = respawn_config(tmp_path, 'echo "$PATH $1" > "$0.out"; exit 100')
    log = RecordingLog()
    run_clients(config, log, lambda c: c.children[0].proc is None and log.texts("ERROR"))
    assert log.texts("ERROR") == [f"Client {command} exited with return code 100."]
    assert (tmp_path / "child.sh.out").read_text() == "/bin:/usr/bin --flag\n"
    assert log.texts("info")[-1] == f"client [{command}] is not running."


def test_shutdown_terminates_running_clients_quietly(tmp_path):
    config, command = respawn_config(tmp_path, "exec sleep 30")
    log = RecordingLog()
    run_clients(config, log, lambda c: c.children[0].proc is not None)
    killing = [t for t in log.texts("info") if t.startswith("killing")]
    assert len(killing) == 1 and killing[0].startswith(f"killing {command} process group ")
    assert killing[0].endswith(" with signal 15") and log.texts("ERROR") == []


def test_a_client_leads_a_process_group_of_its_own(tmp_path):
    config, command = respawn_config(tmp_path, "exec sleep 30")
    groups = []

    def started(clients):
        proc = clients.children[0].proc
        if proc is not None:
            groups.append((proc.pid, os.getpgid(proc.pid)))
        return groups
    log = RecordingLog()
    run_clients(config, log, started)
    pid, group = groups[0]
    assert group == pid != os.getpgrp() and not log.texts("ERROR")
