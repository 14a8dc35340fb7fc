"""Sequence tracking, send history and rexmit timers (wire-protocol §8.2-§8.4)."""

from heartbeat.core.message import Message
from heartbeat.core.seqtrack import (FLOWCONTROL_LIMIT, HISTORY_GRACE_S, MAX_MISSING, Rexmit, RexmitRequests,
                                SendHistory, SeqTracker, Verdict)


def feed(tracker: SeqTracker, *seqs: int):
    return [tracker.arrive(s) for s in seqs]


# -- SeqTracker ------------------------------------------------------------------
def test_first_packet_and_successors_are_in_order():
    t = SeqTracker(ack_trigger=7)
    first, second = feed(t, 41, 42)
    assert (first.verdict, first.previous, second.verdict, second.previous) == \
        (Verdict.IN_ORDER, None, Verdict.IN_ORDER, 41)
    assert t.last == 42 and t.missing == ()


def test_same_number_again_is_a_duplicate():
    t = SeqTracker(0)
    feed(t, 5)
    assert t.arrive(5).verdict is Verdict.DUPLICATE and t.last == 5


def test_gap_records_the_missing_numbers():
    t = SeqTracker(0)
    feed(t, 29)
    gap = t.arrive(31)
    assert (gap.verdict, gap.previous, gap.lost, gap.missing, gap.abandoned) == \
        (Verdict.GAP, 29, 1, (30,), ())
    assert t.missing == (30,) and t.first_missing == 30 and t.last == 31


def test_filling_and_late_duplicates():
    t = SeqTracker(0)
    feed(t, 1, 5)
    filled = t.arrive(3)
    assert (filled.verdict, filled.emptied, t.missing) == (Verdict.FILLED, False, (2, 4))
    assert t.arrive(3).verdict is Verdict.OLD
    feed(t, 2)
    last = t.arrive(4)
    assert (last.verdict, last.emptied, t.missing, t.first_missing) == (Verdict.FILLED, True, (), 0)
    assert t.arrive(1).verdict is Verdict.OLD


def test_a_gap_beyond_the_flow_control_limit_resets():
    t = SeqTracker(0)
    feed(t, 1, 3)
    reset = t.arrive(3 + FLOWCONTROL_LIMIT + 2)
    assert (reset.verdict, reset.abandoned, reset.missing) == (Verdict.RESET, (2,), ())
    assert t.missing == () and t.last == 3 + FLOWCONTROL_LIMIT + 2
    gap = t.arrive(t.last + FLOWCONTROL_LIMIT + 1)                  # exactly the limit: still a gap
    assert gap.verdict is Verdict.GAP and len(gap.missing) == FLOWCONTROL_LIMIT


def test_the_missing_list_gives_up_its_oldest_numbers_first():
    t = SeqTracker(0)
    feed(t, 1)
    seq = 1
    abandoned = ()
    for _ in range(3):                                               # 3 x 200 missing > MAX_MISSING
        seq += 201
        abandoned += t.arrive(seq).abandoned
    assert len(t.missing) == MAX_MISSING
    assert abandoned == tuple(range(2, 2 + 600 - MAX_MISSING))
    assert t.missing[0] == abandoned[-1] + 1


def test_in_order_acks_only_at_the_trigger_residue_and_never_over_a_hole():
    t = SeqTracker(ack_trigger=3)
    acks = [a.ack for a in feed(t, *range(1, 25))]
    assert [a for a in acks if a is not None] == [3, 13, 23]
    t = SeqTracker(ack_trigger=3)
    feed(t, 1, 3)                                                    # 2 missing
    assert [a.ack for a in feed(t, *range(4, 14))] == [None] * 10


def test_catch_up_ack_after_the_first_hole_is_filled():
    t = SeqTracker(ack_trigger=3)
    feed(t, 1, 3, 4, 5, 6, 8)                                        # 2 and 7 missing
    first = t.arrive(2)
    assert (first.verdict, first.ack, t.first_missing) == (Verdict.FILLED, 3, 7)   # 1..6 now contiguous
    t = SeqTracker(ack_trigger=5)
    feed(t, 1, 2, 4, 5, 6, 7, 9)                                     # 3 and 8 missing
    assert t.arrive(3).ack == 5                                      # highest contiguous residue-5 number
    t = SeqTracker(ack_trigger=9)
    feed(t, 1, 3, 4, 6)                                              # 2 and 5 missing
    assert t.arrive(2).ack is None                                   # no residue-9 number in 2..4


