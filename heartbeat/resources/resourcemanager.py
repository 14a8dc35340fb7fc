"""ResourceManager: start, stop and query haresources groups (spec §5.2, §6, §7).

The original is a shell script whose quirks existing clusters depend on, and they are
kept here on purpose:

* lookups are egrep patterns over the normalised haresources lines (each ending in a
  blank): ``listkeys NODE`` matches ``^NODE `` case-insensitively, a group is every line
  containing `` KEY `` (several matches are run as one group). '.' matches any character;
  every other character stands for itself (`heartbeat.config.groupkeys`), which is egrep's reading of
  every key haresources accepts, in linear time whatever a peer sends;
* a resource is running when its ``status`` *text* says so, whatever the exit code;
* a failed start releases the whole group and runs ``hb_standby foreign`` 30 s later
  (the original's group-type test cannot say "local"); the exit status is then that of
  the release, normally 0;
* stop runs on every member, running or not, is retried every second up to
  ``HA_STOPRETRYMAX`` times, and a resource still running after that reboots the node.

Note on the status text: ``cannot determine status, may be running`` (drbddisk) reads
as *not* running, because "cannot " holds "not " -- the original's glob does the same.

Differences: the haresources file is read with the strict parser
(`heartbeat.config.haresources.load_haresources`); a file it rejects is logged and treated as
empty rather than half-run. heartbeat is killed by the PID in its pid file (never by
name); the reboot command can be replaced with ``PYHB_REBOOT`` (tests). ``statgroup`` of
an unknown key writes ``NONE`` where the original printed its shell variables. A
missing, empty or extra operand is a usage error (the original went on with an empty
one). A resource token whose script name is not a plain file name (`/`, `..`, a leading
`-`, shell characters), or that holds blanks or control characters, is refused and
logged: ip-request keys from the wire reach ``status`` and ``givegroup``. takegroup and
givegroup of one group wait for each other (a lock file per group key in ``$HA_VARLIB``).
The init directory (``INITDIR``) and hb_standby (``$HA_NOARCHBIN``) follow the
environment, defaulting to the original's fixed /etc/init.d and /usr/share/heartbeat.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import re
import shlex
import signal
import sys
import time

from heartbeat.config.groupkeys import allkeys, egrep_pattern, listkeys, otherkeys, ourkeys
from heartbeat.config.scriptnames import script_name_problem
from heartbeat.resources import ownprograms
from heartbeat.resources.scriptenv import ScriptLog, child_environ, invocation, to_debuglog

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    import subprocess
    from typing import Callable
    from collections.abc import Iterator, Mapping

USAGE = "usage: {0} listkeys machine | takegroup key | givegroup key|status resource"
STANDBY_DELAY = 30   # seconds between a failed start and `hb_standby foreign`

_NOT_RUNNING = re.compile(r"[Nn][Oo][Tt] .*[Rr]unning", re.DOTALL)
_RUNNING = re.compile(r"[Rr]unning|OK")


# --- the haresources lines and the lookups on them -------------------------------------------

def read_lines(ha_dir: str, log: ScriptLog) -> list[str]:
    """The normalised group lines, each with its trailing blank, as ResourceManager sees them."""
    path = os.path.join(ha_dir, "haresources")
    if not os.path.isfile(path):
        return []
    # here, not at the top: mach_down and req_resource import this module only to run
    # ResourceManager, and the parser's imports would slow every takeover they start
    from heartbeat.config.errors import ConfigError, flatten
    from heartbeat.config.haresources import load_haresources
    try:
        res = load_haresources(path)
    except ConfigError as e:
        for err in flatten(e):
            log.log(f"ERROR: {err}")
        return []
    return [g.text + " " for g in res.groups]


def group_lines(lines: list[str], key: str) -> list[str]:
    """Every line containing `` KEY ``."""
    pattern = egrep_pattern(f" {key} ")
    return [line for line in lines if pattern.search(line)]


def group_words(lines: list[str], key: str) -> list[str]:
    """Node and resources of every line containing `` KEY ``, run together."""
    return [w for line in group_lines(lines, key) for w in line.split()]


# --- resource tokens -----------------------------------------------------------------------

def is_ip(token: str) -> bool:
    return fnmatch.fnmatchcase(token, "[0-9]*.[0-9]*.[0-9]*.[0-9]*")


def canonical(token: str) -> str:
    return f"IPaddr::{token}" if is_ip(token) else token


def script_of(token: str) -> str:
    """The script name as written (a bare IP stays itself; the lookup canonicalises)."""
    return token.split("::", 1)[0]


def args_of(token: str) -> str:
    """The argument string: what follows the first ``name::``, each ``::`` a blank."""
    if "::" not in canonical(token):
        return ""
    return re.sub(r"[^:]*::", "", token, count=1).replace("::", " ")


_BLANK_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def token_problem(token: str) -> str | None:
    """Why ``token`` is no resource to look up, or None.

    Tokens reach us from the wire (an ip-request's key goes to ``status`` and
    ``givegroup``): the script name must be a plain file name in resource.d or the init
    directory, and a token never holds blanks or control characters (the haresources
    parser splits on blanks and refuses control characters, so no real token does)."""
    if not token or _BLANK_OR_CONTROL.search(token):
        shown = token.encode("unicode_escape").decode("ascii")
        return f"resource [{shown}] is empty or holds blanks or control characters"
    return script_name_problem(token, script_of(canonical(token)))


def running_from_text(text: str) -> bool:
    """ResourceManager's reading of a status output (spec §6)."""
    if _NOT_RUNNING.search(text):
        return False
    return bool(_RUNNING.search(text))


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _call(argv: list[str], env: Mapping[str, str], *, capture: bool = False,
          stderr: int | None = None) -> tuple[int, str]:
    """Run a program the way sh would: exit status as $? (126/127 when it cannot run)
    and, with ``capture``, its stdout. Our own launchers run in a forked child instead
    (heartbeat.resources.ownprograms), which spares them an interpreter start."""
    own = ownprograms.run(argv, env, capture=capture, stderr=stderr)
    if own is not None:
        return _exit_status(own[0]), own[1].decode("utf-8", "surrogateescape")
    # subprocess (with locale and threading, ~3 ms of CPU) only for a program of another
    # kind: listkeys and status run none, and a takeover of our own agents forks them
    import subprocess
    try:
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE if capture else None, stderr=stderr)
    except OSError as e:
        os.write(stderr if stderr is not None else 2, f"{argv[0]}: {e.strerror}\n".encode())
        return (127 if e.errno == 2 else 126), ""
    return _exit_status(done.returncode), (done.stdout or b"").decode("utf-8", "surrogateescape")


