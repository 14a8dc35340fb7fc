"""bcast, mcast and ucast: one UDP read socket and one write socket per medium (wire-protocol §6.1-6.4).

Socket options, bind addresses and log lines follow 3.0.6's plugins; the log
lines were read from a real daemon in the lab.  The read side never looks at
the sender: a message is identified by its ``src`` field alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import socket
import struct
from typing import Callable, NamedTuple, TypeVar

from heartbeat.daemon.log import DaemonLog
from heartbeat.core.message import Message
from heartbeat.daemon.media.base import PLUGIN_PREFIX, Medium, MediumError, Receive

T = TypeVar("T")

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IPTOS_LOWDELAY = 0x10
BIND_TRIES = 10              # bind attempts of a bcast or mcast read socket, 1 s apart
MCAST_ADDRESS_TRIES = 120    # an mcast interface gets 120 s to acquire an IPv4 address
RETRY_DELAY = 1.0
SIOCGIFADDR = 0x8915
SIOCGIFBRDADDR = 0x8919
IFNAMSIZ = 16


def interface_exists(iface: str) -> bool:
    try:
        socket.if_nametoindex(iface)
    except (OSError, ValueError):
        return False
    return True


def _ifreq_ipv4(iface: str, request: int) -> str:
    """One address of the interface's primary IPv4 address, asked the way 3.0.6's plugins
    ask (an ioctl), which costs nothing to import; OSError as the kernel gives it."""
    name = iface.encode()
    if len(name) >= IFNAMSIZ or b"\0" in name:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        answer = fcntl.ioctl(sock.fileno(), request, struct.pack("16s24x", name))  # sizeof(struct ifreq): 40
    return socket.inet_ntoa(answer[20:24])  # ifr_addr: family, port, then the address


def broadcast_address(iface: str) -> str:
    """What SIOCGIFBRDADDR reports: 0.0.0.0 for an address configured without ``brd``."""
    try:
        return _ifreq_ipv4(iface, SIOCGIFBRDADDR)
    except OSError as e:
        raise MediumError(f"Get broadcast for interface {iface} failed: {e.strerror}") from e


class Step(NamedTuple):
    """One socket option (or bind) as the plugin sets it: what it logs when done, what when it fails."""
    apply: Callable[[socket.socket], None]
    done: str      # info line ("" for none)
    failed: str    # error text; "{}" becomes the error's strerror


def _option(level: int, name: int, value: int | bytes) -> Callable[[socket.socket], None]:
    return lambda sock: sock.setsockopt(level, name, value)


def _device(iface: str) -> Callable[[socket.socket], None]:
    return _option(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())


def apply_steps(sock: socket.socket, steps: list[Step], log: DaemonLog) -> None:
    """Apply ``steps`` in order; MediumError at the first failure."""
    for step in steps:
        try:
            step.apply(sock)
        except OSError as e:
            raise MediumError(step.failed.format(e.strerror)) from e
        if step.done:
            log.info(PLUGIN_PREFIX + step.done)


def build_socket(steps: list[Step], log: DaemonLog) -> socket.socket:
    """A UDP socket with ``steps`` applied; closed again if one fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        apply_steps(sock, steps, log)
    except BaseException:
        sock.close()
        raise
    return sock


def bcast_write_steps(iface: str) -> list[Step]:
    return [Step(_option(socket.SOL_SOCKET, socket.SO_BROADCAST, 1), "",
                 "Error setting socket option SO_BROADCAST: {}"),
            Step(_option(socket.SOL_SOCKET, socket.SO_DONTROUTE, 1), "",
                 "Error setting socket option SO_DONTROUTE: {}"),
            Step(_device(iface), "", "Error setting socket option SO_BINDTODEVICE: {}")]


def bcast_read_steps(iface: str) -> list[Step]:
    # bound later, with retries
    return [Step(_option(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1), "",
                 "Error setting socket option SO_REUSEADDR: {}"),
            Step(_device(iface), "", f"Error setting socket option SO_BINDTODEVICE(r) on {iface}: {{}}")]