def test_filling_the_last_hole_sends_no_ack():
    t = SeqTracker(ack_trigger=3)
    feed(t, 1, 2, 4)
    assert t.arrive(3).ack is None and t.arrive(5).ack is None
    assert [a.ack for a in feed(t, *range(6, 14))][-1] == 13


def test_forget_a_naked_number():
    t = SeqTracker(0)
    feed(t, 1, 4)
    assert t.forget(9) is None
    assert t.forget(2).verdict is Verdict.FILLED and t.missing == (3,)


def test_reset_returns_what_was_missing():
    t = SeqTracker(0)
    feed(t, 1, 4)
    assert t.reset() == (2, 3)
    assert (t.last, t.missing, t.first_missing) == (None, (), 0)
    assert t.arrive(1).verdict is Verdict.IN_ORDER


# -- SendHistory -------------------------------------------------------------------
def history_with(n: int, now: float = 0.0, size: int = 500) -> SendHistory:
    h = SendHistory(size=size)
    for seq in range(1, n + 1):
        h.add(seq, Message.of(t="x", seq=format(seq, "x")), now)
    return h


def test_history_keeps_the_last_size_messages():
    h = history_with(505)
    assert (h.hiseq, h.lowseq, h.queued, h.last_slot) == (505, 5, 500, 4)
    assert h.rexmit(5, 10.0, 0.24)[0] is Rexmit.TOO_LOW
    answer, sent = h.rexmit(6, 10.0, 0.24)
    assert answer is Rexmit.RESEND and sent.msg.get("seq") == "6"
    assert h.rexmit(506, 10.0, 0.24) == (Rexmit.TOO_HIGH, None)


def test_empty_history_reports_the_last_ring_slot():
    assert SendHistory().last_slot == 499


def test_recent_resends_are_not_repeated():
    h = history_with(3)
    answer, sent = h.rexmit(2, 1.0, 0.24)
    sent.resent_at = 1.0
    assert h.rexmit(2, 1.2, 0.24)[0] is Rexmit.RECENT
    assert h.rexmit(2, 1.24, 0.24)[0] is Rexmit.RESEND


def test_acks_free_old_messages_only_after_the_grace_period():
    h = history_with(10, now=0.0)
    assert h.raise_ack(6, now=HISTORY_GRACE_S - 0.1)
    assert (h.ackseq, h.lowseq) == (6, 0)                            # too young to forget
    assert not h.raise_ack(6, now=HISTORY_GRACE_S)                   # not higher
    assert h.raise_ack(7, now=HISTORY_GRACE_S)
    assert h.lowseq == 7 and h.rexmit(7, 3.0, 0.24)[0] is Rexmit.TOO_LOW
    assert h.rexmit(8, 3.0, 0.24)[0] is Rexmit.RESEND


def test_a_hole_inside_the_range_is_not_found():
    h = SendHistory()
    h.add(1, Message.of(t="x"), 0.0)
    h.add(3, Message.of(t="x"), 0.0)                                 # 2 never kept
    assert h.rexmit(2, 0.0, 0.24) == (Rexmit.NOT_FOUND, None)


def test_congestion_is_more_than_the_flow_control_limit_unacked():
    h = history_with(FLOWCONTROL_LIMIT)
    assert not h.congested
    h.add(FLOWCONTROL_LIMIT + 1, Message.of(t="x"), 0.0)
    assert h.congested
    h.raise_ack(1, 0.0)
    assert not h.congested


# -- RexmitRequests ------------------------------------------------------------------
def test_requests_come_due_in_time_order_once():
    r = RexmitRequests()
    r.schedule("node2", 30, 1.2)
    r.schedule("node3", 7, 1.1)
    r.schedule("node2", 31, 5.0)
    assert r.next_due() == 1.1 and len(r) == 3
    assert r.pop_due(1.15) == [("node3", 7)]
    assert r.pop_due(2.0) == [("node2", 30)]
    assert ("node2", 31) in r and ("node2", 30) not in r
    assert r.pop_due(2.0) == []


def test_requests_are_cancelled_by_number_or_node():
    r = RexmitRequests()
    for seq in (1, 2, 3):
        r.schedule("node2", seq, 1.0)
    r.schedule("node3", 1, 1.0)
    r.cancel("node2", (2, 9))
    assert sorted(k for k in [("node2", 1), ("node2", 2), ("node2", 3)] if k in r) == [("node2", 1), ("node2", 3)]
    r.cancel_node("node2")
    assert len(r) == 1 and r.next_due() == 1.0
    r.cancel_node("node3")
    assert r.next_due() is None
