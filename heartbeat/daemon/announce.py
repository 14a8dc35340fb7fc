"""Gratuitous ARP for addresses this node already serves, from the daemon itself.

The agents announce an address when they add it; a node that keeps an address it never
removed (a healed partition, a stall, the periodic refresh) runs no agent, so the daemon
announces it. The first request/reply pair leaves at once from the daemon's own raw
socket: a Python send_arp needs a few hundred ms to start, which is the client's outage
when the other node is removing its copy meanwhile. The rest of the burst is send_arp's,
with the agents' pid file, so that a later `IPaddr stop` still cuts it short.

The frames are heartbeat/resources/garp.py's and where an address lives is asked of the kernel
with heartbeat/resources/netlink.py's dump, the agents' own code: struct over plain sockets, as
pyroute2 would cost the daemon ~0.3 s of import at the worst moment.
"""

from __future__ import annotations

import os
import subprocess
from typing import Callable
from collections.abc import Iterable, Mapping

from heartbeat.resources import garp, netlink

INTERVAL_MS = "200"       # the rest of the burst: a pair every 200 ms
COUNT = "5"


def local_addresses() -> dict[str, str]:
    """Every IPv4 address on an interface here, and its device."""
    found: dict[str, str] = {}
    for entry in netlink.addresses():
        if entry.address and entry.ifname:   # a device gone between the two dumps has no name
            found.setdefault(entry.address, entry.ifname)
    return found


def send_first_pair(device: str, ip: str) -> None:
    garp.send_now(device, ip, (garp.ARP_REQUEST, garp.ARP_REPLY))


def announce(addresses: Iterable[str], environ: Mapping[str, str], log: Callable[[str, str], None], *,
             spawn: Callable[..., object] | None,
             lookup: Callable[[], Mapping[str, str]] = local_addresses,
             first: Callable[[str, str], None] = send_first_pair) -> list[tuple[str, str]]:
    """Announce each address found on an interface here: a pair at once, then a send_arp
    burst started by `spawn`, which must not wait for it (None: the pair only, as for the
    periodic refresh). (device, address) announced."""
    try:
        where = lookup()
    except (OSError, netlink.NetlinkError) as e:
        log("ERROR", f"Cannot list the addresses to announce: {e}")
        return []
    pairs = [(where[ip], ip) for ip in addresses if ip in where]
    program = os.path.join(environ.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
    for device, ip in pairs:
        try:
            first(device, ip)
        except OSError as e:
            log("ERROR", f"Cannot send a gratuitous ARP for {ip} on {device}: {e}")
        if spawn is not None:
            spawn([program, "-i", INTERVAL_MS, "-r", COUNT, "-p", garp.default_pidfile(ip, environ),
                   device, ip, "auto", ip, "ffffffff"], env=dict(environ), stdin=subprocess.DEVNULL,
                  start_new_session=True)
    return pairs

