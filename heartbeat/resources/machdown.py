"""mach_down NODE: take over the resource groups of a dead node (spec §10).

rc.d/status runs it when a node is reported dead. Every group whose preferred node is
NODE is taken with ``ResourceManager takegroup``, even groups we may already hold (a
takegroup of running resources only probes them). In nice_failback mode the daemon
learns that the takeover is done from the ``t=resource rsc_hold=foreign info=mach_down``
message; the closing log line is what test harnesses wait for.

Nothing is taken for ourselves or for a ping node (``HA_info`` mentions ``ping``).

Differences: a missing or extra argument is a usage error (the original went on with an
empty node name); the message to the daemon fails with an error instead of blocking
when no daemon reads the FIFO, and the exit status is then 1.
"""

from __future__ import annotations

import sys

from heartbeat.config.nodename import ascii_lower
from heartbeat.resources.resourcemanager import run_command
from heartbeat.resources.scriptenv import invocation, send_clustermsg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, source, env, log = invocation(argv, environ)
    prog = argv[0]
    if len(argv) != 2 or not argv[1].strip():
        sys.stderr.write(f"usage: {prog} node\n")
        return 1
    # the original reads the name through `echo $1`: blanks squeezed
    node = ascii_lower(" ".join(argv[1].split()))
    if node == env.get("HA_CURHOST", ""):
        return 0
    if "ping" in env.get("HA_info", ""):
        return 0
    _rc, keys = run_command(env, source, ["listkeys", node], capture=True)
    for key in keys.split():
        log.log(f"info: Taking over resource group {key}")
        run_command(env, source, ["takegroup", key])
    rc = 0
    if env.get("HA_NICEFAILBACK") in ("yes", "Yes"):
        log.log(f"info: {prog}: nice_failback: foreign resources acquired")
        rc = send_clustermsg(env, [("t", "resource"), ("rsc_hold", "foreign"), ("info", "mach_down")])
    log.log(f"info: mach_down takeover complete for node {node}.")
    return rc
