"""The resource monitor's core with a fake clock: schedule, failure counting in a window,
restart and give-up decisions, pauses and transitions, the status rows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.config.haresources import parse_haresources
from heartbeat.core.membership import Log
from heartbeat.core.monitoring import (ResourceMonitor, RunCheck, RunRestart, Standby, State, units)
from heartbeat.config.pyhbcf import parse_pyhbcf

RES = parse_haresources("node1 IPaddr::192.0.2.100/24/eth0 Filesystem::/dev/sdb1::/srv::ext4 httpd\n"
                        "node2 192.0.2.101 mysqld\n", "/etc/ha.d/haresources")


def monitor(text: str, node: str = "node1") -> tuple[ResourceMonitor, list]:
    us = units(parse_pyhbcf(text, "/etc/ha.d/pyheartbeat.cf"), RES, node)
    return ResourceMonitor(us), us


def logs(actions) -> list[str]:
    return [f"{a.level}: {a.text}" for a in actions if isinstance(a, Log)]


def jobs(actions) -> list:
    return [a for a in actions if not isinstance(a, Log)]


def single(actions, kind):
    [job] = [a for a in actions if isinstance(a, kind)]
    return job


def test_units_resolve_groups_and_standby_sets():
    _mon, (web, grp) = monitor("monitor httpd\nmonitor_group 192.0.2.101 name=db\n")
    assert (web.resources, web.group_key, web.rsc_class) == (("httpd",), "IPaddr::192.0.2.100/24/eth0", "local")
    assert (grp.resources, grp.group_key, grp.rsc_class) == (("192.0.2.101", "mysqld"), "192.0.2.101", "foreign")
    _mon, (whole,) = monitor("monitor_group IPaddr::192.0.2.100/24/eth0\n")
    assert whole.resources == ("IPaddr::192.0.2.100/24/eth0", "Filesystem::/dev/sdb1::/srv::ext4", "httpd")
    _mon, (db,) = monitor("monitor mysqld\n", node="node2")
    assert db.rsc_class == "local"


def test_first_check_one_interval_after_activation_then_every_interval_after_the_last():
    mon, _ = monitor("monitor httpd interval=10 timeout=3\n")
    assert mon.next_deadline() is None
    assert mon.tick(100.0, active={"httpd"}, paused=()) == []
    assert mon.next_deadline() == 110.0
    assert mon.tick(109.9, {"httpd"}, ()) == []
    check = single(mon.tick(110.0, {"httpd"}, ()), RunCheck)
    assert check.unit.name == "httpd"
    assert mon.next_deadline() is None        # nothing is due while the check runs
    assert mon.tick(130.0, {"httpd"}, ()) == []
    assert mon.check_done(112.5, 5000.0, "httpd", check.job, None, "ok") == []
    assert mon.next_deadline() == 122.5
    [row] = mon.status(112.5)
    assert (row.state, row.failures, row.restarts, row.last_check, row.last_result) == (State.OK, 0, 0, 5000.0, "ok")


def run_check(mon, now, name="httpd"):
    actions = mon.tick(now, {name}, ())
    return single(actions, RunCheck)


def test_failure_restarts_then_passes_again():
    mon, _ = monitor("monitor httpd interval=10 restarts=2 window=60\n")
    mon.tick(0.0, {"httpd"}, ())
    check = run_check(mon, 10.0)
    out = mon.check_done(10.5, 1.0, "httpd", check.job, 0, "not running")
    assert logs(out) == ["WARN: Resource httpd failed its monitor check: not running (failure 1)",
                         "info: Restarting resource httpd (restart 1 of 2 within 60s)"]
    restart = single(out, RunRestart)
    assert restart.resources == ("httpd",)
    assert mon.status(10.5)[0].state is State.RESTARTING
    assert logs(mon.restart_done(12.0, "httpd", restart.job, True, "")) == ["info: Resource httpd restarted."]
    assert mon.status(12.0)[0].state is State.PENDING
    assert mon.next_deadline() == 22.0
    check = run_check(mon, 22.0)
    assert logs(mon.check_done(22.1, 2.0, "httpd", check.job, None, "ok")) == [
        "info: Resource httpd passed its monitor check again."]
    row = mon.status(22.1)[0]
    assert (row.state, row.failures, row.restarts) == (State.OK, 0, 1)
    assert mon.status(70.6)[0].restarts == 0   # the restart left the window


def fail_and_restart(mon, now, ok=True, name="httpd"):
    check = run_check(mon, now, name)
    out = mon.check_done(now, now, name, check.job, 0, "not running")
    restart = [a for a in out if isinstance(a, RunRestart)]
    if restart:
        mon.restart_done(now + 1, name, restart[0].job, ok, "" if ok else "start returned 1")
    return out


def test_restarts_used_up_in_the_window_give_the_group_away_once():
    mon, _ = monitor("monitor httpd interval=10 restarts=2 window=100\n")
    mon.tick(0.0, {"httpd"}, ())
    fail_and_restart(mon, 10.0)
    fail_and_restart(mon, 21.0)
    out = fail_and_restart(mon, 32.0)
    assert logs(out) == [
        "WARN: Resource httpd failed its monitor check: not running (failure 3)",
        "ERROR: Resource httpd: 2 restarts within 100s used up: giving group IPaddr::192.0.2.100/24/eth0 "
        "to the other node."]
    standby = single(out, Standby)
    assert standby.rsc_hold == "local"
    assert mon.status(32.0)[0].state is State.GAVE_UP
    # still failing: quiet, and no second standby
    check = run_check(mon, 42.0)
    out = mon.check_done(42.0, 42.0, "httpd", check.job, 0, "not running")
    assert jobs(out) == [] and logs(out) == ["debug: Resource httpd still fails its monitor check: not running"]
    assert mon.status(42.0)[0].failures == 4


def test_a_budget_comes_back_when_old_restarts_leave_the_window():
    mon, _ = monitor("monitor httpd interval=10 restarts=1 window=15\n")
    mon.tick(0.0, {"httpd"}, ())
    assert isinstance(jobs(fail_and_restart(mon, 10.0))[0], RunRestart)
    check = run_check(mon, 21.0)
    mon.check_done(21.0, 21.0, "httpd", check.job, None, "ok")
    out = fail_and_restart(mon, 31.0)             # the restart at 10 is out of [16, 31]
    assert isinstance(jobs(out)[0], RunRestart)


def test_failed_restart_with_no_restart_left_gives_up_at_once():
    mon, _ = monitor("monitor httpd interval=10 restarts=1 on_fail=log\n")
    mon.tick(0.0, {"httpd"}, ())
    check = run_check(mon, 10.0)
    restart = single(mon.check_done(10.0, 10.0, "httpd", check.job, 0, "not running"), RunRestart)
    out = mon.restart_done(11.0, "httpd", restart.job, False, "/etc/init.d/httpd start returned 1")
    assert logs(out) == ["ERROR: Restart of resource httpd failed: /etc/init.d/httpd start returned 1",
                         "ERROR: Resource httpd: 1 restarts within 600s used up: left as it is (on_fail log)."]
    assert jobs(out) == []
    assert mon.status(11.0)[0].state is State.GAVE_UP


def test_failed_restart_with_restarts_left_checks_again_after_an_interval():
    mon, _ = monitor("monitor httpd interval=10 restarts=3\n")
    mon.tick(0.0, {"httpd"}, ())
    fail_and_restart(mon, 10.0, ok=False)
    assert mon.status(11.0)[0].state is State.FAILED
    assert mon.status(11.0)[0].last_result == "start returned 1"
    assert mon.next_deadline() == 21.0


def test_restarts_zero_gives_up_at_the_first_failure():
    mon, _ = monitor("monitor httpd restarts=0\n")
    mon.tick(0.0, {"httpd"}, ())
    out = fail_and_restart(mon, 10.0)
    assert [type(a) for a in jobs(out)] == [Standby]


def test_group_restarts_the_failed_resource_and_those_after_it():
    mon, _ = monitor("monitor_group IPaddr::192.0.2.100/24/eth0 name=web\n")
    mon.tick(0.0, {"web"}, ())
    check = run_check(mon, 10.0, "web")
    out = mon.check_done(10.0, 10.0, "web", check.job, 1, "not running")
    assert logs(out)[0] == ("WARN: Resource Filesystem::/dev/sdb1::/srv::ext4 failed its monitor check: "
                            "not running (failure 1)")
    assert single(out, RunRestart).resources == ("Filesystem::/dev/sdb1::/srv::ext4", "httpd")


def test_a_failed_command_restarts_everything_it_watches():
    mon, _ = monitor("monitor_group IPaddr::192.0.2.100/24/eth0 name=web\nmonitor_command "
                     "IPaddr::192.0.2.100/24/eth0 /usr/bin/curl http://192.0.2.100/\n")
    mon.tick(0.0, {"web"}, ())
    check = run_check(mon, 10.0, "web")
    out = mon.check_done(10.0, 10.0, "web", check.job, 0, "exit status 7")
    assert logs(out)[0] == ("WARN: Resource group IPaddr::192.0.2.100/24/eth0 failed its monitor check: "
                            "exit status 7 (failure 1)")
    assert len(single(out, RunRestart).resources) == 3


def test_leaving_discards_the_answer_and_a_return_starts_over_with_the_history():
    mon, _ = monitor("monitor httpd interval=10 restarts=1 window=1000\n")
    mon.tick(0.0, {"httpd"}, ())
    fail_and_restart(mon, 10.0)
    check = run_check(mon, 21.0)
    assert mon.tick(22.0, active=(), paused=()) == []      # the group moves away
    assert mon.status(22.0)[0].state is State.IDLE
    assert mon.check_done(23.0, 23.0, "httpd", check.job, 0, "not running") == []
    assert mon.status(23.0)[0].failures == 0
    mon.tick(100.0, {"httpd"}, ())                          # it came back
    assert mon.status(100.0)[0].state is State.PENDING
    out = fail_and_restart(mon, 110.0)
    assert [type(a) for a in jobs(out)] == [Standby]        # the restart at 10 still counts


def test_a_restart_that_ends_after_monitoring_stopped_is_only_logged():
    mon, _ = monitor("monitor httpd interval=10\n")
    mon.tick(0.0, {"httpd"}, ())
    check = run_check(mon, 10.0)
    restart = single(mon.check_done(10.0, 10.0, "httpd", check.job, 0, "not running"), RunRestart)
    mon.tick(11.0, (), ())
    assert logs(mon.restart_done(12.0, "httpd", restart.job, True, "")) == [
        "info: Restart of resource httpd ended after its monitoring stopped: done"]
    assert mon.status(12.0)[0].state is State.IDLE
    # back again while nothing runs: checked one interval later
    mon.tick(13.0, {"httpd"}, ())
    assert mon.next_deadline() == 23.0


def test_a_new_check_waits_for_a_stale_job_to_end():
    mon, _ = monitor("monitor httpd interval=1\n")
    mon.tick(0.0, {"httpd"}, ())
    old = run_check(mon, 1.0)
    mon.tick(1.5, (), ())
    mon.tick(1.6, {"httpd"}, ())
    assert mon.tick(5.0, {"httpd"}, ()) == []               # the old check still runs
    assert mon.check_done(5.1, 5.1, "httpd", old.job, 0, "timed out") == []
    new = run_check(mon, 5.2)
    assert new.job != old.job


def test_maintenance_pause_stops_checks_and_restarts_and_is_logged():
    mon, _ = monitor("monitor httpd interval=10\nmonitor mysqld\n", node="node1")
    mon.tick(0.0, {"httpd"}, ())
    check = run_check(mon, 10.0)
    out = mon.tick(11.0, {"httpd"}, paused={"httpd"})
    assert logs(out) == ["info: Resource monitoring of resource httpd paused (maintenance)."]
    assert mon.tick(12.0, {"httpd"}, {"httpd"}) == []        # said once
    # the admin stopped httpd meanwhile: the check's answer is discarded, nothing restarts
    assert mon.check_done(12.0, 12.0, "httpd", check.job, 0, "not running") == []
    assert mon.tick(100.0, {"httpd"}, {"httpd"}) == []
    assert mon.next_deadline() is None
    assert [r.state for r in mon.status(100.0)] == [State.PAUSED, State.IDLE]
    out = mon.tick(101.0, {"httpd"}, ())
    assert logs(out) == ["info: Resource monitoring of resource httpd resumed."]
    assert mon.next_deadline() == 111.0


def test_a_paused_group_that_is_not_held_stays_idle():
    mon, _ = monitor("monitor httpd\n")
    assert mon.tick(0.0, (), {"httpd"}) == []
    assert mon.status(0.0)[0].state is State.IDLE


# -- random schedules: the invariants hold whatever happens ------------------------------------
EVENTS = st.lists(st.tuples(st.sampled_from(["tick", "tick", "tick", "done", "done", "leave", "pause"]),
                            st.floats(0.0, 7.0), st.booleans()), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.integers(0, 3))
def test_random_schedules_keep_the_invariants(events, restarts):
    mon, _ = monitor(f"monitor httpd interval=5 restarts={restarts} window=30\n")
    now, active, paused = 0.0, True, False
    running = None            # the job in flight: (kind, job)
    restart_times: list[float] = []
    standbys_since_ok = 0
    for kind, step, flag in events:
        now += step
        if kind == "leave":
            active = flag
        elif kind == "pause":
            paused = flag
        if kind == "done" and running is not None:
            what, job = running
            running = None
            if what == "check":
                out = mon.check_done(now, now, "httpd", job, None if flag else 0, "x")
                if flag and active and not paused:
                    standbys_since_ok = 0
            else:
                out = mon.restart_done(now, "httpd", job, flag, "x")
        else:
            out = mon.tick(now, {"httpd"} if active else (), {"httpd"} if paused else ())
        for action in jobs(out):
            if isinstance(action, Standby):
                standbys_since_ok += 1
                assert standbys_since_ok == 1, "a second standby in one episode"
                continue
            assert running is None, "a second job while one runs"
            assert active and not paused, "a job for a unit that may not run"
            if isinstance(action, RunRestart):
                restart_times.append(now)
                assert sum(t > now - 30 for t in restart_times) <= restarts
                running = ("restart", action.job)
            else:
                running = ("check", action.job)
        if not active:
            standbys_since_ok = 0
