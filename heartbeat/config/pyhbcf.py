"""/etc/ha.d/pyheartbeat.cf: pyheartbeat's own options, the ones the original does not know.

The original never reads this file, so a mixed cluster keeps working, and without it
every option has its default and pyheartbeat behaves exactly as without the feature.
Lexical rules are ha.cf's (spec §3.1): one directive per line, words separated by
blanks, a comment runs from the first ``#``, text after a CR is dropped. The parser is as
strict as ha.cf's: an unknown directive, a bad value or a repeated single-valued
directive is an error with file:line. What needs the other files (haresources names,
auto_failback, executables) is checked by ``heartbeat.config.configcheck``.

Adding a directive is one row of ``DIRECTIVES`` plus its typed field in ``PyHbCf``: a
single value (``_value`` around any value parser of ``heartbeat.config.hacf``; given at most
once; the field's default must mean "as the original") or a line kept every time it
appears (``many``, a tuple field).
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable
from collections.abc import Mapping

from heartbeat.config.errors import ConfigError, Problems, numbered_lines, read_config
# the value parsers and lexical pieces of ha.cf: this file is read by the same rules
from heartbeat.config.hacf import _FIELDS, _WHITESPACE, MAX_LINE_BYTES, Invalid, _choice, _integer, _time
from heartbeat.config.haresources import HaResources, ResourceGroup
from heartbeat.logformat import DEFAULT_STYLE, STYLE_214, STYLE_306

__all__ = ["OnFail", "Monitor", "PyHbCf", "Directive", "DIRECTIVES", "FILE_NAME", "PAUSE_ALL",
           "default_name", "parse_pyhbcf", "load_pyhbcf", "check_monitors", "group_of"]

FILE_NAME = "pyheartbeat.cf"
# bounds that keep a typo from turning into a busy loop or a check that never ends
MIN_INTERVAL_MS = 1000
MIN_TIMEOUT_MS = 100
MAX_TIME_MS = 86400 * 1000
MAX_RESTARTS = 100
MAX_MONITORS = 256
MAX_ARGV = 64
PAUSE_ALL = "all"             # the pause file name that pauses every monitor
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class OnFail(enum.Enum):
    """What a monitor does when its restarts are used up."""
    STANDBY = "standby"   # hand the group's set to the peer, as hb_standby does
    LOG = "log"           # only say so; the resource stays down


@dataclass(frozen=True)
class Monitor:
    """One `monitor` or `monitor_group` line, with its `monitor_command` if there is one."""
    target: str                              # resource token or group key, as written in haresources
    group: bool                              # the whole group (monitor_group) or one resource
    name: str                                # for pause files and cl_status; [A-Za-z0-9._-]
    interval_ms: int = 10000
    timeout_ms: int = 20000                  # a check running longer is killed and fails
    restarts: int = 3                        # restarts allowed within window_ms ...
    window_ms: int = 600000
    on_fail: OnFail = OnFail.STANDBY         # ... then this
    restart_timeout_ms: int = 120000         # a restart (stop, then start) running longer fails
    command: tuple[str, ...] | None = None   # argv run instead of the resources' own status
    line: int | None = field(default=None, compare=False)
    command_line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PyHbCf:
    path: str
    monitors: tuple[Monitor, ...] = ()       # file order
    log_style: str = DEFAULT_STYLE           # whose log lines: 2.1.4's (default) or 3.0.6's
    # re-announce the held groups' addresses this often (gratuitous ARP), for switches and
    # hosts that forget or never learnt them; None: only when an address is added, as the original
    arp_refresh_ms: int | None = None
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # single values: line


# -- value parsers of whole lines -----------------------------------------------------------
def _bounded_time(minimum: int) -> Callable[[str, str], int]:
    """An ha.cf time of at least ``minimum`` ms and at most MAX_TIME_MS."""
    at_least = _time(minimum)

    def parse(name: str, text: str) -> int:
        ms = at_least(name, text)
        if ms > MAX_TIME_MS:
            raise Invalid(f"Invalid {name} [{text}]: at most {MAX_TIME_MS // 1000} seconds")
        return ms
    return parse


_MONITOR_OPTIONS: Mapping[str, tuple[str, Callable[[str, str], Any]]] = MappingProxyType({
    "interval": ("interval_ms", _bounded_time(MIN_INTERVAL_MS)),
    "timeout": ("timeout_ms", _bounded_time(MIN_TIMEOUT_MS)),
    "restarts": ("restarts", _integer(0, MAX_RESTARTS)),
    "window": ("window_ms", _bounded_time(MIN_INTERVAL_MS)),
    "on_fail": ("on_fail", lambda name, text: OnFail(_choice(*(o.value for o in OnFail))(name, text))),
    "restart_timeout": ("restart_timeout_ms", _bounded_time(MIN_INTERVAL_MS)),
    "name": ("name", lambda name, text: _monitor_name(text)),
})


def _monitor_name(text: str) -> str:
    if not _NAME.fullmatch(text):
        raise Invalid(f"Invalid name [{text}]: 1 to 64 of A-Z a-z 0-9 . _ -")
    return text


def default_name(target: str) -> str:
    """A file-name-safe name for a target: `IPaddr::192.0.2.100/24/eth0` -> `IPaddr__192.0.2.100_24_eth0`."""
    return _UNSAFE.sub("_", target)[:64]


def _monitor(group: bool) -> Callable[[str, list[str]], Monitor]:
    def parse(directive: str, words: list[str]) -> Monitor:
        if not words:
            raise Invalid(f"{directive} needs a {'group key' if group else 'resource'} "
                          "and optionally name=value settings")
        target, settings = words[0], words[1:]
        values: dict[str, Any] = {}
        for setting in settings:
            key, sep, text = setting.partition("=")
            if key not in _MONITOR_OPTIONS or not sep:
                raise Invalid(f"{directive} {target}: unknown setting [{setting}]: "
                              f"one of {', '.join(k + '=' for k in _MONITOR_OPTIONS)}")
            attr, value_parser = _MONITOR_OPTIONS[key]
            if attr in values:
                raise Invalid(f"{directive} {target}: {key} given twice")
            values[attr] = value_parser(key, text)
        values.setdefault("name", default_name(target))
        if values["name"] == PAUSE_ALL:
            raise Invalid(f"{directive} {target}: the name [{PAUSE_ALL}] is the pause file of every "
                          "monitor; set another with name=")
        return Monitor(target, group, **values)
    return parse


def _command(directive: str, words: list[str]) -> tuple[str, tuple[str, ...]]:
    if len(words) < 2:
        raise Invalid(f"{directive} needs a monitored resource or group and a command")
    target, argv = words[0], tuple(words[1:])
    if not argv[0].startswith("/"):
        # run without a shell and without PATH: what runs is what the admin wrote
        raise Invalid(f"{directive} {target}: command [{argv[0]}] is not a full pathname "
                      "(write /bin/sh -c '...' for a shell)")
    if len(argv) > MAX_ARGV:
        raise Invalid(f"{directive} {target}: more than {MAX_ARGV} words")
    return target, argv


def _value(parse: Callable[[str, str], Any]) -> Callable[[str, list[str]], Any]:
    """A directive with exactly one value, parsed by one of ha.cf's value parsers."""
    def parse_words(directive: str, words: list[str]) -> Any:
        if len(words) != 1:
            raise Invalid(f"{directive} takes exactly one value, not {len(words)}")
        return parse(directive, words[0])
    return parse_words


