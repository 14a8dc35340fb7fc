"""The converted cluster, independent of any output syntax.

Every item carries the ``Origin`` it was made from, so each writer can say, beside what
it writes, which input line that came from. Lines that produce no item still get a
``LineFate``: mapped (with where), superseded (why nothing is needed) or not convertible.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    path: str
    first: int
    last: int

    def __str__(self) -> str:
        span = str(self.first) if self.last == self.first else f"{self.first}-{self.last}"
        return f"{self.path}:{span}"


class Fate(enum.Enum):
    MAPPED = "mapped"
    SUPERSEDED = "superseded"          # the new stack does it by itself; the reason says how
    NOT_CONVERTIBLE = "cannot be converted"


@dataclass(frozen=True)
class LineFate:
    origin: Origin
    fate: Fate
    text: str   # MAPPED: what it became; SUPERSEDED: why nothing is needed; else the reason

    def __str__(self) -> str:
        return f"{self.origin}: {self.fate.value}: {self.text}"


@dataclass(frozen=True)
class Op:
    name: str          # monitor, start, stop
    interval: str      # "0s" for start/stop
    timeout: str


@dataclass(frozen=True)
class Primitive:
    id: str
    standard: str                       # ocf | lsb | systemd
    provider: str | None                # heartbeat | pacemaker for ocf
    type: str
    params: tuple[tuple[str, str], ...]
    ops: tuple[Op, ...]
    origin: Origin
    token: str                          # the haresources token (or ping hosts) it came from, for comments

    @property
    def agent(self) -> str:
        return ":".join(p for p in (self.standard, self.provider, self.type) if p)


@dataclass(frozen=True)
class Group:
    id: str
    node: str                            # the node haresources prefers
    primitives: tuple[Primitive, ...]    # start order
    origin: Origin


@dataclass(frozen=True)
class Clone:
    id: str
    primitive: Primitive


@dataclass(frozen=True)
class Preference:
    """A group's location preference for its haresources node."""
    id: str
    rsc: str
    node: str
    score: int
    origin: Origin


@dataclass(frozen=True)
class ConnectivityRule:
    """A location rule on a ping attribute: ``score_attribute`` adds the attribute's value
    (one point per host seen), otherwise ``score`` is added where the attribute is above 0."""
    id: str
    rsc: str
    attribute: str
    score: int | None
    score_attribute: bool
    origin: Origin


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    origin: Origin | None      # None: not from a line (e.g. stonith-enabled, always written)
    why: str


@dataclass(frozen=True)
class Link:
    number: int
    iface: str
    origins: tuple[Origin, ...]
    port: int | None


@dataclass(frozen=True)
class Member:
    name: str
    nodeid: int
    addresses: tuple[str, ...]    # one per link, in link order
    origin: Origin


@dataclass(frozen=True)
class Corosync:
    cluster_name: str
    members: tuple[Member, ...]
    links: tuple[Link, ...]
    totem: tuple[Setting, ...]       # token, consensus, token_warning, ...
    quorum: tuple[Setting, ...]      # two_node, ...
    logging: tuple[Setting, ...]


@dataclass(frozen=True)
class Cluster:
    source: str                              # the ha.d directory read
    corosync: Corosync
    properties: tuple[Setting, ...]          # crm_config cluster options
    rsc_defaults: tuple[Setting, ...]
    groups: tuple[Group, ...]
    clones: tuple[Clone, ...]
    preferences: tuple[Preference, ...]
    rules: tuple[ConnectivityRule, ...]
    fates: tuple[LineFate, ...]              # every input line, in file order
    warnings: tuple[str, ...]                # said loudly by the command and in every output

    @property
    def problems(self) -> tuple[LineFate, ...]:
        return tuple(f for f in self.fates if f.fate is Fate.NOT_CONVERTIBLE)
