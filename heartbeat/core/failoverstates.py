"""The failover engine's state machines as data: states, events, and where each event leads.

Three machines of the original's `hb_resource.c` (spec config-and-resources §8.1, §14) live
in failover.py's `Failover`; their moves are written down here, in one place, and the engine
asks these tables instead of spreading the moves over its handlers:

- the nice_failback handshake (`resourcestate`): from `starting` to a stable node, and on to
  its shutdown; legacy mode knows only INIT and SHUTDOWN.
- standby (`going_standby`): the `ask_resources` exchange that hands groups over.
- shutdown: from the request to giving every group up (the original's shutdown flags).

A table lists, for each state, every event the engine handles in that state and the state it
leads to (itself when nothing moves). The engine fires a handshake or shutdown event only
where the table lists it (`after` raises `Unlisted` otherwise: a bug of the engine, never of
its input); a standby message the table does not list for the current state is what the original logs as
"Ignored standby message". `python3 -m heartbeat.core.failoverstates --mermaid` prints the
diagrams docs/architecture.md shows.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping
from typing import Generic, TypeVar


class State(enum.IntEnum):
    """resourcestate; the numbers appear in log lines."""
    INIT = 0
    STARTING = 1
    BOTHSTARTING = 2
    RSCRCVD = 3
    STABLE = 4
    SHUTDOWN = 5


class Standby(enum.IntEnum):
    """going_standby; the numbers appear in log lines, the names on the wire."""
    NOT = 0
    ME = 1
    OTHER = 2
    DONE = 3


class Shutdown(enum.Enum):
    """How far a shutdown got: giving the groups up waits for comm-up and for a stable cluster."""
    RUNNING = "running"
    ASKED = "asked"
    DELAYED = "delayed"
    RELEASING = "releasing"


class HandshakeEvent(enum.Enum):
    COMM_UP = "comm-up"
    COMM_UP_RESTARTED = "comm-up after a restart in place"
    PEER_STARTING = "peer's starting"
    REPORT = "resource report"
    PEER_STABLE = "the peer's report, the peer stable"
    RQSTDELAY = "RQSTDELAY over"
    OWN_SHUTDOWN_REPORT = "own resource info=shutdown"
    OWN_SHUTDONE = "own shutdone"
    GIVE_UP = "giving all groups up"


class StandbyEvent(enum.Enum):
    ME_OURS = "own ask me"
    ME_THEIRS = "peer's ask me"
    OTHER_OURS = "own ask other"
    OTHER_THEIRS = "peer's ask other"
    DONE_OURS = "own ask done"
    DONE_THEIRS = "peer's ask done"
    TIMEOUT = "standby timer over"
    PEER_DIED = "peer died"
    PEER_SHUTDONE = "peer's shutdone"


class ShutdownEvent(enum.Enum):
    ASK = "shutdown asked"
    IN_FLUX = "resources in flux"
    GIVE_UP = "giving all groups up"


S = TypeVar("S", State, Standby, Shutdown)
E = TypeVar("E", HandshakeEvent, StandbyEvent, ShutdownEvent)


class Unlisted(KeyError):
    """The engine fired an event its table does not list for the current state."""


class Machine(Generic[S, E]):
    def __init__(self, name: str, moves: Mapping[S, Mapping[E, S]]) -> None:
        self.name = name
        self.moves: Mapping[S, Mapping[E, S]] = moves

    def accepts(self, state: S, event: E) -> bool:
        return event in self.moves.get(state, {})

    def after(self, state: S, event: E) -> S:
        if not self.accepts(state, event):
            raise Unlisted(f"{self.name}: {event.name} in {state.name}")
        return self.moves[state][event]

    def transitions(self) -> list[tuple[S, E, S]]:
        return [(state, event, new) for state, moves in self.moves.items() for event, new in moves.items()]

    def mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    [*] --> {next(iter(self.moves)).name}"]
        lines += [f"    {state.name} --> {new.name}: {event.value}" for state, event, new in self.transitions()]
        lines += [f"    {state.name} --> [*]" for state, moves in self.moves.items() if not moves]
        return "\n".join(lines)


_H = HandshakeEvent
# Messages are handled from comm-up on, so INIT hears none of them. A `resource` report is
# REPORT first; a peer's isstable=1 then ends a transition (RSCRCVD), and our own report of
# a shutdown ends in SHUTDOWN. An authenticated node may send anything under our name: our
# own shutdone counts wherever it comes.
HANDSHAKE: Machine[State, HandshakeEvent] = Machine("handshake", {
    State.INIT: {_H.COMM_UP: State.STARTING, _H.COMM_UP_RESTARTED: State.STABLE,
                 _H.GIVE_UP: State.SHUTDOWN},
    State.STARTING: {_H.PEER_STARTING: State.BOTHSTARTING, _H.REPORT: State.RSCRCVD,
                     _H.OWN_SHUTDONE: State.SHUTDOWN, _H.GIVE_UP: State.SHUTDOWN},
    State.BOTHSTARTING: {_H.PEER_STARTING: State.BOTHSTARTING, _H.REPORT: State.RSCRCVD,
                         _H.OWN_SHUTDONE: State.SHUTDOWN, _H.GIVE_UP: State.SHUTDOWN},
    State.RSCRCVD: {_H.PEER_STARTING: State.RSCRCVD, _H.REPORT: State.RSCRCVD,
                    _H.PEER_STABLE: State.STABLE, _H.RQSTDELAY: State.STABLE,
                    _H.OWN_SHUTDOWN_REPORT: State.SHUTDOWN, _H.OWN_SHUTDONE: State.SHUTDOWN,
                    _H.GIVE_UP: State.SHUTDOWN},
    State.STABLE: {_H.PEER_STARTING: State.STABLE, _H.REPORT: State.STABLE,
                   _H.OWN_SHUTDOWN_REPORT: State.SHUTDOWN, _H.OWN_SHUTDONE: State.SHUTDOWN,
                   _H.GIVE_UP: State.SHUTDOWN},
    State.SHUTDOWN: {_H.PEER_STARTING: State.SHUTDOWN, _H.REPORT: State.SHUTDOWN,
                     _H.OWN_SHUTDOWN_REPORT: State.SHUTDOWN, _H.OWN_SHUTDONE: State.SHUTDOWN,
                     _H.GIVE_UP: State.SHUTDOWN},
})

_S = StandbyEvent
# The requester goes NOT -> ME -> (peer's other: it gives its groups up) -> DONE -> NOT; the
# peer goes NOT -> OTHER -> (requester's done: it takes them) -> DONE -> NOT. Our own `other`
# loops back to us in OTHER and changes nothing. A peer's shutdone makes us take whatever it
# ran, as a standby, from any state.
_ABORTS = {_S.TIMEOUT: Standby.NOT, _S.PEER_DIED: Standby.NOT, _S.PEER_SHUTDONE: Standby.DONE}
STANDBY: Machine[Standby, StandbyEvent] = Machine("standby", {
    Standby.NOT: {_S.ME_OURS: Standby.ME, _S.ME_THEIRS: Standby.OTHER, _S.PEER_SHUTDONE: Standby.DONE},
    Standby.ME: {_S.OTHER_THEIRS: Standby.ME, _S.DONE_OURS: Standby.DONE, **_ABORTS},
    Standby.OTHER: {_S.OTHER_OURS: Standby.OTHER, _S.DONE_THEIRS: Standby.DONE, **_ABORTS},
    Standby.DONE: {_S.DONE_OURS: Standby.NOT, _S.DONE_THEIRS: Standby.NOT, **_ABORTS},
})

_D = ShutdownEvent
# Asked before comm-up, a shutdown waits for it; then, or when asked later, the groups are given
# up at once if the cluster is stable, else once it is (or SHUTDOWN_FLUX_WAIT, or the emergency
# timeout, forces it). The end, our own shutdone looped back, is no phase: the daemon stops.
SHUTDOWN: Machine[Shutdown, ShutdownEvent] = Machine("shutdown", {
    Shutdown.RUNNING: {_D.ASK: Shutdown.ASKED},
    Shutdown.ASKED: {_D.IN_FLUX: Shutdown.DELAYED, _D.GIVE_UP: Shutdown.RELEASING},
    Shutdown.DELAYED: {_D.IN_FLUX: Shutdown.DELAYED, _D.GIVE_UP: Shutdown.RELEASING},
    Shutdown.RELEASING: {},
})

_ASKS = {("me", True): _S.ME_OURS, ("me", False): _S.ME_THEIRS,
         ("other", True): _S.OTHER_OURS, ("other", False): _S.OTHER_THEIRS,
         ("done", True): _S.DONE_OURS, ("done", False): _S.DONE_THEIRS}


def standby_event(info: str, ours: bool) -> StandbyEvent | None:
    """The event an `ask_resources` with `info` is; None for an info the protocol lacks."""
    return _ASKS.get((info, ours))


def mermaid() -> str:
    """The diagrams docs/architecture.md shows between its failover-states markers."""
    parts = []
    for machine in (HANDSHAKE, STANDBY, SHUTDOWN):
        parts += [f"{machine.name}:", "", "```mermaid", machine.mermaid(), "```", ""]
    return "\n".join(parts[:-1])


if __name__ == "__main__":
    if sys.argv[1:] != ["--mermaid"]:
        sys.exit("usage: python3 -m heartbeat.core.failoverstates --mermaid")
    print(mermaid())