def mcast_write_steps(ifaddr: str, ttl: int, loop: bool) -> list[Step]:
    return [Step(_option(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr)), "",
                 "Error setting outbound mcast interface: {}"),
            Step(_option(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(loop)), "",
                 "Error setting outbound mcast loopback value: {}"),
            Step(_option(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl), "",
                 "Error setting outbound mcast TTL: {}")]


def mcast_read_steps() -> list[Step]:
    # bound to group:port later, with retries, then joined
    return [Step(_option(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1), "", "Error setsockopt(SO_REUSEADDR)")]


def mcast_membership(group: str, iface: str, ifaddr: str) -> Step:
    """Joining the group, once the read socket is bound to group:port."""
    membership = socket.inet_aton(group) + socket.inet_aton(ifaddr)
    return Step(_option(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership),
                "", f"Can't join multicast group {group} on interface {iface}")


def ucast_write_steps(iface: str) -> list[Step]:
    return [Step(_option(socket.IPPROTO_IP, socket.IP_TOS, IPTOS_LOWDELAY),
                 f"ucast: write socket priority set to IPTOS_LOWDELAY on {iface}",
                 "ucast: error setting socket option IP_TOS: {}"),
            Step(_device(iface), f"ucast: bound send socket to device: {iface}",
                 f"ucast: error setting option SO_BINDTODEVICE(w) on {iface}: {{}}"),
            Step(_option(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1), "ucast: set SO_REUSEPORT(w)",
                 "ucast: error setting option SO_REUSEPORT(w): {}")]


def ucast_read_steps(iface: str, port: int) -> list[Step]:
    return [Step(_option(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1), "ucast: set SO_REUSEADDR",
                 "ucast: error setting socket option SO_REUSEADDR: {}"),
            Step(_device(iface), f"ucast: bound receive socket to device: {iface}",
                 f"ucast: error setting option SO_BINDTODEVICE(r) on {iface}: {{}}"),
            Step(_option(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1), "ucast: set SO_REUSEPORT",
                 "ucast: error setting option SO_REUSEPORT: {}"),
            Step(lambda sock: sock.bind(("0.0.0.0", port)), "", "ucast: unable to bind socket. Giving up: {}")]


async def _retrying(attempt: Callable[[], T], tries: int, retry_line: Callable[[OSError], str | None],
                    give_up: Callable[[OSError], str], log: DaemonLog) -> T:
    """``attempt()`` up to ``tries`` times, ``RETRY_DELAY`` apart.

    ``retry_line(error)`` is the line logged before trying again ("" for none), or
    None when the error is not worth another try; ``give_up(error)`` is the text
    of the MediumError raised in the end.
    """
    for left in range(tries - 1, -1, -1):
        try:
            return attempt()
        except OSError as e:
            line = retry_line(e)
            if line is None or not left:
                raise MediumError(give_up(e)) from e
            if line:
                log.log("ERROR", PLUGIN_PREFIX + line)
            await asyncio.sleep(RETRY_DELAY)
    raise AssertionError("unreachable: the last try raises")


def _in_use(text: str) -> Callable[[OSError], str | None]:
    return lambda e: text.format(e.strerror) if e.errno == errno.EADDRINUSE else None


class UdpMedium(Medium):
    def __init__(self, kind: str, iface: str, log: DaemonLog, write: socket.socket, read: socket.socket,
                 dest: tuple[str, int], receive: Receive, recv_error: str) -> None:
        self.kind = kind
        super().__init__(iface, log)
        self._write = write
        self._dest = dest
        self._receive = receive
        write.setblocking(False)
        self._listen(read, recv_error)

    def send(self, packet: bytes, msg: Message) -> None:
        try:
            self._write.sendto(packet, self._dest)
        except OSError as e:
            host, port = self._dest
            self._failed([("ERROR", f"{self.kind}_write: Unable to send HBcomm packet {self.name} "
                                    f"{host}:{port} len={len(packet)} [-1]: {e.strerror}")], e)
        else:
            self._sent()

    def _datagram(self, data: bytes) -> None:
        self._receive(self.name, data)

    def close(self) -> None:
        self._stop_listening()
        self._write.close()


