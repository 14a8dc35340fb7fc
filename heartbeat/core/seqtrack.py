"""Reliability pieces of the membership layer: sequence tracking, send history, rexmit timers.

Heartbeat's reliable multicast is three cooperating records (wire-protocol §8):

* per sender, what we received (`SeqTracker`): the last sequence number, the
  numbers still missing, and when an in-order arrival deserves an ACK;
* what we sent (`SendHistory`): the last 500 sequenced messages, kept so a
  peer can ask for one again, and the cluster-wide ACK that lets us forget;
* which missing numbers we are asking for and when (`RexmitRequests`).

Everything is plain data driven by the caller; nothing here logs or sends.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from heartbeat.core.message import Message

MAX_MISSING = 500          # missing numbers remembered per sender
FLOWCONTROL_LIMIT = 250    # larger gaps restart tracking; un-ACKed backlog that pauses clients
HISTORY_SIZE = 500         # sequenced messages kept for retransmission
ACK_DIVISOR = 10           # one ACK per ten messages: seq % 10 == the sender's trigger
# The original frees ACKed messages only once they are 2.5 s old (a 500 ms
# ring of five hiseq samples); a node that is just joining, and therefore not
# yet counted in the cluster-wide ACK, can still get them retransmitted.
HISTORY_GRACE_S = 2.5
MAX_REXMIT_BATCH = 50      # retransmissions answered per request


class Verdict(enum.Enum):
    IN_ORDER = "in order"      # first packet or last + 1
    DUPLICATE = "duplicate"    # the same number as the last one
    GAP = "gap"                # newer than last + 1: numbers in between are missing
    RESET = "reset"            # a gap too large to recover: tracking restarted here
    FILLED = "filled"          # older, and one we were missing
    OLD = "old"                # older and not missing: a late duplicate


@dataclass(frozen=True)
class Arrival:
    """What one sequence number told the tracker."""
    verdict: Verdict
    seq: int
    previous: int | None = None            # last number before this one (log lines)
    missing: tuple[int, ...] = ()          # GAP: numbers newly missing, to be requested
    abandoned: tuple[int, ...] = ()        # GAP/RESET: numbers no longer waited for
    emptied: bool = False                  # FILLED: nothing is missing any more
    ack: int | None = None                 # number to acknowledge now, if any

    @property
    def lost(self) -> int:
        """GAP/RESET: how many numbers were skipped."""
        return self.seq - self.previous - 1 if self.previous is not None else 0


class SeqTracker:
    """Receive side of one sender's sequence numbers."""

    def __init__(self, ack_trigger: int) -> None:
        self.ack_trigger = ack_trigger
        self.last: int | None = None
        self._missing: list[int] = []      # ascending
        self.first_missing = 0             # 0: nothing missing (as the original keeps it)

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(self._missing)

    def reset(self) -> tuple[int, ...]:
        """Forget everything; returns the numbers that were still missing."""
        dropped = tuple(self._missing)
        self.last = None
        self._missing = []
        self.first_missing = 0
        return dropped

    def arrive(self, seq: int) -> Arrival:
        last = self.last
        if last is None or seq == last + 1:
            self.last = seq
            return Arrival(Verdict.IN_ORDER, seq, last, ack=self._ack_in_order(seq))
        if seq == last:
            return Arrival(Verdict.DUPLICATE, seq, last)
        if seq > last:
            return self._gap(last, seq)
        if seq in self._missing:
            return self._fill(seq)
        return Arrival(Verdict.OLD, seq, last)

    def forget(self, seq: int) -> Arrival | None:
        """A NAK said `seq` is gone for good: stop waiting for it (None if not missing)."""
        return self._fill(seq) if seq in self._missing else None

    def _ack_in_order(self, seq: int) -> int | None:
        # Nothing earlier may be missing, or the ACK would claim it.
        if self.first_missing and seq > self.first_missing:
            return None
        return seq if seq % ACK_DIVISOR == self.ack_trigger else None

    def _gap(self, last: int, seq: int) -> Arrival:
        lost = seq - last - 1
        if lost > FLOWCONTROL_LIMIT:
            dropped = self.reset()
            self.last = seq
            return Arrival(Verdict.RESET, seq, last, abandoned=dropped)
        if self.first_missing == 0 or self.first_missing > last + 1:
            self.first_missing = last + 1
        # A full list gives up its oldest entries first (the original overwrites the lowest).
        new = tuple(range(last + 1, seq))
        overflow = max(0, len(self._missing) + len(new) - MAX_MISSING)
        abandoned = tuple(self._missing[:overflow])
        self._missing = self._missing[overflow:] + list(new)
        self.last = seq
        return Arrival(Verdict.GAP, seq, last, missing=new, abandoned=abandoned)

    def _fill(self, seq: int) -> Arrival:
        self._missing.remove(seq)
        if not self._missing:
            # The original clears first_missing before its catch-up ACK test,
            # so filling the last hole sends no ACK; the next residue will.
            self.first_missing = 0
            return Arrival(Verdict.FILLED, seq, self.last, emptied=True)
        ack = None
        if seq == self.first_missing:
            old_first = self.first_missing
            self.first_missing = self._missing[0]
            ack = self._catch_up_ack(self.first_missing - 1, old_first)
        return Arrival(Verdict.FILLED, seq, self.last, ack=ack)

    def _catch_up_ack(self, contiguous: int, old_first: int) -> int | None:
        """The highest number up to `contiguous` with our trigger residue, if it is news."""
        base = contiguous - contiguous % ACK_DIVISOR + self.ack_trigger
        ack = base if base <= contiguous else base - ACK_DIVISOR
        return ack if ack >= old_first else None


