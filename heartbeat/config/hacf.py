"""ha.cf: the typed, immutable configuration model and its strict parser (``parse_hacf``).

Times are integers in milliseconds. Node names are lower case.

The parser accepts every configuration the original daemon accepts and uses (spec §3),
rejects with file:line everything it rejects, and also rejects what it would silently
misuse (udpport after the media that already latched the old port, features that
pyheartbeat does not implement). What the original silently ignores becomes a warning.
Every directive is one row of ``DIRECTIVES``: how its value is parsed, where it is stored,
its default and whether it is recorded for ``cl_status hbparameter``.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Union
from collections.abc import Mapping

from heartbeat.config.errors import Problems, Warning_, numbered_lines, read_config
from heartbeat.config.nodename import ascii_lower

__all__ = ["Bcast", "Mcast", "Ucast", "Serial", "Ping", "PingGroup", "Medium", "AutoFailback",
           "Respawn", "ApiAuth", "Warning_", "HaCf", "Kind", "Directive", "DIRECTIVES",
           "ascii_lower", "parse_time_ms", "parse_hacf", "load_hacf"]

# where a medium, a client child or an API permission was written; not part of its identity
_LINE = field(default=None, compare=False, repr=False)


# -- media ---------------------------------------------------------------
@dataclass(frozen=True)
class Bcast:
    iface: str
    line: int | None = _LINE

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
    line: int | None = _LINE

    @property
    def link(self) -> str:
        return self.iface


@dataclass(frozen=True)
class Ucast:
    iface: str
    peer: str  # as written: an IPv4 literal or a host name
    line: int | None = _LINE

    @property
    def link(self) -> str:
        return self.iface


@dataclass(frozen=True)
class Serial:
    device: str
    line: int | None = _LINE

    @property
    def link(self) -> str:
        return self.device


@dataclass(frozen=True)
class Ping:
    host: str  # as written; the ping node's name is its lower-case form
    line: int | None = _LINE

    @property
    def link(self) -> str:
        return self.host


@dataclass(frozen=True)
class PingGroup:
    name: str
    hosts: tuple[str, ...]
    line: int | None = _LINE

    @property
    def link(self) -> str:
        return self.name


Medium = Union[Bcast, Mcast, Ucast, Serial, Ping, PingGroup]


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
    line: int | None = _LINE


@dataclass(frozen=True)
class ApiAuth:
    client: str
    uids: tuple[str, ...]
    gids: tuple[str, ...]
    line: int | None = _LINE  # None for the daemon's built-in defaults


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
    env: tuple[tuple[str, str], ...] = ()  # (NAME, value) as written; the daemon exports HA_NAME=value
    apiauth: tuple[ApiAuth, ...] = ()      # explicit lines first, then the built-in defaults
    respawn: tuple[Respawn, ...] = ()      # `respawn` and `failfast` lines in file order
    watchdog: str | None = None
    cluster: str = "linux-ha"
    quorum_server: str | None = None
    rtprio: int | None = None
    coredumps: bool = True
    coreroot: str | None = None
    conn_logd_time_ms: int = 60000
    log_badpack: bool = True
    use_apphbd: bool | None = None
    compression: str = "zlib"              # "zlib" | "bz2"
    compression_threshold_kb: int = 2
    traditional_compression: bool = False
    memreserve_kb: int = 6500
    crm_daemon_dir: str | None = None      # pacemaker-only settings: parsed, stored, unused
    crmd_spawns_pengine: bool | None = None
    record_config_changes: bool = True
    record_pengine_inputs: bool = True
    enable_config_writes: bool = True
    # every directive's value as recorded by the original (cl_status hbparameter, API getparm),
    # defaults included in their recorded form, e.g. {"keepalive": "1", "deadtime": "30000ms"}
    recorded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # directive -> last line
    warnings: tuple[Warning_, ...] = ()

    @property
    def ping_nodes(self) -> tuple[str, ...]:
        """The ping pseudo-nodes' names: their medium's host or group name, lower-cased as
        the daemon lower-cases every node name (the medium keeps the name as written)."""
        return tuple(ascii_lower(m.link) for m in self.media if isinstance(m, (Ping, PingGroup)))


# -- lexical rules and limits of the original (spec §3.1) --------------------
MAX_LINE_BYTES = 5118          # fgets(buf, 5120) with the newline
MAX_NODES = 100                # MAXNODE, ping nodes included
MAX_MEDIA = 64                 # MAXMEDIA
HOSTLENG = 100                 # node names are copied into char[100]
DEFAULT_UDPPORT = 694
_WHITESPACE = " \t\n\r\f"
_DELIMS = "," + _WHITESPACE
_FIELDS = re.compile(f"[^{_WHITESPACE}]+")
_OPTIONS = re.compile(f"[^{_DELIMS}]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
# bounded so int() never meets a 5000-digit token; every range here is far smaller
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
_UNSIGNED = re.compile(r"[0-9]{1,12}")
_TRUE = ("true", "on", "yes", "y", "1")
_FALSE = ("false", "off", "no", "n", "0")
_FACILITIES = ("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
               "security", "syslog", "user", "uucp") + tuple(f"local{i}" for i in range(8))
_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800)
_PACEMAKER_MODES = ("minimal", "manual", "respawn", "ccm-only", "valgrind")
# what the daemon grants well-known API clients unless an apiauth line overrides it
_DEFAULT_APIAUTH = (ApiAuth("ipfail", ("hacluster",), ()), ApiAuth("ccm", ("hacluster",), ()),
                    ApiAuth("ping", (), ("haclient",)), ApiAuth("lha-snmpagent", ("root",), ()),
                    ApiAuth("anon", ("root",), ("haclient",)))
_UNSUPPORTED_MEDIA = ("mcast6", "ucast6", "ping6", "hbaping", "tipc", "rds")


class Invalid(Exception):
    """A value the directive does not accept; the message is the whole reason."""


# -- value types (spec §3.2) -------------------------------------------------
def parse_time_ms(text: str) -> int:
    """A heartbeat time: seconds, or a number followed by ms/msec/us/usec; rounded to ms.

    ValueError if ``text`` is not one (``2s`` is not: ``s`` is no unit).
    """
    number = _NUMBER.match(text)
    if number is None:
        raise ValueError(text)
    unit = text[number.end():].lower()
    scale = {"": 1000.0, "ms": 1.0, "msec": 1.0, "us": 0.001, "usec": 0.001}.get(unit)
    if scale is None:
        raise ValueError(text)
    ms = float(number.group()) * scale + 0.5    # the original rounds a double the same way
    if not math.isfinite(ms) or ms >= 2 ** 63:
        raise ValueError(text)
    return int(ms)


def _time(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, text: str) -> int:
        try:
            ms = parse_time_ms(text)
        except ValueError:
            raise Invalid(f"Invalid {name} [{text}]: a time is a number of seconds (2, 0.5) or a "
                          "number followed by ms or us (500ms); 's' is not a unit") from None
        if ms < minimum:
            raise Invalid(f"Invalid {name} [{text}]: must be at least {minimum}ms")
        return ms
    return parse


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, text: str) -> int:
        if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
            raise Invalid(f"Invalid {name} [{text}]: must be an integer from {low} to {high}")
        return int(text)
    return parse


def _boolean(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise Invalid(f"Invalid {name} [{text}]: must be a boolean (on/off, yes/no, true/false, y/n, 1/0)")


def _choice(*values: str, fold_case: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        key = text.lower() if fold_case else text
        if key not in values:
            raise Invalid(f"Invalid {name} directive [{text}]: must be one of {', '.join(values)}")
        return key
    return parse


def _text(name: str, text: str) -> str:
    return text


def _facility(name: str, text: str) -> str | None:
    if text == "none":
        return None
    if text not in _FACILITIES:
        raise Invalid(f"Log facility({text}) not valid: one of {', '.join(_FACILITIES)} or none")
    return text


def _baud(name: str, text: str) -> int:
    if not _UNSIGNED.fullmatch(text) or int(text) not in _BAUDS:
        raise Invalid(f"invalid baudrate [{text}] specified: one of {', '.join(map(str, _BAUDS))}")
    return int(text)


def _node(name: str, text: str) -> str:
    if len(text.encode("utf-8", "surrogateescape")) >= HOSTLENG:
        raise Invalid(f"node name [{text}] is longer than {HOSTLENG - 1} bytes")
    return ascii_lower(text)


def _auto_failback(name: str, text: str) -> AutoFailback:
    if text.lower() == "legacy":
        return AutoFailback.LEGACY
    try:
        return AutoFailback.ON if _boolean(name, text) else AutoFailback.OFF
    except Invalid:
        raise Invalid(f"Invalid auto_failback [{text}]: must be on, off or legacy") from None


def _pacemaker(name: str, text: str) -> bool:
    if text.lower() in _PACEMAKER_MODES:
        return True
    try:
        return _boolean(name, text)
    except Invalid:
        raise Invalid(f"Invalid {name} [{text}]: must be a boolean or one of "
                      f"{', '.join(_PACEMAKER_MODES)}") from None


def _env(name: str, text: str) -> tuple[str, str]:
    env_name, sep, value = text.partition("=")
    if not env_name or not sep:
        raise Invalid(f"set_env: invalid nvpair({text}): must be NAME=value")
    return env_name, value


# -- whole-line directives: a list of whitespace-separated fields ---------------
def _mcast(name: str, fields: list[str]) -> Mcast:
    if not fields:
        raise Invalid("mcast needs: interface group port ttl loop")
    dev = fields[0]
    labels = ("missing mcast address", "missing port", "missing ttl", "missing loop")
    if len(fields) < 5:
        raise Invalid(f"mcast [{dev}] {labels[len(fields) - 1]}")
    group, port, ttl, loop = fields[1:5]
    try:
        if not ipaddress.IPv4Address(group).is_multicast:
            raise ValueError
    except ValueError:
        raise Invalid(f"mcast [{dev}] bad addr [{group}]: must be an IPv4 address in 224.0.0.0/4") from None
    return Mcast(dev, group, _field(dev, "port", port, 1, 65535), _field(dev, "ttl", ttl, 0, 4),
                 bool(_field(dev, "loop", loop, 0, 1)))


def _field(dev: str, label: str, text: str, low: int, high: int) -> int:
    if not _UNSIGNED.fullmatch(text) or not low <= int(text) <= high:
        raise Invalid(f"mcast [{dev}] bad {label} [{text}]: must be {low}..{high}")
    return int(text)


def _ucast(name: str, fields: list[str]) -> Ucast:
    if not fields:
        raise Invalid("ucast needs: interface peer")
    if len(fields) < 2:
        raise Invalid(f"ucast: [{fields[0]}] missing target IP address/hostname")
    return Ucast(fields[0], fields[1])


def _ping_group(name: str, fields: list[str]) -> PingGroup:
    if len(fields) < 2:
        raise Invalid("ping_group needs a group name and at least one host")
    return PingGroup(fields[0], tuple(fields[1:]))


def _bcast(name: str, text: str) -> Bcast:
    return Bcast(text)


def _ping(name: str, text: str) -> Ping:
    return Ping(text)


def _serial(name: str, text: str) -> Serial:
    if not text.startswith("/"):
        raise Invalid(f"Serial port not full pathname [{text}] in config file")
    return Serial(text)


def _apiauth(name: str, fields: list[str]) -> ApiAuth:
    written = " ".join(fields)
    lists: dict[str, tuple[str, ...]] = {}
    for f in fields[1:]:
        kind, sep, values = f.partition("=")
        if kind not in ("uid", "gid") or not sep:
            raise Invalid(f"Invalid apiauth directive [{written}]: Missing uid or gid in apiauth")
        if kind in lists:
            raise Invalid(f"Invalid apiauth directive [{written}]: Duplicate {kind} list in apiauth")
        lists[kind] = tuple(v for v in values.split(",") if v)
        if not lists[kind]:
            raise Invalid(f"Invalid apiauth directive [{written}]: empty {kind} list")
    if not fields or not lists:
        raise Invalid(f"Invalid apiauth directive [{written}]: "
                      "Syntax: apiauth client [uid=uidlist] [gid=gidlist]")
    return ApiAuth(fields[0], lists.get("uid", ()), lists.get("gid", ()))


def _child(failfast: bool) -> Callable[[str, list[str]], Respawn]:
    def parse(name: str, fields: list[str]) -> Respawn:
        if len(fields) < 2 or not fields[1].startswith("/"):
            command = " ".join(fields[1:])
            raise Invalid(f"Client child command [{command}] is not full pathname")
        return Respawn(fields[0], tuple(fields[1:]), failfast)
    return parse


def _refuse(reason: str) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> Any:
        raise Invalid(reason)
    return parse


# -- the directive table ----------------------------------------------------------
# (builder, directive, value, value as written, line) -> whether to store the value
Hook = Callable[["_Builder", str, Any, Any, "int | None"], bool]


class Kind(enum.Enum):
    OPTION = "option"   # values split on commas and whitespace; each applied alone
    LINE = "line"       # the rest of the line, split on whitespace, applied once


@dataclass(frozen=True)
class Directive:
    kind: Kind
    parse: Callable[[str, Any], Any]   # (directive, token or fields) -> value; raises Invalid
    field: str | None = None           # HaCf field the value goes to
    default: str | None = None         # the original's default, applied (and recorded) at the end
    record: bool = True                # recorded as written for cl_status hbparameter
    many: bool = False                 # every value is kept (appended), not the last one
    fields: int | None = None          # LINE: fields used; more are ignored with a warning
    hook: Hook | None = None           # a rule beyond the value itself; returning False refuses it


def _option(parse: Callable[[str, str], Any], field: str | None = None, default: str | None = None,
            **kw: Any) -> Directive:
    return Directive(Kind.OPTION, parse, field, default, **kw)


def _line(parse: Callable[[str, list[str]], Any], field: str | None = None, **kw: Any) -> Directive:
    return Directive(Kind.LINE, parse, field, record=False, many=True, **kw)


class _Builder:
    """Mutable state of one parse: values by HaCf field, what was recorded, and problems."""

    def __init__(self, path: str) -> None:
        self.problems = Problems(path)
        self.values: dict[str, Any] = {}
        self.lists: dict[str, list[Any]] = {"nodes": [], "media": [], "env": [], "apiauth": [],
                                            "respawn": []}
        self.recorded: dict[str, str] = {}
        self.lines: dict[str, int] = {}
        self.nice_failback = False              # set by auto_failback on/off, read by nice_failback
        self.port_latch: tuple[int, int] | None = None   # (line, port) of the first bcast/ucast
        self.baud_latch: tuple[int, int] | None = None   # (line, baud) of the first serial
        self.pacemaker_seen = False

    def warn(self, line: int | None, text: str, level: str = "WARN") -> None:
        self.problems.warn(line, text, level)

    def error(self, line: int | None, reason: str) -> None:
        self.problems.error(line, reason)

    def apply(self, name: str, written: Any, line: int | None) -> None:
        d = DIRECTIVES[name]
        try:
            value = d.parse(name, written)
        except Invalid as e:
            self.error(line, str(e))
            return
        if d.hook is not None and not d.hook(self, name, value, written, line):
            return
        if line is not None and not d.many and name in self.lines:
            self.warn(line, f"{name} given again (line {self.lines[name]} before); "
                            f"the last value [{written}] wins")
        if d.record:
            self.recorded[name] = written
        if line is not None:
            self.lines[name] = line
        if d.field is None:
            return
        if d.many:
            # media, apiauth, respawn: remember their line
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.replace(value, line=line)
            self.lists[d.field].append(value)
        else:
            self.values[d.field] = value

    def value(self, name: str) -> Any:
        """The current value of a directive's field, or HaCf's default."""
        f = DIRECTIVES[name].field
        assert f is not None
        return self.values.get(f, _FIELD_DEFAULTS[f])


_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(HaCf)
                   if f.default is not dataclasses.MISSING}


# -- hooks: the rules that look beyond one value ------------------------------------
def _once(message: str) -> Hook:
    def hook(b: _Builder, name: str, value: Any, written: str, line: int | None) -> bool:
        if name in b.lines:
            b.error(line, f"{message} (first on line {b.lines[name]})")
            return False
        return True
    return hook


def _node_hook(b: _Builder, name: str, value: str, written: str, line: int | None) -> bool:
    if value in b.lists["nodes"]:
        b.warn(line, f"node [{value}] declared twice")
    return _room_for_node(b, line)


def _room_for_node(b: _Builder, line: int | None) -> bool:
    pings = sum(isinstance(m, (Ping, PingGroup)) for m in b.lists["media"])
    if len(b.lists["nodes"]) + pings >= MAX_NODES:
        b.error(line, f"too many nodes (at most {MAX_NODES}, ping nodes included)")
        return False
    return True


def _medium_hook(b: _Builder, name: str, value: Medium, written: Any, line: int | None) -> bool:
    if len(b.lists["media"]) >= MAX_MEDIA:
        b.error(line, f"Too many media specified (> {MAX_MEDIA})")
        return False
    if any(type(m) is type(value) and m == value for m in b.lists["media"]):
        b.warn(line, f"{name} [{value.link}] given twice")
    if isinstance(value, (Ping, PingGroup)):
        return _room_for_node(b, line)
    # the bcast/ucast plugins read udpport once, when their first medium is created;
    # serial reads baud when it is loaded
    if isinstance(value, (Bcast, Ucast)) and b.port_latch is None and line is not None:
        b.port_latch = (line, b.value("udpport"))
    if isinstance(value, Serial) and b.baud_latch is None and line is not None:
        b.baud_latch = (line, b.value("baud"))
    return True


def _precede(latch_attr: str, what: str) -> Hook:
    """A setting that media read when they are created must come before those media."""
    def hook(b: _Builder, name: str, value: int, written: str, line: int | None) -> bool:
        latch = getattr(b, latch_attr)
        if latch is not None and latch[1] != value:
            b.error(line, f"{name} must precede media statements: the {what} medium on line "
                          f"{latch[0]} already uses {latch[1]}, so [{value}] would not apply to it")
            return False
        return True
    return hook


def _baud_hook(b: _Builder, name: str, value: int, written: str, line: int | None) -> bool:
    return (_once("Baudrate multiply specified.")(b, name, value, written, line)
            and _precede("baud_latch", "serial")(b, name, value, written, line))


def _auto_failback_hook(b: _Builder, name: str, value: AutoFailback, written: str,
                        line: int | None) -> bool:
    b.nice_failback = value.nice_failback
    return True


def _nice_failback_hook(b: _Builder, name: str, value: bool, written: str, line: int | None) -> bool:
    """The obsolete directive: messages and effect exactly as the original (spec §3.3)."""
    b.warn(line, "nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead.", "ERROR")
    if b.nice_failback:
        b.warn(line, f"'nice_failback {written}' has been changed to 'auto_failback off'", "ERROR")
        b.values["auto_failback"] = AutoFailback.OFF
    else:
        # legacy regardless of the value: a quirk of the original, kept
        b.warn(line, f"nice_failback {written} has been strictly interpreted as "
                     "'auto_failback legacy'", "ERROR")
        b.warn(line, "Consider converting to 'auto_failback on'.", "ERROR")
        b.warn(line, "When you do, then you can use ipfail, and hb_standby", "ERROR")
        b.values["auto_failback"] = AutoFailback.LEGACY
    b.warn(line, "See documentation for details.", "ERROR")
    return True


def _pacemaker_hook(b: _Builder, name: str, value: bool, written: str, line: int | None) -> bool:
    if b.pacemaker_seen:
        b.error(line, "pacemaker/crm directive used multiple times!")
        return False
    b.pacemaker_seen = True
    b.warn(line, f"Pacemaker support: {written}", "info")
    if value:
        b.error(line, "pacemaker/crm mode is not supported: "
                      "pyheartbeat runs haresources (v1) clusters only")
        return False
    return True


def _before_pacemaker(b: _Builder, name: str, value: Any, written: str, line: int | None) -> bool:
    if "pacemaker" in b.recorded:
        b.error(line, f"If you specify {name}, it must come before the pacemaker directive")
        return False
    return True


def _use_logd_hook(b: _Builder, name: str, value: bool, written: str, line: int | None) -> bool:
    if value:
        b.warn(line, "Enabling logging daemon ", "info")
        b.warn(line, "logfile and debug file are those specified in logd config file "
                     "(default /etc/logd.cf)", "info")
    else:
        b.warn(line, "Logging daemon is disabled --enabling logging daemon is recommended")
    return True


def _apiauth_hook(b: _Builder, name: str, value: ApiAuth, written: Any, line: int | None) -> bool:
    if any(a.client == value.client for a in b.lists["apiauth"]):
        b.error(line, f"Duplicate apiauth directive for API client {value.client}")
        return False
    return True


_UNSUPPORTED = {
    **{m: _line(_refuse(f"{m} media are not supported: pyheartbeat speaks bcast, mcast, ucast, "
                        "serial, ping and ping_group")) for m in _UNSUPPORTED_MEDIA},
    "stonith": _line(_refuse("STONITH devices are not supported")),
    "stonith_host": _line(_refuse("STONITH devices are not supported")),
}

# The original's Directives[] order (defaults are applied, and logged, in this order),
# then its whole-line directives, then the media plugins.
DIRECTIVES: Mapping[str, Directive] = MappingProxyType({
    "cluster": _option(_text, "cluster", "linux-ha"),
    "node": _option(_node, "nodes", record=False, many=True, hook=_node_hook),
    "hopfudge": _option(_integer(0, 255), "hopfudge", "1"),
    "keepalive": _option(_time(1), "keepalive_ms", "1000ms"),
    "deadtime": _option(_time(0), "deadtime_ms", "30000ms"),
    "deadping": _option(_time(0), "deadping_ms"),
    "initdead": _option(_time(0), "initdead_ms"),
    "warntime": _option(_time(1), "warntime_ms"),
    "watchdog": _option(_text, "watchdog", hook=_once("Watchdog device multiply specified.")),
    "baud": _option(_baud, "baud", "19200", hook=_baud_hook),
    "udpport": _option(_integer(1, 65535), "udpport", hook=_precede("port_latch", "bcast/ucast")),
    "logfacility": _option(_facility, "logfacility"),
    "logfile": _option(_text, "logfile"),
    "debugfile": _option(_text, "debugfile"),
    "nice_failback": _option(_boolean, record=False, hook=_nice_failback_hook),
    "auto_failback": _option(_auto_failback, "auto_failback", "legacy", hook=_auto_failback_hook),
    "rtprio": _option(_integer(1, 99), "rtprio"),
    "hbgenmethod": _option(_choice("file", "time"), "hbgenmethod", "file"),
    "realtime": _option(_boolean, "realtime", "true"),
    "debug": _option(_integer(0, 255), "debug"),
    "msgfmt": _option(_choice("classic", "netstring"), "msgfmt", "classic"),
    "use_logd": _option(_boolean, "use_logd", hook=_use_logd_hook),
    "conn_logd_time": _option(_time(1), "conn_logd_time_ms", "60"),
    "use_apphbd": _option(_boolean, "use_apphbd", record=False),
    "log_badpack": _option(_boolean, "log_badpack", "true"),
    "syslogmsgfmt": _option(_boolean, "syslogmsgfmt", "true"),
    "coredumps": _option(_boolean, "coredumps", "true"),
    "coreroot": _option(_text, "coreroot"),
    "crm_daemon_dir": _option(_text, "crm_daemon_dir", hook=_before_pacemaker),
    "crmd_spawns_pengine": _option(_boolean, "crmd_spawns_pengine", hook=_before_pacemaker),
    "pacemaker": _option(_pacemaker, default="false", hook=_pacemaker_hook),
    "autojoin": _option(_choice("none", "other", "any", fold_case=True), "autojoin", "none"),
    "uuidfrom": _option(_choice("file", "nodename"), "uuidfrom", "file"),
    "compression": _option(_choice("zlib", "bz2"), "compression", "zlib"),
    "compression_threshold": _option(_integer(1, 2 ** 31 // 1024 - 1), "compression_threshold_kb", "2"),
    "traditional_compression": _option(_boolean, "traditional_compression", "no"),
    "env": _option(_env, "env", record=False, many=True),
    "max_rexmit_delay": _option(_integer(1, 2 ** 31 - 1), "max_rexmit_delay_ms", "250"),
    "record_config_changes": _option(_boolean, "record_config_changes", "on"),
    "record_pengine_inputs": _option(_boolean, "record_pengine_inputs", "on"),
    "enable_config_writes": _option(_boolean, "enable_config_writes", "on"),
    "memreserve": _option(_integer(1, 2 ** 31 - 1), "memreserve_kb", "6500"),
    "quorum_server": _option(_text, "quorum_server"),
    "apiauth": _line(_apiauth, "apiauth", hook=_apiauth_hook),
    "respawn": _line(_child(False), "respawn"),
    "failfast": _line(_child(True), "respawn"),
    "bcast": _option(_bcast, "media", record=False, many=True, hook=_medium_hook),
    "mcast": _line(_mcast, "media", fields=5, hook=_medium_hook),
    "ucast": _line(_ucast, "media", fields=2, hook=_medium_hook),
    "serial": _option(_serial, "media", record=False, many=True, hook=_medium_hook),
    "ping": _option(_ping, "media", record=False, many=True, hook=_medium_hook),
    "ping_group": _line(_ping_group, "media", hook=_medium_hook),
    **_UNSUPPORTED,
})

# Directive names the original rewrites before looking them up.
ALIASES: Mapping[str, str] = MappingProxyType({"crm": "pacemaker", "udp": "bcast"})


# -- parsing ------------------------------------------------------------------------
def parse_hacf(text: str, path: str) -> HaCf:
    """Parse ha.cf text; raise ConfigErrors listing every problem.

    As in the original, the whole-configuration checks run only when every line parsed.
    """
    b = _Builder(path)
    for number, line in numbered_lines(text, MAX_LINE_BYTES, b.problems):
        _parse_line(b, number, line)
    b.problems.raise_if_any()
    _finish(b)
    b.problems.raise_if_any()
    values = dict(b.values)
    values.update({name: tuple(items) for name, items in b.lists.items()})
    return HaCf(path=path, recorded=MappingProxyType(dict(b.recorded)),
                lines=MappingProxyType(dict(b.lines)), warnings=tuple(b.problems.warnings), **values)


def load_hacf(path: str) -> HaCf:
    text, _mode = read_config(path, f"Cannot open config file [{path}]")
    return parse_hacf(text, path)


def _parse_line(b: _Builder, number: int, line: str) -> None:
    # a comment runs from the first '#' anywhere; text after a CR is dropped, like the original
    body = line.split("#", 1)[0].split("\r", 1)[0].lstrip(_WHITESPACE)
    if not body:
        return
    # body is not empty and starts with no blank, so this matches
    name = _FIELDS.match(body).group()   # type: ignore[union-attr]
    rest = body[len(name):]
    if name == "udp":
        b.warn(number, "WARNING: directive 'udp' replaced by 'bcast'")
    name = ALIASES.get(name, name)
    d = DIRECTIVES.get(name)
    if d is None:
        known = {n.lower(): n for n in list(DIRECTIVES) + list(ALIASES)}
        hint = f" (directives are case-sensitive: [{known[name.lower()]}]?)" if name.lower() in known else ""
        b.error(number, f"Illegal directive [{name}]{hint}")
        return
    if d.kind is Kind.LINE:
        fields = _FIELDS.findall(rest)
        if d.fields is not None and len(fields) > d.fields:
            b.warn(number, f"{name}: extra text ignored: [{' '.join(fields[d.fields:])}]")
            fields = fields[:d.fields]
        b.apply(name, fields, number)
        return
    tokens = _OPTIONS.findall(rest)
    if not tokens:
        b.warn(number, f"{name} without a value is ignored")
    for token in tokens:
        b.apply(name, token, number)


def _finish(b: _Builder) -> None:
    """Defaults and whole-configuration checks, in the original's order (spec §3.3)."""
    _apply_defaults(b)
    if not b.lists["media"]:
        b.error(None, "No heartbeat media defined")
    keepalive, deadtime = b.value("keepalive"), b.value("deadtime")
    _computed(b, "warntime", deadtime // 2)
    _check_nodes(b)
    _check_timing(b, keepalive, deadtime)
    if "udpport" not in b.recorded:
        b.recorded["udpport"] = str(DEFAULT_UDPPORT)
    if b.value("auto_failback") is AutoFailback.LEGACY:
        for text in ("Deprecated 'legacy' auto_failback option selected.",
                     "Please convert to 'auto_failback on'.", "See documentation for conversion details."):
            b.warn(b.lines.get("auto_failback"), text)
    _check_logging(b)
    explicit = {a.client for a in b.lists["apiauth"]}
    b.lists["apiauth"] += [a for a in _DEFAULT_APIAUTH if a.client not in explicit]
    if b.value("autojoin") != "none":
        b.error(b.lines.get("autojoin"), "R1 style resource management conflicts with  autojoin set: "
                                         "unset autojoin (pacemaker/crm is not supported)")


def _apply_defaults(b: _Builder) -> None:
    """Every directive the file leaves out takes its default, as if written last."""
    for name, d in DIRECTIVES.items():
        if d.default is not None and name not in b.recorded:
            b.apply(name, d.default, None)
    b.recorded.setdefault("debug", "0")


def _check_nodes(b: _Builder) -> None:
    """A cluster needs nodes (unless any node may join), and none of them may also be pinged."""
    if not b.lists["nodes"] and b.value("autojoin") != "any":
        b.error(None, "no nodes defined")
    for medium in b.lists["media"]:
        if isinstance(medium, (Ping, PingGroup)) and ascii_lower(medium.link) in b.lists["nodes"]:
            b.error(medium.line, f"ping node [{ascii_lower(medium.link)}] is also a cluster node "
                                 "(node directive): a cluster node is watched by its heartbeats, not pinged")


def _check_timing(b: _Builder, keepalive: int, deadtime: int) -> None:
    """Deadtime, warntime, initdead and deadping against keepalive and each other."""
    time_line = b.lines.get("deadtime", b.lines.get("keepalive"))
    if deadtime <= 2 * keepalive:
        b.error(time_line, f"Dead time [{deadtime}] is too small compared to keeplive [{keepalive}]")
    if b.value("warntime") >= deadtime:
        b.warn(b.lines.get("warntime", time_line),
               f"Warn time [{b.value('warntime')} ms] is not smaller than deadtime [{deadtime} ms]: "
               "no late heartbeat will ever be warned about")
    _computed(b, "initdead", deadtime if deadtime > 10000 else 12000 if deadtime < 6000 else 2 * deadtime)
    _check_initdead(b, deadtime)
    if "deadping" in b.recorded:
        if b.value("deadping") <= 2 * keepalive:
            b.error(b.lines["deadping"], f"Ping dead time [{b.value('deadping')}] is too small "
                                         f"compared to keeplive [{keepalive}]")
    else:
        _computed(b, "deadping", deadtime)


def _computed(b: _Builder, name: str, ms: int) -> None:
    """A default derived from other values, recorded as `<n>ms` like the original."""
    if name not in b.recorded:
        # warntime, initdead and deadping, the computed ones, each name their field
        b.values[DIRECTIVES[name].field] = ms   # type: ignore[index]
        b.recorded[name] = f"{ms}ms"


def _check_initdead(b: _Builder, deadtime: int) -> None:
    initdead, line = b.value("initdead"), b.lines.get("initdead")
    if initdead < deadtime:
        b.error(line, f"Initial dead time [{initdead}] is smaller than deadtime [{deadtime}]")
    elif initdead < 10000:
        b.warn(line, f"Initial dead time [{initdead} ms] may be too small!")
        b.warn(line, "Initial dead time accounts for slow network startup time", "info")
        b.warn(line, "It should be >= deadtime and >= 10 seconds", "info")


def _check_logging(b: _Builder) -> None:
    """Which log sinks are on (spec §2.2): logd is used implicitly when nothing else is."""
    line = b.lines.get("use_logd")
    use_logd = b.values.get("use_logd")
    facility = b.values.get("logfacility")
    if b.values.get("logfile") is None and b.values.get("debugfile") is None and facility is None:
        if use_logd is None:
            b.warn(None, "No log entry found in ha.cf -- use logd", "info")
            b.values["use_logd"] = True
            b.recorded["use_logd"] = "yes"
        elif not use_logd:
            b.error(line, "No log entry found in ha.cf and use_logd is set to off")
    elif not use_logd:
        b.warn(line, "Logging daemon is disabled --enabling logging daemon is recommended")
    else:
        # the original prints "logfile" and "/debugfile" whatever is set (it tests array addresses)
        b.warn(line, f"logd is enabled but logfile/debugfile{'/logfacility' if facility else ''} "
                     "is still configured in ha.cf")
    if facility is not None:
        b.recorded.setdefault("logfile", "/dev/null")
        b.recorded.setdefault("debugfile", "/dev/null")
