"""``/etc/init.d/heartbeat``: start, stop, status, restart, reload, force-reload, standby.

Behaviour, texts and exit codes are those of the 3.0.6 init script
(config-and-resources §12), quirks included: ``restart`` always exits 0,
``reload`` exits 0 whatever ``heartbeat -r`` returned, and a missing ha.cf prints
a failure but exits 0.  The daemon (``/usr/libexec/heartbeat/heartbeat``) does
the real work through its ``-k``, ``-s`` and ``-r`` options.

``/etc/default/heartbeat`` (and ``pacemaker``, ``sbd``) are shell files the
original sources; we read their variable assignments (``NAME=value``,
``export NAME[=value]``, shell quoting, ``$NAME`` expansion) and ignore other
commands.  On a Red Hat-family host (``/etc/redhat-release``) they are read from
``/etc/sysconfig``, where 2.1.4's EL packages looked.  When Red Hat's function
library ``/etc/init.d/functions`` exists, success and failure are reported by
its ``echo_success`` and ``echo_failure`` (``[  OK  ]``, ``[FAILED]``), as the
original's script does there; otherwise the Debian texts.  SuSE's library is
not consulted.  ``PYHB_ROOT`` prefixes every path the script uses (tests).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import time

from heartbeat.resources import ownprograms
from heartbeat.resources.scriptenv import child_environ, ha_parameter, with_defaults
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Mapping

DONE = "Done."
FAILED = "Failed."
USAGE_ACTIONS = "{start|stop|status|restart|reload|force-reload}"
CRM_ON = ("y", "yes", "enable", "on", "true", "1", "manual", "respawn")
TAKEOVER_GRACE = 10           # seconds restart waits after deadtime for the takeover
_RUN_DIRS = ("crm", "heartbeat", "heartbeat/ccm", "heartbeat/crm", "heartbeat/dopd")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
RH_RELEASE = "/etc/redhat-release"
RH_FUNCTIONS = "/etc/init.d/functions"   # /etc/rc.d/init.d/functions: EL links /etc/init.d there


@record
class Paths:
    root: str = ""

    def __call__(self, path: str) -> str:
        return self.root + path

    @property
    def heartbeat(self) -> str:
        return self("/usr/libexec/heartbeat/heartbeat")

    @property
    def ha_dir(self) -> str:
        return self("/etc/ha.d")

    @property
    def config(self) -> str:
        return self.ha_dir + "/ha.cf"

    @property
    def lock_file(self) -> str:
        return self("/var/lock/subsys/heartbeat")

    @property
    def defaults_dir(self) -> str:
        return self("/etc/sysconfig" if os.path.exists(self(RH_RELEASE)) else "/etc/default")


def _expand(text: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))",
                  lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def source_defaults(text: str, variables: dict[str, str], exported: set[str]) -> None:
    """Apply the variable assignments of a sourced defaults file to ``variables``."""
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        export = bool(words) and words[0] == "export"
        for word in words[1:] if export else words:
            name, eq, value = word.partition("=")
            if eq and _ASSIGNMENT.match(word):
                variables[name] = _expand(value, variables)
            elif not export:
                break  # a command, not an assignment: the rest are its arguments
            if export:
                exported.add(name)


class Abort(Exception):
    """The original's `exit N` from inside a step (sbd failing): nothing else runs."""

    def __init__(self, rc: int) -> None:
        super().__init__(rc)
        self.rc = rc


