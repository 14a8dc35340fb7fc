"""harc: run the rc.d script of one cluster event (spec §8.2).

The daemon runs ``/etc/ha.d/harc <type>`` with the message's fields as ``HA_<name>``
variables. harc logs ``info: Running <rc.d>/<type> <type>`` and replaces itself with
that script, so the script's log lines carry harc's PID, as the original's do.

``<rc.d>`` is ``$HA_DIR/rc.d`` built from the inherited ``HA_DIR`` as it is, which is
why 3.0.6 logs ``/etc/ha.d//rc.d/status``. Both harc's output and the script's go to
``$HA_DEBUGLOG`` (``/dev/null`` unless a debugfile is configured).

Difference: an event name that is empty or is not a plain file name (``/``, ``..``, a
leading ``-`` or ``.``, shell characters) is refused with a usage error (the original
would try to run the rc.d directory itself, or a path outside it).
"""

from __future__ import annotations

import os
import sys

from heartbeat.config.scriptnames import is_plain_name
from heartbeat.resources.scriptenv import ScriptLog, child_environ, script_name, to_debuglog, with_defaults

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    source = os.environ if environ is None else environ
    env = with_defaults(source)
    prog = argv[0]
    log = ScriptLog(env, script_name(prog))
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
    try:
        os.execve(script, [script, *argv[1:]], child_environ(env, source))
    except OSError as e:
        log.log(f"ERROR: {prog}: {script}: cannot execute ({e.strerror})")
        return 126