# -- the directive table -------------------------------------------------------------------
@dataclass(frozen=True)
class Directive:
    parse: Callable[[str, list[str]], Any]   # (directive, words after it) -> value; raises Invalid
    field: str                               # PyHbCf field (or builder list) the value goes to
    many: bool = False                       # every line is kept; else once per file


DIRECTIVES: Mapping[str, Directive] = MappingProxyType({
    "monitor": Directive(_monitor(group=False), "monitors", many=True),
    "monitor_group": Directive(_monitor(group=True), "monitors", many=True),
    "monitor_command": Directive(_command, "commands", many=True),
    "log_style": Directive(_value(_choice(STYLE_214, STYLE_306)), "log_style"),
    "arp_refresh": Directive(_value(_bounded_time(MIN_INTERVAL_MS)), "arp_refresh_ms"),
})


# -- parsing ----------------------------------------------------------------------------
def parse_pyhbcf(text: str, path: str) -> PyHbCf:
    """Parse pyheartbeat.cf text; raise ConfigErrors listing every problem."""
    problems = Problems(path)
    values: dict[str, Any] = {}
    lists: dict[str, list[tuple[int, Any]]] = {}
    lines: dict[str, int] = {}
    for number, line in numbered_lines(text, MAX_LINE_BYTES, problems):
        # ha.cf's rules: a comment from the first '#', text after a CR dropped
        body = line.split("#", 1)[0].split("\r", 1)[0].lstrip(_WHITESPACE)
        if not body:
            continue
        name, *words = _FIELDS.findall(body)
        d = DIRECTIVES.get(name)
        if d is None:
            problems.error(number, f"Illegal directive [{name}]: one of {', '.join(DIRECTIVES)}")
            continue
        if not d.many and name in lines:
            problems.error(number, f"{name} given twice (first on line {lines[name]})")
            continue
        try:
            value = d.parse(name, words)
        except Invalid as e:
            problems.error(number, str(e))
            continue
        if d.many:
            lists.setdefault(d.field, []).append((number, value))
        else:
            lines[name] = number
            values[d.field] = value
    monitors = _monitors(lists.pop("monitors", []), lists.pop("commands", []), problems)
    values.update({name: tuple(value for _n, value in items) for name, items in lists.items()})
    problems.errors.sort(key=lambda e: e.line or 0)    # the whole-file checks came last
    problems.raise_if_any()
    return PyHbCf(path, monitors=monitors, lines=MappingProxyType(lines), **values)


