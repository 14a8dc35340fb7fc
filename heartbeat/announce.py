"""Gratuitous ARP for addresses this node already serves, from the daemon itself.

The agents announce an address when they add it; a node that keeps an address it never
removed (a healed partition, a stall, the periodic refresh) runs no agent, so the daemon
starts `send_arp` itself, with the agents' pid file so that a later `IPaddr stop`
still cuts the burst short. Addresses not on any interface are skipped: the group is
being released, or was never started here.
"""

from __future__ import annotations

import os
import subprocess
from typing import Callable, Iterable, Mapping, Sequence

from heartbeat.agents.sendarp import default_pidfile

INTERVAL_MS = "200"       # a pair every 200 ms, the first at once
COUNT = "5"


def devices(addresses: Iterable[str], lookup: Callable[[], Sequence]) -> list[tuple[str, str]]:
    """(device, address) for each address configured here, in the order given."""
    found = {a.address: a.ifname for a in lookup()}
    return [(found[ip], ip) for ip in addresses if ip in found]


def announce(addresses: Sequence[str], environ: Mapping[str, str], log: Callable[[str, str], None], *,
             lookup: Callable[[], Sequence] | None = None,
             spawn: Callable[..., object]) -> list[tuple[str, str]]:
    """Start one send_arp burst per address found on an interface; `spawn` must not wait."""
    if lookup is None:
        from heartbeat.agents import netlink      # pyroute2 costs the daemon nothing until needed
        lookup = netlink.addresses
    try:
        pairs = devices(addresses, lookup)
    except OSError as e:
        log("ERROR", f"Cannot list the addresses to announce: {e}")
        return []
    program = os.path.join(environ.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
    for device, ip in pairs:
        argv = [program, "-i", INTERVAL_MS, "-r", COUNT, "-p", default_pidfile(ip, environ),
                device, ip, "auto", ip, "ffffffff"]
        spawn(argv, env=dict(environ), stdin=subprocess.DEVNULL, start_new_session=True)
    return pairs
