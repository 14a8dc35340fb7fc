"""The `respawn` clients' restart policy (heartbeat.core.respawn), on a fake clock."""

from __future__ import annotations

from heartbeat.core.respawn import DONT_RESPAWN, RESPAWN_SHORT_LIMIT, RESPAWN_SHORT_S, RespawnPolicy, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def policy(pause_s: float = 2.0) -> tuple[RespawnPolicy, Clock]:
    clock = Clock()
    return RespawnPolicy(clock, pause_s=pause_s), clock


def test_a_client_that_exits_is_started_again_at_once_after_a_long_run():
    p, clock = policy()
    assert p.pause() is None and p.started()
    clock.now += RESPAWN_SHORT_S + 1
    assert p.exited(0) is Verdict.RESTART
    assert p.pause() is None                       # it did not die quickly
    assert p.started()
    clock.now += RESPAWN_SHORT_S + 1
    assert p.exited(-9) is Verdict.RESTART         # killed by a signal: the same rule


def test_a_quick_death_restarts_after_the_pause():
    p, clock = policy(pause_s=2.0)
    p.started()
    clock.now += RESPAWN_SHORT_S - 0.1
    assert p.exited(1) is Verdict.RESTART
    assert p.pause() == 2.0


def test_more_quick_deaths_in_a_row_than_the_limit_give_up():
    p, clock = policy()
    verdicts = []
    for _ in range(RESPAWN_SHORT_LIMIT + 1):
        assert p.started()
        clock.now += 1.0
        verdicts.append(p.exited(1))
    assert verdicts == [Verdict.RESTART] * RESPAWN_SHORT_LIMIT + [Verdict.TOO_FAST]


def test_one_long_run_starts_the_count_of_quick_deaths_afresh():
    p, clock = policy()
    for _ in range(RESPAWN_SHORT_LIMIT):
        p.started()
        clock.now += 1.0
        assert p.exited(1) is Verdict.RESTART
    p.started()
    clock.now += RESPAWN_SHORT_S
    assert p.exited(1) is Verdict.RESTART and p.pause() is None
    for _ in range(RESPAWN_SHORT_LIMIT):
        p.started()
        clock.now += 1.0
        assert p.exited(1) is Verdict.RESTART


def test_exit_status_100_asks_not_to_be_restarted():
    p, clock = policy()
    p.started()
    clock.now += 100.0
    assert p.exited(DONT_RESPAWN) is Verdict.ASKED_NOT_TO


def test_after_stop_nothing_starts_and_an_exit_is_no_restart():
    p, clock = policy()
    p.started()
    p.stop()
    clock.now += 1.0
    assert p.exited(1) is Verdict.STOPPING
    assert p.exited(DONT_RESPAWN) is Verdict.STOPPING
    assert not p.started()
