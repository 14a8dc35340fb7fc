"""What `/etc/ha.d/shellfuncs` gives a script: HA_* settings, ha_log lines, cluster messages.

Every resource-side program (ResourceManager, harc, the rc.d scripts, mach_down,
req_resource, hb_standby, hb_takeover, the agents) gets its environment and its log
lines from here, and `heartbeat/data/shellfuncs` gives shell scripts the same, byte for
byte.

Variables come from the environment the daemon hands down (spec §9) and default like
shellfuncs does (`: ${VAR:=default}`: unset and empty both take the default).

Log lines (spec §2.3) come in two styles, chosen by ``PYHB_LOGSTYLE`` (the daemon sets
``2.1.4`` from pyheartbeat.cf ``log_style 2.1.4``, the default, or ha.cf ``syslogmsgfmt false``):

* ``3.0.6`` (default; heartbeat 3.0.6 with resource-agents 4.x):
  log file ``<date>  TAG:    MSG``, debug file ``TAG:<TAB><date> MSG``,
  stderr ``<date> MSG``, tag ``name(instance)[pid]``; at a terminal only ``MSG``.
* ``2.1.4``: log and debug file ``TAG:<TAB><date> MSG``, tag ``name[pid]``.

The date is ``$HA_DATEFMT`` passed through the shell's word splitting, as the
original's unquoted ``\\`hadate\\``` does: that is what turns the daemon's
tab-terminated ``%Y/%m/%d_%T<TAB>`` into ``2026/11/24_17:21:33`` plus one blank.

Deviation: the original's ha_clustermsg appends to the FIFO with a blocking open, so a
script blocks forever when no daemon reads it. Here the FIFO is opened non-blocking; with
no reader the message is refused with a clear error (`ClusterMsgError`, exit status 1).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time

from heartbeat.logformat import STYLE_214, STYLE_306, facility_number

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Iterable, Mapping


DEFAULT_HA_DIR = "/etc/ha.d"

# (name, default) in shellfuncs order; a default may refer to HA_DIR
_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("HA_DIR", DEFAULT_HA_DIR),
    ("HA_RCDIR", "{HA_DIR}/rc.d"),
    ("HA_CONFDIR", "{HA_DIR}/conf"),
    ("HA_CF", "{HA_DIR}/ha.cf"),
    ("HA_VARLIB", "/var/lib/heartbeat"),
    ("HA_RSCTMP", "/run/resource-agents"),
    ("HA_FIFO", "/var/lib/heartbeat/fifo"),
    ("HA_BIN", "/usr/libexec/heartbeat"),
    ("HA_SBIN_DIR", "/usr/sbin"),
    ("HA_NOARCHBIN", "/usr/share/heartbeat"),
    ("HA_DEBUGLOG", "/dev/null"),
    ("HA_RESOURCEDIR", "{HA_DIR}/resource.d"),
    ("HA_DOCDIR", "/usr/share/doc/heartbeat"),
    ("HA_VARRUN", "/var/run"),
    ("HA_VARLOCK", "/var/lock/subsys"),
    ("INITDIR", "/etc/init.d"),
    ("OCF_ROOT", "/usr/lib/ocf"),
)

# what shellfuncs exports to the programs a script runs (the rest stay shell variables)
EXPORTED = ("HA_DIR", "HA_RCDIR", "HA_FIFO", "HA_BIN", "HA_DEBUGLOG", "HA_LOGFILE",
            "HA_LOGFACILITY", "HA_DATEFMT", "HA_RESOURCEDIR", "HA_DOCDIR")

_DATEFMT = {STYLE_306: "%b %d %T ", STYLE_214: "%Y/%m/%d_%T "}


def with_defaults(environ: Mapping[str, str], *, fixed_ha_dir: bool = False) -> dict[str, str]:
    """The environment with shellfuncs' defaults filled in.

    ``fixed_ha_dir``: ResourceManager, req_resource, hb_standby and hb_takeover set
    ``HA_DIR=/etc/ha.d`` themselves instead of using the daemon's ``/etc/ha.d/``; we keep
    the inherited directory (tests move it) but drop the trailing slash, which gives the
    same paths (``/etc/ha.d/resource.d`` when run by the daemon, the inherited
    ``/etc/ha.d//resource.d`` when run from harc).
    """
    env = dict(environ)
    if fixed_ha_dir:
        env["HA_DIR"] = (env.get("HA_DIR") or DEFAULT_HA_DIR).rstrip("/") or "/"
    for name, default in _DEFAULTS:
        if not env.get(name):
            env[name] = default.format(HA_DIR=env["HA_DIR"]) if "{" in default else default
    if not env.get("HA_DATEFMT"):
        env["HA_DATEFMT"] = _DATEFMT[log_style(env)]
    return env


def child_environ(env: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for programs a script runs: ``base`` plus what shellfuncs exports,
    with PATH prefixed by the heartbeat directories."""
    out = dict(os.environ if base is None else base)
    # shellfuncs unsets these so that tools print their usual (English) output
    out.pop("LC_ALL", None)
    out.pop("LANGUAGE", None)
    for name in EXPORTED:
        if name in env:
            out[name] = env[name]
    head = [env.get("HA_BIN", ""), env.get("HA_SBIN_DIR", ""), env.get("HA_NOARCHBIN", "")]
    path = [p for p in head + out.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":") if p and p != "."]
    out["PATH"] = ":".join(dict.fromkeys(path))
    return out


