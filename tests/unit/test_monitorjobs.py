"""The resource monitor's asyncio shell with real scripts in a temporary /etc/ha.d:
status checks, restarts, killed hanging checks, admin commands, pause files, standby,
the API rows and cl_status rscmonitor; and the daemon without pyheartbeat.cf."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path

import pytest

from heartbeat.daemon.apiserver import ApiHandler, AuthRule
from heartbeat.core.joint import CoreView
from heartbeat.daemon.main import Options, Shell
from heartbeat.config.haresources import parse_haresources
from heartbeat.core.message import Message
from heartbeat.daemon.monitorjobs import PAUSE_DIR, MonitorJobs
from heartbeat.core.monitoring import Standby, State, Status, units
from heartbeat.config.pyhbcf import parse_pyhbcf
from tests.unit.test_apiserver import FakeView, signon_request
from tests.unit.test_clstatus import Daemon, run
from tests.unit.test_daemon import RecordingLog, config_for, paths_in, write_tree

# A service whose state is a file (`running`); BROKEN makes start fail,
# HANG makes status hang.
SERVICE = """#!/bin/sh
# svc NAME start|stop|status, as ResourceManager runs svc::NAME
dir=$(dirname "$0")/../state
case "$2" in
start) [ -e "$dir/BROKEN" ] && exit 1; echo "$1" >> "$dir/started"; touch "$dir/running"; exit 0;;
stop) echo "$1" >> "$dir/stopped"; rm -f "$dir/running"; exit 0;;
status) [ -e "$dir/HANG" ] && exec sleep 60
        if [ -e "$dir/running" ]; then echo "svc is running"; else echo "svc is stopped"; fi; exit 0;;
