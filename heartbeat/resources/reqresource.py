"""req_resource KEY: ask the cluster for one of our resource groups (spec §10, §14.3).

The daemon's req_our_resources child runs it for each of our group keys. Nothing happens
when the key resource already runs here. Otherwise, when nobody else can hold the group
(``HA_DONTASK=yes``, which nice_failback implies) we grant it to ourselves with an
``ip-request-resp``; else we send an ``ip-request`` and the holder answers. Either way the
group is started later by rc.d/ip-request-resp, not here. (The original's fallback of
taking the group anyway after 20 minutes is disabled there too.)

Only the key resource is probed: a group whose first resource runs counts as ours.

Differences: a missing or extra argument is a usage error; a message the daemon cannot
take (no reader on the FIFO) is an error, exit 1, instead of blocking forever.
"""

from __future__ import annotations

import sys

from heartbeat.resources.resourcemanager import run_command
from heartbeat.resources.scriptenv import invocation, send_clustermsg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping

# the original's debug test is the glob [123458789]*, which leaves out 6
_DEBUG_DIGITS = frozenset("12345789")


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, source, env, log = invocation(argv, environ, fixed_ha_dir=True)
    prog = argv[0]
    if len(argv) != 2 or not argv[1]:
        sys.stderr.write(f"usage: {prog} resource-group-key\n")
        return 1
    key = argv[1]
    if run_command(env, source, ["status", key])[0] == 0:
        return 0
    dontask = env.get("HA_DONTASK", "")
    nicefailback = env.get("HA_NICEFAILBACK", "")
    if env.get("HA_debug", "")[:1] in _DEBUG_DIGITS:
        log.log(f"debug: in {prog} {key}")
        log.log(f"debug: dont_ask: {dontask} nice_failback: {nicefailback}")
    if nicefailback == "yes":
        dontask = "yes"
    if dontask == "yes":
        fields = [("t", "ip-request-resp"), ("dest", env.get("HA_CURHOST", "")), ("ipaddr", key),
                  ("weown", "yes"), ("ok", "OK")]
    else:
        fields = [("t", "ip-request"), ("ipaddr", key)]
    return send_clustermsg(env, fields)