def log_style(env: Mapping[str, str]) -> str:
    return STYLE_214 if env.get("PYHB_LOGSTYLE") == STYLE_214 else STYLE_306


def script_name(argv0: str) -> str:
    return os.path.basename(argv0) or argv0


# --- the shell's word splitting of `date "+$HA_DATEFMT"` -----------------------------------

_IFS = re.compile("[ \t\n]+")


def shell_words(prefix: str | None, unquoted: str, suffix: str) -> str:
    """``echo "$prefix"$(unquoted)"$suffix"`` without escape processing.

    The unquoted part is split on blanks, tabs and newlines; the quoted parts stick to the
    neighbouring field unless whitespace separates them; echo joins the words with one blank.
    ``prefix`` None means the word starts with the unquoted part.
    """
    words: list[str] = []
    current = prefix
    fields = [f for f in _IFS.split(unquoted) if f]
    if fields and unquoted[0] in " \t\n" and current is not None:
        words.append(current)
        current = None
    if fields:
        current = fields[0] if current is None else current + fields[0]
        for field in fields[1:]:
            words.append(current)
            current = field
    if unquoted and unquoted[-1] in " \t\n" and current is not None:
        words.append(current)
        current = None
    words.append(suffix if current is None else current + suffix)
    return " ".join(words)


def hadate(datefmt: str, when: float) -> str:
    """``date "+$HA_DATEFMT"`` (command substitution drops trailing newlines)."""
    return time.strftime(datefmt, time.localtime(when)).rstrip("\n")


# --- logging -------------------------------------------------------------------------------

def syslog_level(msg: str) -> str:
    """The level ha_log hands to logger: it is guessed from the words in the text."""
    if "ERROR" in msg:
        return "err"
    if "WARN" in msg:
        return "warning"
    if "INFO" in msg or msg == "info":
        return "info"
    return "notice"