async def open_bcast(iface: str, port: int, log: DaemonLog, receive: Receive) -> UdpMedium:
    if not interface_exists(iface):
        raise MediumError(f"IP interface [{iface}] does not exist")
    dest = (broadcast_address(iface), port)
    with contextlib.ExitStack() as cleanup:
        write = build_socket(bcast_write_steps(iface), log)
        cleanup.callback(write.close)
        read = build_socket(bcast_read_steps(iface), log)
        cleanup.callback(read.close)
        await _retrying(lambda: read.bind(("0.0.0.0", port)), BIND_TRIES,
                        _in_use("Error binding socket ({}). Retrying."),
                        lambda e: f"Unable to bind socket ({e.strerror}). Giving up.", log)
        cleanup.pop_all()
    log.info(f"{PLUGIN_PREFIX}UDP Broadcast heartbeat started on port {port} ({port}) interface {iface}")
    # 3.0.6 opens every medium in the parent, forks the reader and writer, then
    # closes the parent's copy: hence this line on every start
    log.info(f"{PLUGIN_PREFIX}UDP Broadcast heartbeat closed on port {port} interface {iface} - Status: 1")
    return UdpMedium("bcast", iface, log, write, read, dest, receive, "Error receiving from socket: ")


async def open_mcast(iface: str, group: str, port: int, ttl: int, loop: bool, log: DaemonLog,
                     receive: Receive) -> UdpMedium:
    if not interface_exists(iface):
        raise MediumError(f"mcast device [{iface}] is invalid or not set up properly")
    ifaddr = await _retrying(lambda: _ifreq_ipv4(iface, SIOCGIFADDR), MCAST_ADDRESS_TRIES, lambda e: "",
                             lambda e: f"Unable to retrieve local interface address for interface [{iface}] "
                                       f"using ioctl(SIOCGIFADDR): {e.strerror}", log)
    with contextlib.ExitStack() as cleanup:
        write = build_socket(mcast_write_steps(ifaddr, ttl, loop), log)
        cleanup.callback(write.close)
        read = build_socket(mcast_read_steps(), log)
        cleanup.callback(read.close)
        await _retrying(lambda: read.bind((group, port)), BIND_TRIES, _in_use("Can't bind (EADDRINUSE), retrying"),
                        lambda e: f"Unable to bind socket. Giving up: {e.strerror}", log)
        apply_steps(read, [mcast_membership(group, iface, ifaddr)], log)
        cleanup.pop_all()
    log.info(f"{PLUGIN_PREFIX}UDP multicast heartbeat started for group {group} port {port} interface {iface} "
             f"(ttl={ttl} loop={int(loop)})")
    return UdpMedium("mcast", iface, log, write, read, (group, port), receive, "Error receiving from socket: ")


async def open_ucast(iface: str, peer: str, port: int, log: DaemonLog, receive: Receive) -> UdpMedium:
    """As 3.0.6: a missing interface is only noticed when the first socket option needs it."""
    try:
        address = socket.gethostbyname(peer)
    except OSError as e:
        raise MediumError("ucast: cannot resolve hostname") from e
    write = build_socket(ucast_write_steps(iface), log)
    try:
        read = build_socket(ucast_read_steps(iface, port), log)
    except MediumError:
        write.close()
        raise
    log.info(f"{PLUGIN_PREFIX}ucast: started on port {port} interface {iface} to {peer}")
    return UdpMedium("ucast", iface, log, write, read, (address, port), receive, "ucast: error receiving from socket: ")
