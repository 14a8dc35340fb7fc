"""bcast, mcast and ucast: one UDP read socket and one write socket per medium (wire-protocol §6.1-6.4).

Socket options, bind addresses and log lines follow 3.0.6's plugins; the log
lines were read from a real daemon in the lab.  The read side never looks at
the sender: a message is identified by its ``src`` field alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from typing import Callable, Iterator, TypeVar

import netifaces

from ..log import DaemonLog
from ..message import Message
from .base import PLUGIN_PREFIX, Medium, MediumError, Receive

T = TypeVar("T")

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IPTOS_LOWDELAY = 0x10
BIND_TRIES = 10              # bind attempts of a bcast or mcast read socket, 1 s apart
MCAST_ADDRESS_TRIES = 120    # an mcast interface gets 120 s to acquire an IPv4 address
RETRY_DELAY = 1.0


def _ipv4(iface: str) -> list[dict]:
    return netifaces.ifaddresses(iface).get(netifaces.AF_INET, [])


def interface_exists(iface: str) -> bool:
    return iface in netifaces.interfaces()


def broadcast_address(iface: str) -> str:
    """What SIOCGIFBRDADDR reports: 0.0.0.0 for an address configured without ``brd``."""
    addresses = _ipv4(iface)
    if not addresses:
        raise MediumError(f"Get broadcast for interface {iface} failed: Cannot assign requested address")
    return addresses[0].get("broadcast", "0.0.0.0")


def interface_address(iface: str) -> str | None:
    addresses = _ipv4(iface)
    return addresses[0]["addr"] if addresses else None


def _udp() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


@contextlib.contextmanager
def _closed_on_error(sock: socket.socket) -> Iterator[socket.socket]:
    try:
        yield sock
    except BaseException:
        sock.close()
        raise


def _bind_device(sock: socket.socket, iface: str) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())


def bcast_write_socket(iface: str) -> socket.socket:
    sock = _udp()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_DONTROUTE, 1)
    _bind_device(sock, iface)
    return sock


def bcast_read_socket(iface: str) -> socket.socket:
    sock = _udp()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _bind_device(sock, iface)
    return sock


def mcast_write_socket(ifaddr: str, ttl: int, loop: bool) -> socket.socket:
    sock = _udp()
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(loop))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    return sock


def mcast_read_socket(group: str, port: int, ifaddr: str) -> socket.socket:
    """Bound to group:port, then a member of the group on the interface's address."""
    with _closed_on_error(_udp()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton(group) + socket.inet_aton(ifaddr))
    return sock


def ucast_write_socket(iface: str) -> socket.socket:
    sock = _udp()
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, IPTOS_LOWDELAY)
    _bind_device(sock, iface)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def ucast_read_socket(iface: str, port: int) -> socket.socket:
    with _closed_on_error(_udp()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind_device(sock, iface)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("0.0.0.0", port))
    return sock


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
    write = bcast_write_socket(iface)
    read = bcast_read_socket(iface)
    try:
        await _retrying(lambda: read.bind(("0.0.0.0", port)), BIND_TRIES,
                        _in_use("Error binding socket ({}). Retrying."),
                        lambda e: f"Unable to bind socket ({e.strerror}). Giving up.", log)
    except MediumError:
        write.close()
        read.close()
        raise
    log.info(f"{PLUGIN_PREFIX}UDP Broadcast heartbeat started on port {port} ({port}) interface {iface}")
    # 3.0.6 opens every medium in the parent, forks the reader and writer, then
    # closes the parent's copy: hence this line on every start
    log.info(f"{PLUGIN_PREFIX}UDP Broadcast heartbeat closed on port {port} interface {iface} - Status: 1")
    return UdpMedium("bcast", iface, log, write, read, dest, receive, "Error receiving from socket: ")


def _interface_address(iface: str) -> str:
    found = interface_address(iface)
    if found is None:
        raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))
    return found


async def open_mcast(iface: str, group: str, port: int, ttl: int, loop: bool, log: DaemonLog,
                     receive: Receive) -> UdpMedium:
    if not interface_exists(iface):
        raise MediumError(f"mcast device [{iface}] is invalid or not set up properly")
    ifaddr = await _retrying(lambda: _interface_address(iface), MCAST_ADDRESS_TRIES, lambda e: "",
                             lambda e: f"Unable to retrieve local interface address for interface [{iface}] "
                                       f"using ioctl(SIOCGIFADDR): {e.strerror}", log)
    write = mcast_write_socket(ifaddr, ttl, loop)
    try:
        read = await _retrying(lambda: mcast_read_socket(group, port, ifaddr), BIND_TRIES,
                               _in_use("Can't bind (EADDRINUSE), retrying"),
                               lambda e: f"Unable to bind socket. Giving up: {e.strerror}", log)
    except MediumError:
        write.close()
        raise
    log.info(f"{PLUGIN_PREFIX}UDP multicast heartbeat started for group {group} port {port} interface {iface} "
             f"(ttl={ttl} loop={int(loop)})")
    return UdpMedium("mcast", iface, log, write, read, (group, port), receive, "Error receiving from socket: ")


async def open_ucast(iface: str, peer: str, port: int, log: DaemonLog, receive: Receive) -> UdpMedium:
    if not interface_exists(iface):
        raise MediumError(f"ucast: interface [{iface}] does not exist")
    try:
        address = socket.gethostbyname(peer)
    except OSError as e:
        raise MediumError("ucast: cannot resolve hostname") from e
    write = ucast_write_socket(iface)
    try:
        read = ucast_read_socket(iface, port)
    except OSError as e:
        write.close()
        raise MediumError(f"ucast: unable to bind socket. Giving up: {e.strerror}") from e
    for text in (f"write socket priority set to IPTOS_LOWDELAY on {iface}", f"bound send socket to device: {iface}",
                 "set SO_REUSEPORT(w)", "set SO_REUSEADDR", f"bound receive socket to device: {iface}",
                 "set SO_REUSEPORT", f"started on port {port} interface {iface} to {peer}"):
        log.info(f"{PLUGIN_PREFIX}ucast: {text}")
    return UdpMedium("ucast", iface, log, write, read, (address, port), receive, "ucast: error receiving from socket: ")