_LEVELS = {"err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
_OCF_PRIO = {"crit": "CRIT", "err": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}


def _syslog(tag: str, facility: str, level: str, msg: str) -> None:
    """`logger -t TAG -p FACILITY.LEVEL MSG`."""
    import syslog
    try:
        code = facility_number(facility)
    except KeyError:
        sys.stderr.write(f"logger: unknown facility name: {facility}\n")
        return
    syslog.openlog(tag, 0, code << 3)
    syslog.syslog(_LEVELS[level], msg)
    syslog.closelog()


def _append(path: str, line: str) -> None:
    """Append one line with a single write (concurrent writers do not interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def _call_logger(argv: list[str]) -> int:
    import subprocess  # only with logd: harc and the agents start without it
    return subprocess.call(argv, stdin=subprocess.DEVNULL)


class ScriptLog:
    """ha_log / ha_debug / ocf_log of one script.

    ``name`` is the script's name (basename of $0, or the OCF agent's path for the legacy
    wrappers' own messages), ``instance`` the OCF resource instance (``default`` for
    plain scripts). ``clock``, ``pid``, ``stderr`` and ``isatty`` are injectable for tests.
    """

    def __init__(self, env: Mapping[str, str], name: str, instance: str = "default", *,
                 clock: Callable[[], float] = time.time, pid: Callable[[], int] = os.getpid,
                 stderr: TextIO | None = None, isatty: Callable[[], bool] | None = None,
                 run: Callable[..., int] | None = None) -> None:
        self.env = env
        self.name = name
        self.instance = instance
        self._clock = clock
        self._pid = pid
        self._stderr = stderr
        self._isatty = isatty or (lambda: os.isatty(0))
        self._run = run or _call_logger

    @property
    def style(self) -> str:
        return log_style(self.env)

    @property
    def tag(self) -> str:
        if self.env.get("HA_LOGTAG"):
            return self.env["HA_LOGTAG"]
        if self.style == STYLE_214:
            return f"{self.name}[{self._pid()}]"
        return f"{self.name}({self.instance})[{self._pid()}]"

    def _err(self, text: str) -> None:
        stream = self._stderr or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def _date(self) -> str:
        return hadate(self.env.get("HA_DATEFMT") or _DATEFMT[self.style], self._clock())

    def _facility(self) -> str:
        fac = self.env.get("HA_LOGFACILITY", "")
        return "" if fac == "none" else fac

    def _tty(self, msg: str) -> bool:
        """RA 4.x: at a terminal (stdin), print to stderr only. The tag appears only when
        HA_LOGTAG came from the environment, because the original computes it afterwards."""
        if self.style != STYLE_306 or not self._isatty():
            return False
        self._err(f"{self.env['HA_LOGTAG']}: {msg}" if self.env.get("HA_LOGTAG") else msg)
        return True

    def _logd(self, msg: str, debug: bool) -> bool:
        if self.env.get("HA_LOGD") != "yes":
            return False
        import shutil  # only with logd: harc and the agents start without it
        logger = shutil.which("ha_logger", path=child_environ(self.env)["PATH"])
        if logger is None:
            return False
        argv = [logger, "-t", self.tag] + (["-D", "ha-debug"] if debug else []) + [msg]
        return self._run(argv) == 0

    def debugfile_line(self, msg: str) -> str:
        return shell_words(f"{self.tag}:\t", self._date(), msg)

    def logfile_line(self, msg: str) -> str:
        if self.style == STYLE_214:
            return self.debugfile_line(msg)
        return shell_words(None, self._date(), f" {self.tag}:    {msg}")

    def stderr_line(self, msg: str) -> str:
        return shell_words(None, self._date(), msg)

    def log(self, msg: str) -> None:
        """ha_log MSG."""
        if self._tty(msg) or self._logd(msg, debug=False):
            return
        facility = self._facility()
        logfile = self.env.get("HA_LOGFILE", "")
        debuglog = self.env.get("HA_DEBUGLOG", "")
        if facility:
            _syslog(self.tag, facility, syslog_level(msg), msg)
        if logfile:
            _append(logfile, self.logfile_line(msg))
        if self.style == STYLE_214:
            if not logfile:
                self._err(self.stderr_line(msg))
            if debuglog:
                _append(debuglog, self.debugfile_line(msg))
            return
        if not facility and not logfile:
            self._err(self.stderr_line(msg))
        if debuglog and debuglog != logfile:
            _append(debuglog, self.debugfile_line(msg))

    def debug(self, msg: str) -> None:
        """ha_debug MSG: RA 4.x logs only when HA_debug is set and not 0; 2.1.4 always."""
        if self.style == STYLE_306 and self.env.get("HA_debug", "0") in ("", "0"):
            return
        if self._tty(msg) or self._logd(msg, debug=True):
            return
        facility = self._facility()
        if facility:
            _syslog(self.tag, facility, "debug", msg)
        debuglog = self.env.get("HA_DEBUGLOG", "")
        if debuglog:
            _append(debuglog, self.debugfile_line(msg))
        else:
            self._err(self.debugfile_line(msg) + f":\t{facility}")

    def ocf_log(self, prio: str, msg: str) -> None:
        """ocf_log PRIO MSG: ``INFO: MSG``, ``WARNING: MSG``, ``ERROR: MSG``...; debug via ha_debug."""
        word = _OCF_PRIO.get(prio, prio.upper())
        if word == "DEBUG":
            self.debug(f"DEBUG: {msg}")
        else:
            self.log(f"{word}: {msg}")


# --- how a command starts ------------------------------------------------------------------

def invocation(argv: list[str] | None, environ: Mapping[str, str] | None, *,
               fixed_ha_dir: bool = False) -> tuple[list[str], Mapping[str, str], dict[str, str], ScriptLog]:
    """How a resource-side command was started: its arguments, the environment it
    inherited (what the programs it runs are given again), that environment with
    shellfuncs' defaults (``fixed_ha_dir`` as for ``with_defaults``) and ha_log in the
    command's name. ``argv`` and ``environ`` are ``sys.argv`` and ``os.environ``
    unless given (tests give them)."""
    args = list(sys.argv if argv is None else argv)
    inherited = os.environ if environ is None else environ
    env = with_defaults(inherited, fixed_ha_dir=fixed_ha_dir)
    return args, inherited, env, ScriptLog(env, script_name(args[0]))


# --- where a script's output goes ----------------------------------------------------------

def to_debuglog(path: str) -> str | None:
    """``exec >>$HA_DEBUGLOG 2>&1``: this process and everything it runs from now on.
    Returns why the file cannot be opened (nothing is redirected then), else None."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        return f"cannot open the debug log {path}: {e.strerror}"
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return None


