"""ha.cf `realtime` / `rtprio` and `heartbeat -l`: SCHED_RR, reset for children (injected
scheduler: the test process itself never changes its scheduling)."""

from __future__ import annotations

import os

import pytest

from heartbeat.daemon.main import parse_options
from heartbeat.daemon.realtime import make_realtime


def run(enabled: bool, priority, fail: OSError | None = None):
    calls, logs = [], []

    def setscheduler(pid, policy, param):
        if fail is not None:
            raise fail
        calls.append((pid, policy, param.sched_priority))
    changed = make_realtime(enabled, priority, lambda level, text: logs.append((level, text)),
                            setscheduler=setscheduler)
    return changed, calls, logs


@pytest.mark.parametrize("priority, applied", [(None, 1), (5, 5), (99, 99)])
def test_realtime_is_round_robin_reset_in_children(priority, applied):
    assert run(True, priority) == (True, [(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, applied)], [])


def test_realtime_off_is_logged_as_the_original_does():
    assert run(False, 5) == (False, [], [("info", f"Request to set pid {os.getpid()} to realtime ignored.")])


def test_a_refused_priority_is_a_warning_only():
    assert run(True, None, PermissionError(1, "Operation not permitted")) == (
        False, [], [("WARN", "Cannot set realtime priority 1: Operation not permitted")])


def test_dash_l_turns_realtime_off():
    assert parse_options(["-l"]).realtime is False and parse_options([]).realtime is True