# -- what we sent ----------------------------------------------------------
@dataclass
class Sent:
    seq: int
    msg: Message
    sent_at: float
    resent_at: float | None = None


class Rexmit(enum.Enum):
    """How a retransmission request for one number is answered."""
    RESEND = "resend"
    TOO_LOW = "seqno too low"        # already forgotten (NAK text)
    NOT_FOUND = "seqno not found"    # within range but not kept (NAK text)
    TOO_HIGH = "too high"            # never sent: warn, no NAK (we may just have restarted)
    RECENT = "recent"                # resent moments ago: ignore


@dataclass
class SendHistory:
    """The last `size` sequenced messages we sent, and the cluster-wide ACK."""
    size: int = HISTORY_SIZE
    hiseq: int = 0           # highest number sent
    lowseq: int = 0          # highest number forgotten
    ackseq: int = 0          # highest number every live node acknowledged
    _kept: OrderedDict[int, Sent] = field(default_factory=OrderedDict)

    @property
    def queued(self) -> int:
        return self.hiseq - self.lowseq

    @property
    def congested(self) -> bool:
        return self.hiseq - self.ackseq > FLOWCONTROL_LIMIT

    @property
    def last_slot(self) -> int:
        """The ring slot of the newest message, as the original reports it."""
        return (self.hiseq - 1) % self.size if self.hiseq else self.size - 1

    def add(self, seq: int, msg: Message, now: float) -> None:
        self.hiseq = seq
        while len(self._kept) >= self.size:
            self._drop_oldest()
        self._kept[seq] = Sent(seq, msg, now)

    def raise_ack(self, ackseq: int, now: float) -> bool:
        """Record a higher cluster ACK and forget what it covers; False if not higher."""
        if ackseq <= self.ackseq:
            return False
        self.ackseq = ackseq
        for sent in list(self._kept.values()):
            if sent.seq > ackseq or now - sent.sent_at < HISTORY_GRACE_S:
                break
            self._drop_oldest()
        return True

    def rexmit(self, seq: int, now: float, min_gap_s: float) -> tuple[Rexmit, Sent | None]:
        if seq <= self.lowseq:
            return Rexmit.TOO_LOW, None
        if seq > self.hiseq:
            return Rexmit.TOO_HIGH, None
        sent = self._kept.get(seq)
        if sent is None:
            return Rexmit.NOT_FOUND, None
        if sent.resent_at is not None and now - sent.resent_at < min_gap_s:
            return Rexmit.RECENT, sent
        return Rexmit.RESEND, sent

    def _drop_oldest(self) -> None:
        seq, _ = self._kept.popitem(last=False)
        self.lowseq = seq


# -- what we are asking for -------------------------------------------------
class RexmitRequests:
    """Pending retransmission requests: (node name, seq) -> when to ask next."""

    def __init__(self) -> None:
        self._due: dict[tuple[str, int], float] = {}

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._due

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, node: str, seq: int, due: float) -> None:
        self._due[(node, seq)] = due

    def cancel(self, node: str, seqs) -> None:
        for seq in seqs:
            self._due.pop((node, seq), None)

    def cancel_node(self, node: str) -> None:
        for key in [k for k in self._due if k[0] == node]:
            del self._due[key]

    def pop_due(self, now: float) -> list[tuple[str, int]]:
        due = sorted((t, key) for key, t in self._due.items() if t <= now)
        for _, key in due:
            del self._due[key]
        return [key for _, key in due]

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)