# --- cluster messages through the FIFO ------------------------------------------------------

class ClusterMsgError(Exception):
    """A message could not be handed to the daemon."""


def clustermsg_bytes(fields: Iterable[tuple[str, str]]) -> bytes:
    body = "".join(f"{name}={value}\n" for name, value in fields)
    return (">>>\n" + body + "<<<\n").encode("utf-8", "surrogateescape")


def ha_clustermsg(fifo: str, fields: Iterable[tuple[str, str]]) -> None:
    """Hand one message (``name=value`` fields, in order) to the daemon in one write.

    Raises ClusterMsgError when nobody reads the FIFO (instead of blocking forever).
    """
    data = clustermsg_bytes(fields)
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        reason = "no heartbeat daemon is reading it" if e.errno == 6 else e.strerror  # ENXIO
        raise ClusterMsgError(f"cannot send cluster message: {fifo}: {reason}") from None
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise ClusterMsgError(f"cannot send cluster message: {fifo} is not a FIFO")
        # a reader exists: wait for pipe space like the original (one write up to PIPE_BUF is atomic)
        os.set_blocking(fd, True)
        os.write(fd, data)
    except OSError as e:
        raise ClusterMsgError(f"cannot send cluster message: {fifo}: {e.strerror}") from None
    finally:
        os.close(fd)


def send_clustermsg(env: Mapping[str, str], fields: Iterable[tuple[str, str]],
                    stderr: TextIO | None = None) -> int:
    """ha_clustermsg for script mains: the exit status, the error on stderr."""
    try:
        ha_clustermsg(env.get("HA_FIFO") or "/var/lib/heartbeat/fifo", fields)
    except ClusterMsgError as e:
        (stderr or sys.stderr).write(f"{e}\n")
        return 1
    return 0


# --- ha_parameter ----------------------------------------------------------------------------

def ha_parameter(cf_path: str, name: str) -> str:
    """The value of an ha.cf directive as ha_parameter prints it (spec §9).

    Matching lines are read after squeezing the first run of blanks, dropping one leading
    blank and cutting comments; the name is compared case-insensitively; several matches
    are joined like ``echo $VALUE`` does. keepalive defaults to 2, deadtime to 2*keepalive+1.
    """
    try:
        with open(cf_path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    head = re.compile(re.escape(name) + " ", re.IGNORECASE)
    values = []
    for line in lines:
        line = re.sub(r"[ \t]+", " ", line, count=1)
        if line.startswith(" "):
            line = line[1:]
        line = line.split("#", 1)[0]
        if head.match(line):
            values.append(line.split(" ", 1)[1])
    value = " ".join(" ".join(values).split())
    if value:
        return value
    if name == "keepalive":
        return "2"
    if name == "deadtime":
        keepalive = ha_parameter(cf_path, "keepalive")
        return str(int(keepalive) * 2 + 1) if re.fullmatch(r"-?[0-9]+", keepalive) else ""
    return ""