esac
exit 2
"""
RESOURCES = "node1 svc::a svc::b\n"


def setup(tmp_path: Path, pyhbcf: str):
    ha_dir = tmp_path / "ha.d"
    (ha_dir / "resource.d").mkdir(parents=True)
    (tmp_path / "ha.d" / "state").mkdir()
    script = ha_dir / "resource.d" / "svc"
    script.write_text(SERVICE)
    script.chmod(0o755)
    state = ha_dir / "state"
    (state / "running").touch()
    us = units(parse_pyhbcf(pyhbcf, "/x"), parse_haresources(RESOURCES, "/h"), "node1")
    return ha_dir, state, us


class Harness:
    def __init__(self, tmp_path: Path, pyhbcf: str, held: str | None = "local") -> None:
        self.ha_dir, self.state, us = setup(tmp_path, pyhbcf)
        self.log = RecordingLog()
        self.sent: list[Message] = []
        self.held = held
        self.pause_dir = tmp_path / PAUSE_DIR
        env = {"PATH": os.environ["PATH"], "HA_DIR": f"{self.ha_dir}/"}
        self.jobs = MonitorJobs(us, self.log, environment=lambda: env, holding=lambda: self.held,
                                send=self.sent.append, pause_dir=str(self.pause_dir))

    def texts(self) -> list[str]:
        return [f"{lv}: {t}" for lv, t in self.log.lines if lv != "debug"]

    def fail_after_a_passed_check(self, outcome, what: str, *, for_good: bool = False) -> None:
        """Start the monitors; once a check has passed, stop the service behind their
        back (``for_good``: its start fails too); stop the monitors once ``outcome()``."""
        async def scenario():
            self.jobs.start()
            await until(lambda: self.jobs.status()[0].state is State.OK, "a first passed check")
            if for_good:
                (self.state / "BROKEN").touch()
            (self.state / "running").unlink()
            await until(outcome, what)
            await self.jobs.stop()

        run_async(scenario())


async def until(predicate, what: str, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def run_async(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_dead_resource_is_restarted_and_checked_again(tmp_path):
    h = Harness(tmp_path, "monitor svc::b interval=1 restarts=2\n")
    h.fail_after_a_passed_check(lambda: any("passed its monitor check again" in t for t in h.texts()), "recovery")
    assert h.texts() == [
        "WARN: Resource svc::b failed its monitor check: status says [svc is stopped] (failure 1)",
        "info: Restarting resource svc::b (restart 1 of 2 within 600s)",
        f"info: Running {h.ha_dir}/resource.d/svc b stop",
        f"info: Running {h.ha_dir}/resource.d/svc b start",
        "info: Resource svc::b restarted.",
        "info: Resource svc::b passed its monitor check again.",
    ]
    assert (h.state / "started").read_text() == "b\n" and (h.state / "stopped").read_text() == "b\n"
    row = h.jobs.status()[0]
    assert (row.state, row.failures, row.restarts, row.last_result) == (State.OK, 0, 1, "ok")
    assert h.sent == []


def test_broken_for_good_gives_the_group_away_with_the_standby_message(tmp_path):
    h = Harness(tmp_path, "monitor_group svc::a name=grp interval=1 restarts=1\n")
    h.fail_after_a_passed_check(lambda: h.sent, "the standby request", for_good=True)
    texts = h.texts()
    assert texts[0] == "WARN: Resource svc::a failed its monitor check: status says [svc is stopped] (failure 1)"
    assert texts[1] == "info: Restarting resources svc::a svc::b (restart 1 of 1 within 600s)"
    assert f"info: Running {h.ha_dir}/resource.d/svc b stop" == texts[2]   # last first
    assert texts[-3:] == [
        f"ERROR: Restart of resource group svc::a failed: {h.ha_dir}/resource.d/svc a start returned 1",
        "ERROR: Resource group svc::a: 1 restarts within 600s used up: giving group svc::a to the other node.",
        "info: Going standby [local].",
    ]
    [msg] = h.sent
    assert [(f.name, f.value) for f in msg] == [("t", "ask_resources"), ("rsc_hold", "local"), ("info", "me")]
    assert h.jobs.status()[0].state is State.GAVE_UP


def test_no_standby_while_resources_move_or_heartbeat_stops(tmp_path):
    h = Harness(tmp_path, "monitor svc::a restarts=0\n", held="transition")
    [unit] = units(parse_pyhbcf("monitor svc::a restarts=0\n", "/x"), parse_haresources(RESOURCES, "/h"), "node1")

    async def scenario():
        h.jobs._carry_out([Standby(unit, "local")])      # a give-up while the group moves
        h.held = "local"
        await h.jobs.stop()
        h.jobs._carry_out([Standby(unit, "local")])      # a restart that failed after shutdown began

    run_async(scenario())
    assert h.sent == []
    assert h.texts() == ["info: No standby for svc::a: heartbeat is stopping or resources are moving."] * 2


def test_a_hanging_check_is_killed_at_its_timeout_and_fails(tmp_path):
    h = Harness(tmp_path, "monitor svc::a interval=1 timeout=0.3 restarts=0 on_fail=log\n")
    (h.state / "HANG").touch()

    async def scenario():
        h.jobs.start()
        await until(lambda: h.jobs.status()[0].state is State.GAVE_UP, "the give-up")
        await h.jobs.stop()

    started = time.monotonic()
    run_async(scenario())
    assert time.monotonic() - started < 30     # never the sleep's 60 s
    assert h.texts()[:2] == [
        "WARN: Resource svc::a failed its monitor check: timed out after 0.3s (failure 1)",
        "ERROR: Resource svc::a: 0 restarts within 600s used up: left as it is (on_fail log).",
    ]
    # the killed check left no sleeping process behind in its session
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_orphan_sleep(p, h.ha_dir)]


def _is_orphan_sleep(pid: str, ha_dir: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return False
    return cmd.startswith(b"sleep\x0060") and f"HA_DIR={ha_dir}".encode() in env


def test_an_admin_command_is_run_as_argv_and_its_exit_status_decides(tmp_path):
    check = tmp_path / "check"
    check.write_text('#!/bin/sh\n[ "$1" = "a b" ] && [ "$#" = 1 ] && [ ! -e "$2x" ] && exit 0\nexit 7\n')
    check.chmod(0o755)
    h = Harness(tmp_path, f"monitor svc::a interval=1 restarts=0 on_fail=log\nmonitor_command svc::a {check} a;b\n")

    async def scenario():
        h.jobs.start()
        await until(lambda: h.jobs.status()[0].last_result, "a check")
        await h.jobs.stop()

    run_async(scenario())
    # "a;b" reached the program as one word: no shell ever saw it
    assert h.jobs.status()[0].last_result == f"{check} exited with status 7"


def test_nothing_runs_unless_the_set_is_held_and_stable(tmp_path):
    h = Harness(tmp_path, "monitor svc::a interval=1\n", held="transition")
    (h.state / "running").unlink()

    async def scenario():
        h.jobs.start()
        await asyncio.sleep(2.5)
        assert h.jobs.status()[0].state is State.IDLE
        h.held = "foreign"                       # the other node's groups only
        await asyncio.sleep(2.5)
        assert h.jobs.status()[0].state is State.IDLE
        h.held = "all"
        await until(lambda: h.jobs.status()[0].failures, "a check once the group is ours")
        await h.jobs.stop()

    run_async(scenario())


def test_pause_files_stop_monitoring_and_a_stopped_resource_is_left_alone(tmp_path):
    h = Harness(tmp_path, "monitor svc::a interval=1 name=web\n")
    h.pause_dir.mkdir()

    async def scenario():
        h.jobs.start()
        await until(lambda: h.jobs.status()[0].state is State.OK, "a first passed check")
        (h.pause_dir / "web").touch()
        await until(lambda: h.jobs.status()[0].state is State.PAUSED, "the pause")
        (h.state / "running").unlink()           # the admin stops it by hand
        await asyncio.sleep(3.5)
        assert h.jobs.status()[0].state is State.PAUSED
        (h.pause_dir / "web").unlink()
        (h.pause_dir / "all").touch()            # every monitor
        await asyncio.sleep(1.5)
        assert h.jobs.status()[0].state is State.PAUSED
        (h.state / "running").touch()            # the admin starts it again, then resumes
        (h.pause_dir / "all").unlink()
        await until(lambda: h.jobs.status()[0].state is State.OK and h.jobs.status()[0].last_check, "resume")
        await h.jobs.stop()

    run_async(scenario())
    assert not (h.state / "started").exists() and not (h.state / "stopped").exists()
    assert h.texts() == ["info: Resource monitoring of resource svc::a paused (maintenance).",
                         "info: Resource monitoring of resource svc::a resumed."]


# -- the API and cl_status ---------------------------------------------------------------------
@dataclasses.dataclass
class MonitoredView(FakeView):
    rows: tuple = ()

    def monitors(self):
        return self.rows


ROWS = (Status("web", "httpd", State.OK, 0, 1, 1_700_000_000.7, "ok"),
        Status("IPaddr__192.0.2.100", "IPaddr::192.0.2.100", State.PENDING, 0, 0, None, ""),
        Status("db", "mysqld", State.GAVE_UP, 4, 3, 1_700_000_100.0, "status says [mysqld is stopped]"))


def test_api_replies_one_message_per_monitor():
    handler = ApiHandler(MonitoredView(rows=ROWS), {"anon": AuthRule(uids=frozenset({0}))},
                         pid_exists=lambda pid: True)
    from heartbeat.daemon.apiserver import ApiClient
    client = ApiClient(9169, 0, 105)
    assert handler.handle(client, signon_request())[0].get("result") == "OK"
    request = Message.of(t="hbapi-req", reqtype="rscmonitor", dest="node1", pid="9169", from_id="9169")
    replies = handler.handle(client, request)
    assert [[(f.name, f.value) for f in r] for r in replies] == [
        [("t", "hbapi-resp"), ("reqtype", "rscmonitor"), ("monitor", "web"), ("target", "httpd"), ("st", "ok"),
         ("failures", "0"), ("restarts", "1"), ("lastcheck", "1700000000"), ("lastresult", "ok"),
         ("result", "ok/more")],
        [("t", "hbapi-resp"), ("reqtype", "rscmonitor"), ("monitor", "IPaddr__192.0.2.100"),
         ("target", "IPaddr::192.0.2.100"), ("st", "pending"), ("failures", "0"), ("restarts", "0"),
         ("result", "ok/more")],
        [("t", "hbapi-resp"), ("reqtype", "rscmonitor"), ("monitor", "db"), ("target", "mysqld"),
         ("st", "gave_up"), ("failures", "4"), ("restarts", "3"), ("lastcheck", "1700000100"),
         ("lastresult", "status says [mysqld is stopped]"), ("result", "OK")],
    ]
    handler.view.rows = ()
    [reply] = handler.handle(client, request)
    assert [(f.name, f.value) for f in reply] == [("t", "hbapi-resp"), ("reqtype", "rscmonitor"), ("result", "OK")]


@pytest.fixture
def sockdir(tmp_path):
    return str(tmp_path)


def test_cl_status_rscmonitor(sockdir, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    with Daemon(os.path.join(sockdir, "register"), MonitoredView(rows=ROWS)) as d:
        assert run(d, "rscmonitor") == (0, (
            "web\tok\t0\t1\t2023/11/14_22:13:20\tok\thttpd\n"
            "IPaddr__192.0.2.100\tpending\t0\t0\t-\t-\tIPaddr::192.0.2.100\n"
            "db\tgave_up\t4\t3\t2023/11/14_22:15:00\tstatus says [mysqld is stopped]\tmysqld\n"), "")
        rc, out, err = run(d, "rscmonitor", "-m")
        assert rc == 0 and out.splitlines()[0] == (
            "Resource monitor web (httpd): ok, 0 failed checks, 1 restarts within the window, "
            "last check 2023/11/14_22:13:20: ok")
        d.view.rows = ()
        assert run(d, "rscmonitor") == (0, "", "")
        assert run(d, "rscmonitor", "-m")[:2] == (
            0, "No resource monitors (none in pyheartbeat.cf, or resources not managed).\n")
    with Daemon(os.path.join(sockdir, "register"), FakeView()) as d:
        d.handler._handlers.pop("rscmonitor")    # an original daemon: badreq
        rc, out, err = run(d, "rscmonitor")
        assert (rc, out) == (13, "") and "Cannot get resource monitor status" in err
    time.tzset()


# -- the daemon -----------------------------------------------------------------------------------
def daemon_shell(tmp_path: Path, pyhbcf: str | None, manage_resources: bool = True) -> Shell:
    tmp_path.mkdir()
    ha_dir = write_tree(tmp_path, resources="node1 svc::a svc::b\n")
    with open(os.path.join(ha_dir, "ha.cf"), "a") as f:
        f.write("auto_failback on\n")
    script = tmp_path / "ha.d" / "resource.d" / "svc"
    script.parent.mkdir()
    script.write_text(SERVICE)
    script.chmod(0o755)
    if pyhbcf is not None:
        (tmp_path / "ha.d" / "pyheartbeat.cf").write_text(pyhbcf)
    config = config_for(ha_dir, "node1")

    async def inside_a_loop() -> Shell:
        # as the daemon builds it: on Python 3.9 its asyncio objects bind to the running loop
        return Shell(config, RecordingLog(), Options(foreground=True, manage_resources=manage_resources),
                     paths_in(tmp_path, ha_dir), uuid=b"\x01" * 16, generation=3)

    return asyncio.run(inside_a_loop())


def test_the_daemon_has_a_monitor_only_with_monitors_and_resource_management(tmp_path):
    assert daemon_shell(tmp_path / "a", None).monitor is None
    assert daemon_shell(tmp_path / "b", "# nothing yet\n").monitor is None
    assert daemon_shell(tmp_path / "c", "monitor svc::b\n", manage_resources=False).monitor is None
    shell = daemon_shell(tmp_path / "d", "monitor svc::b\n")
    assert shell.monitor is not None
    assert shell.monitor.pause_dir == str(tmp_path / "d" / PAUSE_DIR)
    [row] = CoreView(shell.core, shell.monitor).monitors()
    assert (row.name, row.target, row.state) == ("svc__b", "svc::b", State.IDLE)
    assert CoreView(shell.core).monitors() == ()
