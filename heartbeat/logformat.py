"""The original's log lines: levels, facilities, formats and wording, for every layer.

Two file formats exist and ha.cf ``syslogmsgfmt`` picks one: the 3.0.6 default
(syslog style, ``Nov 24 17:57:21 node1 heartbeat: [1457]: info: ...``, day
zero-padded) and the 2.1.4 default (``heartbeat[1457]: 2008/08/18_15:50:44 info: ...``).

Which version's lines an admin sees is the log style (pyheartbeat.cf ``log_style``):
2.1.4's by default, since our users migrate from 2.1.4 and their log watchers match
its lines. The style gives the ``syslogmsgfmt`` default and the wording where the two
versions differ (``WORDING_214``); the daemon's code writes 3.0.6's words.

Pure functions of their arguments (and of the clock a caller passes), beside record.py
in the foundation, so that the configuration, the scripts and the tools write and read
lines the daemon's way without loading the daemon. Where the lines go is
heartbeat.daemon.log's part.
"""

from __future__ import annotations

import re
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable

# the original's priority names: note "WARN" and "ERROR", lower-case info/debug/notice
LEVELS = ("EMERG", "ALERT", "CRIT", "ERROR", "WARN", "notice", "info", "debug")
SYSLOG_PRIORITY = {"EMERG": 0, "ALERT": 1, "CRIT": 2, "ERROR": 3, "WARN": 4, "notice": 5, "info": 6, "debug": 7}
_FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "security": 4,
    **{f"local{i}": 16 + i for i in range(8)},
}
MAXLINE = 5119  # the original truncates longer messages

STYLE_214 = "2.1.4"
STYLE_306 = "3.0.6"
DEFAULT_STYLE = STYLE_214
# 3.0.6's words -> 2.1.4's, for lines both versions write (2.1.3's source and a 2.1.3
# node's log beside ours, same scenarios): the directive crm was renamed pacemaker,
# the version is each one's own, 3.0.6's config directory has a trailing slash, its
# wiki moved (the partition lines)
WORDING_214: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^Pacemaker support: "), "Version 2 support: "),
    (re.compile(r"http://linux-ha\.org/wiki/Split_Brain$"), "http://linux-ha.org/SplitBrain"),
    (re.compile(r"http://linux-ha\.org/wiki/FAQ#Heavy_Load$"), "http://linux-ha.org/FAQ#heavy_load"),
    (re.compile(r"^(Configuration validated\. Starting heartbeat |heartbeat: version )3\.0\.6"), r"\g<1>2.1.4"),
    (re.compile(r"/etc/ha\.d//"), "/etc/ha.d/"),
)


def reword(text: str, style: str) -> str:
    """A line as the version of ``style`` words it."""
    if style == STYLE_214:
        for pattern, replacement in WORDING_214:
            text = pattern.sub(replacement, text)
    return text


def file_format_is_syslog(style: str, syslogmsgfmt: bool, explicit: bool) -> bool:
    """ha.cf ``syslogmsgfmt`` when the admin wrote it, else the style's version's default."""
    return syslogmsgfmt if explicit else style == STYLE_306


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# A value from the wire or a user must not start a log line of its own (a forged
# "CRIT" line) nor hide what follows: control characters, tab aside, and Unicode's
# line separators are written as escapes.
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}")
            for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029) if c != 0x09}


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class RateLimit:
    """At most `burst` events per `window_s` seconds (a flood of bad input must not
    flood the log); the events held back are counted for the next one let through."""

    def __init__(self, burst: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._window_start: float | None = None
        self._in_window = 0
        self._held_back = 0

    def allow(self) -> int | None:
        """None to hold this event back; otherwise how many were held back since the last one."""
        now = self._clock()
        if self._window_start is None or not 0 <= now - self._window_start < self._window_s:
            self._window_start, self._in_window = now, 0
        if self._in_window >= self._burst:
            self._held_back += 1
            return None
        self._in_window += 1
        held, self._held_back = self._held_back, 0
        return held


def facility_number(name: str | None) -> int:
    """The syslog facility code of an ha.cf ``logfacility`` name, -1 when logging to syslog is off."""
    if name is None or name == "none":
        return -1
    return _FACILITIES[name]


def format_line(level: str, text: str, *, when: float, pid: int, host: str,
                entity: str = "heartbeat", syslogfmt: bool = True) -> str:
    """One log-file line (without newline) as the original writes it."""
    text = text[:MAXLINE]
    t = time.localtime(when)
    if syslogfmt:
        stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        return f"{stamp} {host} {entity}: [{pid}]: {level}: {text}"
    stamp = time.strftime("%Y/%m/%d_%H:%M:%S", t)
    return f"{entity}[{pid}]: {stamp} {level}: {text}"
