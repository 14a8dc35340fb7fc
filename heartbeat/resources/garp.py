"""Gratuitous ARP on the wire: the frames, the device's MAC, the raw send, send_arp's pid file.

One implementation for the two senders: send_arp (heartbeat/resources/agents/sendarp.py, run by the
address agents) and the daemon's own re-announcement (heartbeat/daemon/announce.py), which must
not load the agents' package. Standard library only: the daemon imports it at start.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

ARP_REQUEST, ARP_REPLY = 1, 2
ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
BROADCAST = b"\xff" * 6
SIOCGIFHWADDR = 0x8927
IFNAMSIZ = 16


def garp_frame(op: int, mac: str, ip: str) -> bytes:
    """One 42-byte broadcast frame (Ethernet header, then RFC 826's ARP packet for IPv4
    over Ethernet), sender = target = ``ip``; the reply names our own MAC as its target,
    the request a zero MAC. ``mac``: "02:00:c0:00:02:0b"."""
    own = bytes.fromhex(mac.replace(":", ""))
    target = bytes(6) if op == ARP_REQUEST else own
    address = socket.inet_aton(ip)
    return (BROADCAST + own + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", ARPHRD_ETHER, ETH_P_IP, 6, 4, op) + own + address + target + address)


def interface_mac(device: str) -> str:
    """The device's hardware address, asked of the kernel of our own network namespace
    (/sys may be another namespace's); OSError when there is no such device."""
    name = device.encode()
    if len(name) >= IFNAMSIZ or b"\0" in name:
        raise OSError(f"no device {device!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("16s24x", name))
    return answer[18:24].hex(":")  # ifr_hwaddr: sa_family, then sa_data


def raw_socket(device: str) -> socket.socket:
    """A packet socket that sends whole frames out of ``device``."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sock.bind((device, 0))
    except OSError:
        sock.close()
        raise
    return sock


def send_now(device: str, ip: str, ops: Iterable[int]) -> None:
    """One frame of each ARP op in ``ops`` for ``ip``, at once, from ``device``'s own MAC."""
    mac = interface_mac(device)
    with raw_socket(device) as sock:
        for op in ops:
            sock.send(garp_frame(op, mac, ip))


def default_pidfile(ip: str, environ: Mapping[str, str]) -> str:
    """Where send_arp keeps its pid for ``ip``: the agents' stop cuts the burst short with it."""
    return os.path.join(environ.get("HA_RSCTMP") or "/run/resource-agents", f"send_arp-{ip}")
