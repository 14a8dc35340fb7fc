"""The daemon's log: where its lines go, as the original's cl_log sends them.

``logfile`` gets everything but debug, ``debugfile`` everything, syslog gets
``[pid]: prio: text`` under the ``heartbeat`` ident, stderr everything until the daemon
detaches. The lines themselves (the two file formats, the styles' wording, the escaping)
are heartbeat.logformat's.
"""
from __future__ import annotations

import os
import sys
import time

from heartbeat.logformat import (DEFAULT_STYLE, MAXLINE, SYSLOG_PRIORITY, escape_controls, facility_number,
                                 format_line, reword)
from heartbeat.record import record, replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO


@record
class LogSettings:
    host: str
    entity: str = "heartbeat"
    syslogfmt: bool = True
    logfile: str | None = None
    debugfile: str | None = None
    facility: str | None = None
    debug_level: int = 0
    stderr: bool = True       # before daemonizing, lines also go to stderr
    style: str = DEFAULT_STYLE  # whose wording: STYLE_214 or STYLE_306


def _sink(path: str | None) -> str | None:
    """``path``, or None where it names no file to write to."""
    return None if not path or path.lower() == "/dev/null" else path


class DaemonLog:
    """Writes log lines to the configured sinks. ``clock`` and ``pid`` are injectable for tests."""

    def __init__(self, settings: LogSettings, *, clock: Callable[[], float] = time.time,
                 pid: Callable[[], int] = os.getpid, stderr: TextIO | None = None) -> None:
        self._clock = clock
        self._pid = pid
        self._stderr = stderr
        self.settings = settings
        self._syslog_open = False
        self.configure(settings)

    def configure(self, settings: LogSettings) -> None:
        self.settings = settings
        if settings.facility not in (None, "none"):
            import syslog
            syslog.openlog("heartbeat", syslog.LOG_CONS, facility_number(settings.facility) << 3)
            self._syslog_open = True

    def set_debug(self, level: int) -> None:
        self.settings = replace(self.settings, debug_level=max(0, level))

    def detach_stderr(self) -> None:
        """After daemonizing there is no terminal to write to."""
        self.settings = replace(self.settings, stderr=False)

    def log(self, level: str, text: str) -> None:
        if level not in SYSLOG_PRIORITY:
            raise ValueError(f"unknown log level {level!r}")
        s = self.settings
        if level == "debug" and s.debug_level <= 0:
            return
        pid = self._pid()
        text = escape_controls(reword(text, s.style))
        line = format_line(level, text, when=self._clock(), pid=pid, host=s.host,
                           entity=s.entity, syslogfmt=s.syslogfmt)
        logfile, debugfile = _sink(s.logfile), _sink(s.debugfile)
        if level != "debug" and logfile:
            self._append(logfile, line)
        if debugfile:
            self._append(debugfile, line)
        if self._syslog_open and s.facility not in (None, "none"):
            import syslog
            syslog.syslog(SYSLOG_PRIORITY[level], f"[{pid}]: {level}: {text[:MAXLINE]}")
        if s.stderr:
            print(line, file=self._stderr or sys.stderr, flush=True)

    def _append(self, path: str, line: str) -> None:
        try:
            with open(path, "a", encoding="utf-8", errors="surrogateescape") as f:
                f.write(line + "\n")
        except OSError as exc:
            # a full or vanished log disk must never stop the cluster
            print(f"heartbeat: cannot write log file {path}: {exc}", file=self._stderr or sys.stderr)

    # convenience
    def info(self, text: str) -> None:
        self.log("info", text)

    def warn(self, text: str) -> None:
        self.log("WARN", text)

    def error(self, text: str) -> None:
        self.log("ERROR", text)

    def crit(self, text: str) -> None:
        self.log("CRIT", text)

    def debug(self, text: str) -> None:
        self.log("debug", text)