def _monitors(found: list[tuple[int, Monitor]], commands: list[tuple[int, tuple[str, tuple[str, ...]]]],
              problems: Problems) -> tuple[Monitor, ...]:
    by_target: dict[tuple[bool, str], tuple[int, Monitor]] = {}
    by_name: dict[str, int] = {}
    for number, m in found:
        if len(by_target) >= MAX_MONITORS:
            problems.error(number, f"too many monitors (at most {MAX_MONITORS})")
            continue
        kind = "monitor_group" if m.group else "monitor"
        if (m.group, m.target) in by_target:
            problems.error(number, f"{kind} {m.target} given twice "
                                   f"(first on line {by_target[m.group, m.target][0]})")
            continue
        if (not m.group, m.target) in by_target:
            # a group's key is its first resource: it would be checked and restarted twice
            problems.error(number, f"{m.target} is monitored both as a resource and as a group "
                                   f"(line {by_target[not m.group, m.target][0]}): keep one")
            continue
        if m.name in by_name:
            problems.error(number, f"{kind} {m.target}: name [{m.name}] already used on line "
                                   f"{by_name[m.name]} (set another with name=)")
            continue
        by_target[m.group, m.target] = (number, replace(m, line=number))
        by_name[m.name] = number
    targets = {m.target: key for key, (_n, m) in by_target.items()}
    for number, (target, argv) in commands:
        key = targets.get(target)
        if key is None:
            problems.error(number, f"monitor_command {target}: no monitor or monitor_group line for it")
            continue
        first, m = by_target[key]
        if m.command is not None:
            problems.error(number, f"monitor_command {target} given twice (first on line {m.command_line})")
            continue
        by_target[key] = (first, replace(m, command=argv, command_line=number))
    return tuple(m for _n, m in sorted(by_target.values(), key=lambda item: item[0]))


def check_monitors(cf: PyHbCf, res: HaResources, nice_failback: bool) -> list[ConfigError]:
    """Monitors against haresources and ha.cf: every name must be there, no resource may be
    watched twice, and nice_failback must tell which groups this node holds."""
    errors = []
    groups = {g.key: g for g in res.groups}
    owner: dict[str, tuple[str, int | None]] = {}     # resource token -> (monitor, line)
    for m in cf.monitors:
        covered = _covered(m, res, groups)
        if isinstance(covered, str):
            errors.append(ConfigError(cf.path, m.line, covered))
            continue
        for token in covered:
            if token in owner:
                errors.append(ConfigError(cf.path, m.line, f"resource {token} is already monitored by "
                                          f"{owner[token][0]} (line {owner[token][1]})"))
            owner.setdefault(token, (m.target, m.line))
    if cf.monitors and not nice_failback:
        errors.append(ConfigError(cf.path, cf.monitors[0].line, "resource monitoring needs auto_failback "
                                  "on or off in ha.cf: legacy mode keeps no record of which groups "
                                  "this node holds, and has no standby"))
    return errors


def _covered(m: Monitor, res: HaResources, groups: Mapping[str, ResourceGroup]) -> tuple[str, ...] | str:
    """The resource tokens a monitor watches, or why it names nothing in haresources."""
    if m.group:
        if m.target not in groups:
            return (f"monitor_group {m.target}: no resource group with that key in {res.path} "
                    f"(keys: {', '.join(groups) or 'none'})")
        return tuple(r.token for r in groups[m.target].resources)
    found = [g for g in res.groups if any(r.token == m.target for r in g.resources)]
    if not found:
        return f"monitor {m.target}: no such resource in {res.path} (write it as it is written there)"
    if len(found) > 1:
        return (f"monitor {m.target}: the resource is in {len(found)} groups (lines "
                f"{', '.join(str(g.line) for g in found)}); it cannot be restarted for one of them")
    return (m.target,)


def group_of(m: Monitor, res: HaResources) -> ResourceGroup:
    """The haresources group a checked monitor belongs to."""
    if m.group:
        return next(g for g in res.groups if g.key == m.target)
    return next(g for g in res.groups if any(r.token == m.target for r in g.resources))


def load_pyhbcf(path: str) -> PyHbCf:
    """The file at ``path``; all defaults when there is none (the feature is opt-in)."""
    if not os.path.lexists(path):
        return PyHbCf(path)
    text, _mode = read_config(path, f"Cannot open config file [{path}]")
    return parse_pyhbcf(text, path)

