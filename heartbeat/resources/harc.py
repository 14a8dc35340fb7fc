"""harc: run the rc.d script of one cluster event (spec §8.2).

The daemon runs ``/etc/ha.d/harc <type>`` with the message's fields as ``HA_<name>``
variables. harc logs ``info: Running <rc.d>/<type> <type>`` and replaces itself with
that script, so the script's log lines carry harc's PID, as the original's do.

``<rc.d>`` is ``$HA_DIR/rc.d`` built from the inherited ``HA_DIR`` as it is, which is
why 3.0.6 logs ``/etc/ha.d//rc.d/status``. Both harc's output and the script's go to
``$HA_DEBUGLOG`` (``/dev/null`` unless a debugfile is configured).

Our own ``rc.d/status``, as shipped and sourcing our own ``shellfuncs`` (both compared
byte for byte, so an admin's edit or replacement runs as before), is not handed to a
shell: harc does what it does, in its place. On a node's death that script is all that
stands between the daemon and mach_down, and a shell sourcing shellfuncs (itself four
programs to build PATH) followed by a fresh interpreter for mach_down cost tens of ms
before the takeover's first step (issue 10). mach_down still runs as a process of its
own, as a program when it is not our launcher, with the arguments, environment and
streams the script would give it; harc's exit status is the script's.

Difference: an event name that is empty or is not a plain file name (``/``, ``..``, a
leading ``-`` or ``.``, shell characters) is refused with a usage error (the original
would try to run the rc.d directory itself, or a path outside it).
"""

from __future__ import annotations

import os
import sys

from heartbeat.config.scriptnames import is_plain_name
from heartbeat.resources import ownprograms
from heartbeat.resources.scriptenv import child_environ, invocation, to_debuglog, with_defaults

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, source, env, log = invocation(argv, environ)
    prog = argv[0]
    event = argv[1] if len(argv) > 1 else ""
    if not is_plain_name(event):
        sys.stderr.write(f"usage: {prog} event [args...]\n"
                         f"{prog}: the event is the name of a script in $HA_DIR/rc.d\n")
        return 1
    problem = to_debuglog(env["HA_DEBUGLOG"])
    if problem:
        sys.stderr.write(f"{prog}: {problem}\n")
        return 2
    rcdir = f"{env['HA_DIR']}/rc.d"
    script = f"{rcdir}/{event}"
    if not os.path.isdir(rcdir):
        log.log(f"ERROR: {prog}: {rcdir} does not exist")
        return 1
    if not (os.path.isfile(script) and os.access(script, os.X_OK)):
        log.log(f"ERROR: {prog}: {script}: not executable")
        return 1
    log.log(f"info: Running {script} {' '.join(argv[1:])}")
    script_env = child_environ(env, source)
    if ownprograms.same_as_shipped(script, "rc.d/status"):
        done = _status(script_env)
        if done is not None:
            return done
    try:
        os.execve(script, [script, *argv[1:]], script_env)
    except OSError as e:
        log.log(f"ERROR: {prog}: {script}: cannot execute ({e.strerror})")
        return 126


def _status(script_env: dict[str, str]) -> int | None:
    """What our rc.d/status does, without its shell: on a node's death, run
    ``$HA_NOARCHBIN/mach_down "$HA_src"`` with what sourcing shellfuncs exports; the script's
    exit status. None when the script must run after all: the shellfuncs it would source is
    not ours, or mach_down is not our launcher (then the shell runs it, as before)."""
    funcs = script_env.get("HA_FUNCS") or "/etc/ha.d/shellfuncs"
    if not ownprograms.same_as_shipped(funcs, "data/shellfuncs"):
        return None
    if script_env.get("HA_st") != "dead":
        return 0
    env = with_defaults(script_env)
    exported = child_environ(env, script_env)
    exported["PWD"] = _shell_pwd(script_env.get("PWD"))
    pid = ownprograms.start([f"{env['HA_NOARCHBIN']}/mach_down", script_env.get("HA_src", "")], exported)
    if pid is None:
        return None
    rc = ownprograms.wait(pid)
    return 128 - rc if rc < 0 else rc  # a shell's status for a program killed by a signal


def _shell_pwd(inherited: str | None) -> str:
    """The PWD a POSIX shell exports: the inherited one if it names the working directory,
    else the working directory's physical path."""
    try:
        if inherited and os.path.isabs(inherited) and os.path.samefile(inherited, "."):
            return inherited
    except OSError:
        pass
    return os.getcwd()