# --- running scripts ---------------------------------------------------------------------

class ResourceManager:
    """Group operations for one haresources file.

    Children write their stdout to this process's stdout and their stderr to the debug
    log, as in the original; the CLI points stdout and stderr at the debug log for the
    group operations. ``sleep``, ``spawn_standby`` and ``reboot`` are injectable; ``base``
    is the environment this ResourceManager was started with (default ``os.environ``).
    """

    def __init__(self, env: Mapping[str, str], lines: list[str], log: ScriptLog, argv0: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 spawn_standby: Callable[[str], object] | None = None,
                 reboot: Callable[[], bool] | None = None, base: Mapping[str, str] | None = None) -> None:
        self.env = env
        self.lines = lines
        self.log = log
        self.argv0 = argv0
        self._sleep = sleep
        self._spawn_standby = spawn_standby or self._background_standby
        self._reboot = reboot or self._reboot_node
        self._child_env = child_environ(env, base)

    # lookups --------------------------------------------------------------------------
    def scriptpath(self, name: str) -> str | None:
        problem = token_problem(name)
        if problem is not None:
            self.log.log(f"ERROR: {problem}")
            return None
        script = script_of(canonical(name))
        for directory in (self.env.get("HA_RESOURCEDIR", ""), self.env.get("INITDIR", "")):
            path = f"{directory}/{script}"
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        self.log.log(f"ERROR: Cannot locate resource script {script}")
        return None

    def _run(self, argv: list[str], *, capture: bool = False, stderr_to_debuglog: bool = False):
        stderr = None
        if stderr_to_debuglog:
            stderr = os.open(self.env["HA_DEBUGLOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            return _call(argv, self._child_env, capture=capture, stderr=stderr)
        finally:
            if stderr is not None:
                os.close(stderr)

    def is_running(self, token: str) -> bool:
        """``status`` of one resource, decided by its output text."""
        path = self.scriptpath(token)
        if path is None:
            return False
        _rc, text = self._run([path, *args_of(token).split(), "status"], capture=True)
        return running_from_text(text)

    def doscript(self, token: str, op: str) -> int:
        script, args = script_of(token), args_of(token)
        problem = token_problem(token)
        if problem is not None:
            self.log.log(f"ERROR: {problem}")
            return 1
        path = self.scriptpath(script)
        if path is None:
            # the original says it twice too: once in the lookup, once here
            self.log.log(f"ERROR: Cannot locate resource script {script}")
            return 1
        self.log.log(f"info: Running {path} {args} {op}")
        self.log.debug(f"debug: Starting {path} {args} {op}")
        rc, _ = self._run([path, *args.split(), op], stderr_to_debuglog=True)
        self.log.debug(f"debug: {path} {args} {op} done. RC={rc}")
        if rc != 0:
            self.log.log(f"ERROR: Return code {rc} from {path}")
        return rc

    # group operations -------------------------------------------------------------------
    def takegroup(self, key: str) -> int:
        matched = group_lines(self.lines, key)
        with self._locked(matched):
            return self.acquire(" ".join(matched).split()) if matched else 0

    def givegroup(self, key: str) -> int:
        matched = group_lines(self.lines, key)
        with self._locked(matched):
            return self.release(" ".join(matched).split()) if matched else 0

    @contextlib.contextmanager
    def _locked(self, matched: list[str]) -> Iterator[None]:
        """Hold the lock of every group in ``matched`` (in one order: no deadlock).

        The original ran every group operation one after the other; we start a dead
        node's takeover beside a running job, so a release of the same group (an
        ip-request, a standby) must finish before the takeover looks at it. Without the
        lock directory the operation runs unlocked, as the original always did."""
        # hashlib loads OpenSSL (~3 ms of CPU), which listkeys and a status never need
        import hashlib
        fds = []
        try:
            for key in sorted({line.split(" ")[1] for line in matched}):
                digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:24]
                path = f"{self.env.get('HA_VARLIB') or '/var/lib/heartbeat'}/rsc-{digest}.lock"
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
                except OSError:
                    continue
                fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            for fd in fds:
                os.close(fd)

    def acquire(self, words: list[str]) -> int:
        self.log.log(f"info: Acquiring resource group: {' '.join(words)}")
        node, resources = words[0], words[1:]
        for token in resources:
            if self.is_running(token) or self.doscript(token, "start") == 0:
                continue
            self.log.log(f"CRIT: Giving up resources due to failure of {token}")
            # the original's status variable is overwritten by the release
            rc = self.release([node, *resources])
            self._spawn_standby(self.standby_type(token))
            return rc
        return 0

    def release(self, words: list[str]) -> int:
        self.log.log(f"info: Releasing resource group: {' '.join(words)}")
        rc = 0
        limit = self._stop_retry_max()
        for token in reversed(words[1:]):
            retries = 0
            while (rc1 := self.doscript(token, "stop")) != 0 and limit is not None \
                    and (limit <= 0 or retries < limit):
                self._sleep(1)
                retries += 1
                self.log.log(f"info: Retrying failed stop operation [{token}]")
            if rc1 == 0:
                continue
            if self.is_running(token):
                rc = rc1
                self.recover_from_failed_stop()
            else:
                self.log.log(f"ERROR: Resource script for {token} probably not LSB-compliant.")
                self.log.log(f"WARN: it ({token}) MUST succeed on a stop when already stopped")
                self.log.log("WARN: Machine reboot narrowly avoided!")
        return rc

    def _stop_retry_max(self) -> int | None:
        """HA_STOPRETRYMAX (default 10; <= 0 unlimited); not a number: no retry, like
        the original's failing `[ x -le 0 ]`."""
        value = self.env.get("HA_STOPRETRYMAX", "10")
        return int(value) if re.fullmatch(r"\s*-?[0-9]+\s*", value) else None

    def statgroup(self, key: str) -> str:
        result = None
        for token in group_words(self.lines, key)[1:]:
            state = "ALL" if self.is_running(token) else "NONE"
            if result is None:
                result = state
            elif result != state:
                return "SOME"
        return result or "NONE"

    def verifyallidle(self) -> int:
        active = 0
        for key in allkeys(self.lines):
            if not self.is_running(key):
                continue
            self.log.log(f"CRITICAL: Resource {key} is active, and should not be!")
            self.log.log("CRITICAL: Non-idle resources can affect data integrity!")
            self.log.log("info: If you don't know what this means, then get help!")
            self.log.log(f"info: Read the docs and/or source to {self.argv0} for more details.")
            sys.stderr.write(f"CRITICAL: Resource {key} is active, and should not be!\n"
                             "CRITICAL: Non-idle resources can affect data integrity!\n"
                             "info: If you don't know what this means, then get help!\n"
                             f"info: Read the docs and/or the source to {self.argv0} for more details.\n")
            sys.stderr.flush()
            active += 1
        if active:
            self.log.log("CRITICAL: Non-idle resources will affect resource takeback!")
            self.log.log("CRITICAL: Non-idle resources may affect data integrity!")
        return active

    def standby_type(self, token: str) -> str:
        """The original asks whether the *failed resource* is one of our group lines,
        which never holds, so this is "foreign" except for a token ending in '.', which
        the original's grep matches against the blank that ends each line."""
        pattern = egrep_pattern(token)
        for line in ourkeys(self.lines, self.env.get("HA_CURHOST", "")):
            if pattern.fullmatch(line):
                return "local"
        return "foreign"

    # failure paths ------------------------------------------------------------------------
    def _background_standby(self, kind: str) -> subprocess.Popen:
        import subprocess  # see _call
        standby = f"{self.env['HA_NOARCHBIN']}/hb_standby"
        return subprocess.Popen(["/bin/sh", "-c", 'sleep "$1"; exec "$0" "$2"', standby, str(STANDBY_DELAY), kind],
                         env=self._child_env)

    def recover_from_failed_stop(self) -> None:
        self.log.log("CRIT: Resource STOP failure. Reboot required!")
        self.log.log("CRIT: Killing heartbeat ungracefully!")
        self._kill_heartbeat()
        # ipfail and ccm, which the original also kills, are not part of pyheartbeat
        if not self._reboot():
            self.log.log("CRIT: Unable to force reboot.")

    def _kill_heartbeat(self) -> None:
        pidfile = f"{self.env.get('HA_VARRUN') or '/var/run'}/heartbeat.pid"
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        if pid > 1 and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def _reboot_node(self) -> bool:
        if self.env.get("PYHB_REBOOT"):
            commands = [shlex.split(self.env["PYHB_REBOOT"])]
        else:
            commands = [["/sbin/reboot", "-nf"], ["/sbin/init", "6"]]
        for argv in commands:
            if os.access(argv[0], os.X_OK) and self._run(argv)[0] == 0:
                return True
        return False


# --- command line ------------------------------------------------------------------------

def run_command(env: Mapping[str, str], base: Mapping[str, str], args: list[str], *,
                capture: bool = False) -> tuple[int, str]:
    """``$HA_NOARCHBIN/ResourceManager ARGS`` as mach_down, req_resource and the rc.d
    scripts run it: a separate process, so its lines carry its own tag and PID."""
    return _call([f"{env['HA_NOARCHBIN']}/ResourceManager", *args], child_environ(env, base), capture=capture)


# subcommand -> whether it takes an operand
# subcommands whose operand is a resource token (from the wire, through rc.d)
RESOURCE_OPERAND = frozenset({"status", "takegroup", "givegroup", "statgroup"})
COMMANDS = {"listkeys": True, "allkeys": False, "ourkeys": False, "otherkeys": False, "status": True,
            "takegroup": True, "givegroup": True, "statgroup": True, "verifyallidle": False}


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, source, env, log = invocation(argv, environ, fixed_ha_dir=True)
    command = _command(argv)
    if command is None:
        sys.stderr.write(USAGE.format(argv[0]) + "\n\n")
        return 1
    cmd, arg = command
    problem = token_problem(arg) if cmd in RESOURCE_OPERAND else None
    if problem is not None:
        log.log(f"ERROR: {problem}")
        return 3 if cmd == "status" else 1
    lines = read_lines(env["HA_DIR"], log)
    rm = ResourceManager(env, lines, log, argv[0], base=source)
    if cmd == "status":
        return 0 if rm.is_running(arg) else 3
    if cmd == "verifyallidle":
        return rm.verifyallidle() & 0xFF
    if cmd in ("takegroup", "givegroup", "statgroup"):
        return _group_command(rm, env, cmd, arg, argv[0])
    sys.stdout.write("".join(line + "\n" for line in _keys(lines, env, cmd, arg)))
    return 0


def _command(argv: list[str]) -> tuple[str, str] | None:
    """The subcommand and its operand ("" if it takes none), or None for a usage error."""
    cmd = argv[1] if len(argv) > 1 else ""
    # words after the operand are ignored, as the original reads only "$2": the daemon's
    # standby hands over whole haresources lines (`takegroup IPaddr::... httpd`)
    if cmd not in COMMANDS or len(argv) < 2 + COMMANDS[cmd] or (COMMANDS[cmd] and not argv[2]):
        return None
    return cmd, argv[2] if COMMANDS[cmd] else ""


def _group_command(rm: ResourceManager, env: Mapping[str, str], cmd: str, group: str, program: str) -> int:
    """takegroup, givegroup and statgroup: only once their debug log can be opened."""
    problem = to_debuglog(env["HA_DEBUGLOG"])
    if problem:
        sys.stderr.write(f"{program}: {problem}\n")
        return 2
    if cmd == "statgroup":
        print(rm.statgroup(group), flush=True)
        return 0
    return (rm.takegroup(group) if cmd == "takegroup" else rm.givegroup(group)) & 0xFF


def _keys(lines: list[str], env: Mapping[str, str], cmd: str, arg: str) -> list[str]:
    """The resource keys the listing subcommands print."""
    if cmd == "listkeys":
        return listkeys(lines, arg)
    if cmd == "allkeys":
        return allkeys(lines)
    curhost = env.get("HA_CURHOST", "")
    return ourkeys(lines, curhost) if cmd == "ourkeys" else otherkeys(lines, curhost)


if __name__ == "__main__":
    sys.exit(main())