class InitScript:
    def __init__(self, paths: Paths, environ: Mapping[str, str], *, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr, sleep: Callable[[float], None] = time.sleep) -> None:
        self.paths = paths
        self.out = out
        self.err = err
        self.sleep = sleep
        variables = dict(environ)
        exported = set(environ)
        variables["HEARTBEAT"] = paths.heartbeat
        for name in ("heartbeat", "pacemaker", "sbd"):
            path = f"{paths.defaults_dir}/{name}"
            if os.access(path, os.R_OK):
                with open(path, encoding="utf-8", errors="surrogateescape") as f:
                    source_defaults(f.read(), variables, exported)
        self.variables = variables
        self.heartbeat = variables["HEARTBEAT"]
        base = {name: variables[name] for name in exported if name in variables}
        base["HA_DIR"] = paths.ha_dir
        # shellfuncs' defaults for the two it points us to, moved under the root
        defaults = with_defaults({})
        with_root = {name: paths(defaults[name]) for name in ("HA_NOARCHBIN", "HA_RSCTMP") if not base.get(name)}
        self.script_env = with_defaults({**base, **with_root})
        self.env = child_environ(self.script_env, base)
        self._crm: bool | None = None
        functions = paths(RH_FUNCTIONS)
        self.rh_functions = functions if os.path.isfile(functions) else None

    # -- output and programs ---------------------------------------------------
    def say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def success(self) -> int:
        if self.rh_functions:
            self.rh_report(self.rh_functions, "echo_success")
        else:
            self.say(DONE)
        return 0

    def failure(self, rc: int) -> int:
        if self.rh_functions:
            self.rh_report(self.rh_functions, "echo_failure")
        else:
            self.say(f" Heartbeat failure [rc={rc}]. {FAILED}")
        return rc

    def rh_report(self, library: str, function: str) -> None:
        """Print what Red Hat's ``function`` (from ``library``) prints (its column, colours and words) on our stdout.

        Only that shell function runs, in a shell that sourced the library with
        $0 = sh: the library's own redirection of init scripts to systemctl,
        which looks at $0, stays out of it."""
        _, text = self.capture(["/bin/sh", "-c", f'. "$1" >/dev/null 2>&1; {function}', "sh", library])
        self.say(text, end="")

    def call(self, argv: list[str], *, quiet: bool = False) -> int:
        """Run a program on our stdout (or silenced); 126/127 like a shell when it cannot run.
        Our own launchers (heartbeat -k, -s, -r, ResourceManager, hb_standby) run in a forked
        child instead (heartbeat.resources.ownprograms): a stop starts that much sooner."""
        self.out.flush()
        with open(os.devnull, "r+b") as null:
            silenced = null.fileno() if quiet else None
            own = ownprograms.start(argv, self.env, stdin=null.fileno(), stdout=silenced, stderr=silenced)
        if own is not None:
            return ownprograms.wait(own)
        sink = subprocess.DEVNULL if quiet else None
        try:
            return subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink).returncode
        except PermissionError:
            return 126
        except FileNotFoundError:
            return 127

    def capture(self, argv: list[str]) -> tuple[int, str]:
        """Run a program with stdout and stderr captured, as the original's backquotes do."""
        try:
            done = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        except OSError as e:
            return (126 if isinstance(e, PermissionError) else 127), f"{argv[0]}: {e.strerror}"
        return done.returncode, done.stdout.decode(errors="surrogateescape").rstrip("\n")

    def parameter(self, name: str) -> str:
        return ha_parameter(self.paths.config, name)

    def crm_enabled(self) -> bool:
        if self._crm is None:
            value = self.parameter("pacemaker").lower() or self.parameter("crm").lower()
            self._crm = value in CRM_ON
        return self._crm

    def startstop(self, *args: str) -> None:
        hook = f"{self.paths.ha_dir}/resource.d/startstop"
        if os.path.isfile(hook):
            self.call([hook, *args])

    # -- start -------------------------------------------------------------------
    def _make_dir(self, path: str, mode: int, user: str, group: str) -> None:
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                return
        except OSError as e:
            self.err.write(f"mkdir: cannot create directory '{path}': {e.strerror}\n")
            return
        os.chmod(path, mode)
        try:
            import grp
            import pwd
            os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        except KeyError:
            self.err.write(f"chown: invalid user: '{user}:{group}'\n")

    def make_run_dirs(self) -> None:
        old = os.umask(0o027)
        try:
            self._make_dir(self.script_env["HA_RSCTMP"], 0o1755, "root", "root")
            for name in _RUN_DIRS:
                self._make_dir(self.paths(f"/var/run/{name}"), 0o750, "hacluster", "haclient")
        finally:
            os.umask(old)

    def init_watchdog(self) -> None:
        """Load softdog and create the device when ha.cf names a watchdog (Linux, modprobe present)."""
        device = self.parameter("watchdog")
        modprobe = self.paths("/sbin/modprobe")
        devices = self.paths("/proc/devices")
        if not device or not os.path.isfile(devices) or not os.access(modprobe, os.X_OK):
            return
        misc = _proc_number(devices, lambda line: line.endswith(" misc"))
        try:
            st = os.stat(device)
            is_char = stat.S_ISCHR(st.st_mode)
        except OSError:
            is_char = False
        if is_char and (misc is None or os.major(st.st_rdev) != misc):
            return  # not a softdog device: leave it alone
        if not _proc_contains(self.paths("/proc/modules"), "softdog"):
            self.call([modprobe, "softdog", "nowayout=0"], quiet=True)
        minor = _proc_number(self.paths("/proc/misc"), lambda line: "watchdog" in line)
        if not is_char and misc is not None and minor is not None:
            try:
                os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(misc, minor))
            except OSError as e:
                self.err.write(f"mknod: {device}: {e.strerror}\n")

    def _sbd(self, doing: str, failing: str, command: list[str], skip_if_running: bool) -> None:
        """Start or stop sbd when it is installed and SBD_DEVICE is set; Abort(1) when that fails."""
        sbd = self.paths("/usr/sbin/sbd")
        device = self.variables.get("SBD_DEVICE", "")
        if not os.access(sbd, os.X_OK) or not device or (skip_if_running and _running_with_prefix([sbd, "-d"])):
            return
        self.say(f"{doing} SBD - ", end="")
        rc, output = self.capture([sbd, "-d", device, "-D", *self.variables.get("SBD_OPTS", "").split(), *command])
        if rc:
            self.say(f"SBD failed to {failing}; aborting.")
            if output:
                self.say("\n" + output)
            raise Abort(1)

    def start_ha(self) -> int:
        self.say("Starting High-Availability services: ", end="")
        if not self.crm_enabled():
            self.call([f"{self.script_env['HA_NOARCHBIN']}/ResourceManager", "verifyallidle"])
        self.init_watchdog()
        self.make_run_dirs()
        old, new = f"{self.paths.ha_dir}/ipresources", f"{self.paths.ha_dir}/haresources"
        if os.path.isfile(old) and not os.path.isfile(new):
            os.rename(old, new)
        self._sbd("Starting", "start", ["watch"], skip_if_running=True)
        rc, output = self.capture([self.heartbeat])
        if rc == 0:
            return self.success()
        self.failure(rc)
        if output:
            self.say("\n" + output)
        return rc

    # -- the other actions ----------------------------------------------------------
    def stop_ha(self) -> int:
        self.say("Stopping High-Availability services: ", end="")
        rc = self.call([self.heartbeat, "-k"], quiet=True)
        if rc:
            return self.failure(rc)
        self._sbd("Stopping", "stop", ["message", "LOCAL", "exit"], skip_if_running=False)
        return self.success()

    def status(self, quiet: bool = False) -> int:
        return self.call([self.heartbeat, "-s"], quiet=quiet)

    def reload_ha(self) -> int:
        self.say("Reloading High-Availability services: ", end="")
        rc = self.call([self.heartbeat, "-r"])
        return self.failure(rc) if rc else self.success()

    def standby(self) -> int:
        auto_failback = self.parameter("auto_failback").lower()
        nice_failback = self.parameter("nice_failback").lower()
        if "legacy" in auto_failback:
            self.say("auto_failback is set to legacy.  Cannot enter standby.")
            return 1
        if "off" in nice_failback:
            self.say("nice_failback is disabled.  Cannot enter standby.")
            return 1
        if not auto_failback and not nice_failback:
            self.say("auto_failback defaulted to legacy.  Cannot enter standby.")
            return 1
        self.say(f"auto_failback: {auto_failback}")
        if self.status(quiet=True):
            self.say("Heartbeat is not currently running.")
            return 1
        self.say("Attempting to enter standby mode", end="")
        rc = self.call([f"{self.script_env['HA_NOARCHBIN']}/hb_standby"])
        return self.failure(rc) if rc else self.success()

    def wait_for_takeover(self, deadtime: str) -> None:
        """``sleep <deadtime>`` with the raw ha.cf value, as sleep(1) would take it, then the grace."""
        seconds = _sleep_seconds(deadtime)
        if seconds is None:
            self.err.write(f"sleep: invalid time interval '{deadtime}'\n" if deadtime
                           else "sleep: missing operand\n")
            self.err.flush()
        else:
            self.sleep(seconds)
        self.sleep(TAKEOVER_GRACE)

    def run(self, argv0: str, action: str | None) -> int:
        try:
            return self._action(argv0, action)
        except Abort as e:
            return e.rc

    def _action(self, argv0: str, action: str | None) -> int:
        if not os.access(self.heartbeat, os.X_OK):
            return 0
        if not os.path.isfile(self.paths.config):
            self.say(f"Heartbeat not configured: {self.paths.config} not found.", end="")
            self.failure(1)
            return 0
        if action == "start":
            self.startstop("pre-start")
            rc = self.start_ha()
            self.say("")
            if rc == 0:
                os.makedirs(os.path.dirname(self.paths.lock_file), exist_ok=True)
                with open(self.paths.lock_file, "a"):
                    os.utime(self.paths.lock_file)
            self.startstop("post-start", str(rc))
            return rc
        if action == "stop":
            self.startstop("pre-stop")
            rc = self.stop_ha()
            self.say("")
            if rc == 0:
                try:
                    os.unlink(self.paths.lock_file)
                except FileNotFoundError:
                    pass
            self.startstop("post-stop", str(rc))
            return rc
        if action == "status":
            return self.status()
        if action == "standby":
            if self.crm_enabled():
                self.say("use 'crm_stanby -v on' instead")
                return 1
            return self.standby()
        if action == "restart":
            deadtime = self.parameter("deadtime")
            self.stop_ha()
            if not self.crm_enabled():
                self.say("")
                self.say("Waiting to allow resource takeover to complete:", end="")
                self.wait_for_takeover(deadtime)
                self.success()
            self.say("")
            self.start_ha()
            self.say("")
            return 0  # the original never looks at what stop and start returned
        if action in ("reload", "force-reload"):
            self.reload_ha()
            self.say("")
            return 0  # the original takes the status of its `echo`
        self.say(f"Usage: {argv0} {USAGE_ACTIONS}")
        return 1


def _sleep_seconds(text: str) -> float | None:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smhd]?)", text)
    if m is None:
        return None
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _proc_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def _proc_number(path: str, wanted: Callable[[str], bool]) -> int | None:
    """The number that starts the first matching line of a /proc table (/proc/devices, /proc/misc)."""
    for line in _proc_lines(path):
        head = line.split()
        if wanted(line) and head and head[0].isdigit():
            return int(head[0])
    return None


def _proc_contains(path: str, word: str) -> bool:
    return any(word in line for line in _proc_lines(path))


def _running_with_prefix(argv: list[str]) -> bool:
    wanted = "\0".join(argv).encode() + b"\0"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(wanted):
                    return True
        except OSError:
            continue
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    script = InitScript(Paths(os.environ.get("PYHB_ROOT", "")), os.environ)
    return script.run(argv[0], argv[1] if len(argv) > 1 else None)
