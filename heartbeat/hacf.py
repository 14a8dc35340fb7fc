"""ha.cf: the typed, immutable configuration model.

The strict parser that fills it lives in this module too (``parse_hacf``).
Times are integers in milliseconds. Node names are lower case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Union


# -- media ---------------------------------------------------------------
@dataclass(frozen=True)
class Bcast:
    iface: str

    @property
    def link(self) -> str:
        return self.iface


@dataclass(frozen=True)
class Mcast:
    iface: str
    group: str
    port: int
    ttl: int
    loop: bool

    @property
    def link(self) -> str:
        return self.iface


@dataclass(frozen=True)
class Ucast:
    iface: str
    peer: str  # as written: an IPv4 literal or a host name

    @property
    def link(self) -> str:
        return self.iface


@dataclass(frozen=True)
class Serial:
    device: str

    @property
    def link(self) -> str:
        return self.device


@dataclass(frozen=True)
class Ping:
    host: str  # also the ping node's name, exactly as written

    @property
    def link(self) -> str:
        return self.host


@dataclass(frozen=True)
class PingGroup:
    name: str
    hosts: tuple[str, ...]

    @property
    def link(self) -> str:
        return self.name


Medium = Union[Bcast, Mcast, Ucast, Serial, Ping, PingGroup]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """Lower-case A-Z only, as the daemon (and awk in the C locale) does to node names."""
    return name.translate(_ASCII_LOWER)


class AutoFailback(enum.Enum):
    ON = "on"
    OFF = "off"
    LEGACY = "legacy"

    @property
    def nice_failback(self) -> bool:
        return self is not AutoFailback.LEGACY


@dataclass(frozen=True)
class Respawn:
    user: str
    argv: tuple[str, ...]
    failfast: bool = False  # `failfast` lines: the node reboots when the child dies


@dataclass(frozen=True)
class ApiAuth:
    client: str
    uids: tuple[str, ...]
    gids: tuple[str, ...]


@dataclass(frozen=True)
class Warning_:
    """A non-fatal remark the daemon logs at start (line may be None)."""
    line: int | None
    level: str  # "WARN" or "info" or "ERROR" (logged, but not fatal)
    text: str


@dataclass(frozen=True)
class HaCf:
    path: str
    nodes: tuple[str, ...]                 # lower case, in file order
    media: tuple[Medium, ...]              # file order; one entry per bcast iface / ping host
    keepalive_ms: int = 1000
    deadtime_ms: int = 30000
    warntime_ms: int = 15000
    initdead_ms: int = 60000
    deadping_ms: int = 30000
    udpport: int = 694
    baud: int = 19200
    auto_failback: AutoFailback = AutoFailback.LEGACY
    hopfudge: int = 1
    logfile: str | None = None
    debugfile: str | None = None
    logfacility: str | None = None         # None when unset or "none"
    use_logd: bool | None = None
    syslogmsgfmt: bool = True
    debug: int = 0
    realtime: bool = True
    msgfmt: str = "classic"                # "classic" | "netstring"
    max_rexmit_delay_ms: int = 250
    hbgenmethod: str = "file"              # "file" | "time"
    autojoin: str = "none"                 # "none" | "other" | "any"
    uuidfrom: str = "file"                 # "file" | "nodename"
    env: tuple[tuple[str, str], ...] = ()  # `env NAME=value` → HA_NAME=value
    apiauth: tuple[ApiAuth, ...] = ()
    respawn: tuple[Respawn, ...] = ()
    watchdog: str | None = None
    # every directive's value as recorded by the original (cl_status hbparameter, API getparm),
    # defaults included in their recorded form, e.g. {"keepalive": "1", "deadtime": "30000ms"}
    recorded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[Warning_, ...] = ()

    @property
    def ping_nodes(self) -> tuple[str, ...]:
        names = []
        for m in self.media:
            if isinstance(m, Ping):
                names.append(m.host)
            elif isinstance(m, PingGroup):
                names.append(m.name)
        return tuple(names)
