"""Gratuitous ARP for addresses this node already serves, from the daemon itself.

The agents announce an address when they add it; a node that keeps an address it never
removed (a healed partition, a stall, the periodic refresh) runs no agent, so the daemon
announces it. The first request/reply pair leaves at once from the daemon's own raw
socket: a Python send_arp needs a few hundred ms to start, which is the client's outage
when the other node is removing its copy meanwhile. The rest of the burst is send_arp's,
with the agents' pid file, so that a later `IPaddr stop` still cuts it short.

Where an address lives is asked of the kernel with one netlink dump written out here:
pyroute2 would cost the daemon ~0.3 s of import at the worst moment.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
from typing import Callable, Iterable, Mapping

from heartbeat.agents.sendarp import default_pidfile

INTERVAL_MS = "200"       # the rest of the burst: a pair every 200 ms
COUNT = "5"

ETH_P_ARP = 0x0806
ARP_REQUEST, ARP_REPLY = 1, 2
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
MAX_DUMP_BYTES = 1 << 20  # bounds the read of a dump


def garp_frame(op: int, mac: bytes, ip: str) -> bytes:
    """A broadcast ARP request (target MAC zero) or reply (target MAC ours), sender = target = ip."""
    target = b"\0" * 6 if op == ARP_REQUEST else mac
    addr = socket.inet_aton(ip)
    return (b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + addr + target + addr)


def parse_addresses(data: bytes) -> tuple[list[tuple[str, int]], bool]:
    """(address, interface index) of the IPv4 RTM_NEWADDR messages in a dump chunk, and
    whether the dump ended. IFA_LOCAL wins over IFA_ADDRESS (they differ on point-to-point)."""
    found, offset = [], 0
    while offset + 16 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, offset)
        if length < 16 or offset + length > len(data):
            return found, True                     # malformed: stop rather than guess
        if mtype in (NLMSG_DONE, NLMSG_ERROR):
            return found, True
        if mtype == RTM_NEWADDR and length >= 24:
            family, _, _, _, index = struct.unpack_from("=BBBBI", data, offset + 16)
            attrs, pos, end = {}, offset + 24, offset + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4 or pos + alen > end:
                    break
                attrs[atype] = data[pos + 4:pos + alen]
                pos += (alen + 3) & ~3
            value = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
            if family == socket.AF_INET and value is not None and len(value) == 4:
                found.append((socket.inet_ntoa(value), index))
        offset += (length + 3) & ~3
    return found, False


def local_addresses() -> dict[str, str]:
    """Every IPv4 address on an interface here, and its device."""
    request = struct.pack("=IHHII", 16 + 8, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) \
        + struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
    found: dict[str, str] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:   # NETLINK_ROUTE
        sock.settimeout(1.0)
        sock.send(request)
        received = 0
        while received < MAX_DUMP_BYTES:
            chunk = sock.recv(65536)
            received += len(chunk)
            entries, done = parse_addresses(chunk)
            for ip, index in entries:
                try:
                    found.setdefault(ip, socket.if_indextoname(index))
                except OSError:
                    continue
            if done or not chunk:
                break
    return found


def interface_mac(device: str) -> bytes:
    with open(f"/sys/class/net/{device}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def send_first_pair(device: str, ip: str) -> None:
    mac = interface_mac(device)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((device, 0))
        for op in (ARP_REQUEST, ARP_REPLY):
            sock.send(garp_frame(op, mac, ip))


def announce(addresses: Iterable[str], environ: Mapping[str, str], log: Callable[[str, str], None], *,
             spawn: Callable[..., object],
             lookup: Callable[[], Mapping[str, str]] = local_addresses,
             first: Callable[[str, str], None] = send_first_pair) -> list[tuple[str, str]]:
    """Announce each address found on an interface here: a pair at once, then a send_arp
    burst started by `spawn`, which must not wait for it. (device, address) announced."""
    try:
        where = lookup()
    except OSError as e:
        log("ERROR", f"Cannot list the addresses to announce: {e}")
        return []
    pairs = [(where[ip], ip) for ip in addresses if ip in where]
    program = os.path.join(environ.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
    for device, ip in pairs:
        try:
            first(device, ip)
        except OSError as e:
            log("ERROR", f"Cannot send a gratuitous ARP for {ip} on {device}: {e}")
        spawn([program, "-i", INTERVAL_MS, "-r", COUNT, "-p", default_pidfile(ip, environ),
               device, ip, "auto", ip, "ffffffff"], env=dict(environ), stdin=subprocess.DEVNULL,
              start_new_session=True)
    return pairs

