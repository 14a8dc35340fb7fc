"""IPv4 addresses, links and routes through rtnetlink: what ifconfig, route and ip do for the
agents, and where the daemon finds the addresses it re-announces (heartbeat/daemon/announce.py).

The few requests the agents make are packed and read here with ``struct`` over a plain
``AF_NETLINK`` socket: a netlink library costs an agent run 80-150 ms of imports, more
than the requests themselves, and an agent run sits between a failure and the first
gratuitous ARP. It lives outside heartbeat/agents so that the daemon loads no agent code.
Message layouts: rtnetlink(7), <linux/if_addr.h>, <linux/rtnetlink.h>. Every reply is
read against its length fields: a short or odd message ends the read with an error, not
an exception from ``struct``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Iterator

AF_INET = 2
MAIN_TABLE = 254
LOCAL_TABLE = 255
RTN_UNICAST = 1
RTN_LOCAL = 2
RTPROT_BOOT = 3
IFA_F_SECONDARY = 0x01
SCOPE_UNIVERSE = 0
SCOPE_LINK = 253
SCOPE_NOWHERE = 255
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x200, 0x400, 0x300
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15

NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTATTR = struct.Struct("=HH")  # length, type
RECEIVE_BUFFER = 1 << 16
# the kernel answers at once; a read that waits this long fails rather than hang the
# daemon's event loop or an agent between a failure and its takeover
TIMEOUT_S = 2.0


class NetlinkError(Exception):
    """The kernel's refusal of one request: ``code`` is the errno."""

    def __init__(self, code: int, message: str | None = None):
        self.code = code
        super().__init__(message or os.strerror(code))


class NetlinkFailure(Exception):
    """A refused netlink request; ``errno`` as the kernel gave it."""

    def __init__(self, what: str, err: NetlinkError):
        self.errno = err.code
        self.strerror = os.strerror(err.code)
        super().__init__(f"{what}: {self.strerror}")


@record
class Address:
    ifname: str  # the device
    label: str  # "eth0" for the device's own, "eth0:0" for an alias
    address: str
    prefixlen: int
    broadcast: str | None
    secondary: bool = False


@record
class Route:
    ifname: str
    dest: ipaddress.IPv4Address
    prefixlen: int
    metric: int = 0
    scope: int = SCOPE_UNIVERSE
    prefsrc: str | None = None
    gateway: str | None = None
    proto: int = RTPROT_BOOT

    def covers(self, ip: ipaddress.IPv4Address) -> bool:
        return ip in ipaddress.IPv4Network(f"{self.dest}/{self.prefixlen}", strict=False)


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attr(kind: int, value: bytes) -> bytes:
    return RTATTR.pack(RTATTR.size + len(value), kind) + value + bytes(_align(len(value)) - len(value))


def _ipv4_attr(kind: int, address: str) -> bytes:
    try:
        return _attr(kind, ipaddress.IPv4Address(str(address)).packed)
    except ValueError:
        raise NetlinkError(errno.EINVAL) from None


def _attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The attributes from ``offset`` to the end of one message; the first of a kind counts."""
    found: dict[int, bytes] = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > len(data):
            raise NetlinkError(errno.EPROTO)
        # the kind without its nested and byte-order bits
        found.setdefault(kind & 0x3FFF, data[offset + RTATTR.size:offset + length])
        offset += _align(length)
    return found


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def _ipv4(value: bytes | None) -> str | None:
    return socket.inet_ntoa(value) if value is not None and len(value) == 4 else None


def _u32(value: bytes | None) -> int | None:
    return struct.unpack("=I", value)[0] if value is not None and len(value) == 4 else None


class _Socket:
    """One rtnetlink socket for the requests of one operation."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self._sock.settimeout(TIMEOUT_S)
        self._sock.bind((0, 0))
        self._sequence = 0

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self._sequence += 1
        self._sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags, self._sequence, 0) + body)
        return self._sequence

    def _replies(self, sequence: int) -> Iterator[tuple[int, bytes]]:
        """(type, payload) of each reply to ``sequence`` up to the end of a dump or an ack;
        NetlinkError for an error reply."""
        while True:
            data = self._sock.recv(RECEIVE_BUFFER)
            offset = 0
            while offset + NLMSGHDR.size <= len(data):
                length, kind, flags, seq, _port = NLMSGHDR.unpack_from(data, offset)
                if length < NLMSGHDR.size or offset + length > len(data):
                    raise NetlinkError(errno.EPROTO)
                payload = data[offset + NLMSGHDR.size:offset + length]
                offset += _align(length)
                if seq != sequence:
                    continue
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else errno.EPROTO
                    if code:
                        raise NetlinkError(code)
                    return  # the ack of a request
                yield kind, payload
                if not flags & NLM_F_MULTI:
                    return
            if not data:
                raise NetlinkError(errno.EPROTO)

    def dump(self, kind: int, body: bytes) -> Iterator[bytes]:
        for _kind, payload in self._replies(self._send(kind, NLM_F_REQUEST | NLM_F_DUMP, body)):
            yield payload

    def request(self, kind: int, flags: int, body: bytes) -> None:
        for _reply in self._replies(self._send(kind, NLM_F_REQUEST | NLM_F_ACK | flags, body)):
            pass

    def links(self) -> list[tuple[int, int, str]]:
        """(index, flags, name) of every link."""
        found = []
        for payload in self.dump(RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            if len(payload) < IFINFOMSG.size:
                continue
            _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
            name = _text(_attributes(payload, IFINFOMSG.size).get(IFLA_IFNAME))
            if name is not None:
                found.append((index, flags, name))
        return found

    def names(self) -> dict[int, str]:
        return {index: name for index, _flags, name in self.links()}

    def index(self, ifname: str) -> int:
        for index, _flags, name in self.links():
            if name == ifname:
                return index
        raise NetlinkError(errno.ENODEV)


def routes(table: int = MAIN_TABLE, kind: int = RTN_UNICAST) -> list[Route]:
    """IPv4 routes of one table and type, in the kernel's order."""
    with _Socket() as nl:
        names = nl.names()
        found = []
        for payload in nl.dump(RTM_GETROUTE, RTMSG.pack(AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
            if len(payload) < RTMSG.size:
                continue
            family, dst_len, _src, _tos, rtm_table, proto, scope, rtm_type, _flags = RTMSG.unpack_from(payload)
            attrs = _attributes(payload, RTMSG.size)
            oif = _u32(attrs.get(RTA_OIF))
            if family != AF_INET or rtm_type != kind or oif not in names:
                continue
            if (_u32(attrs.get(RTA_TABLE)) or rtm_table) != table:
                continue
            found.append(Route(names[oif], ipaddress.IPv4Address(_ipv4(attrs.get(RTA_DST)) or "0.0.0.0"),
                               dst_len, _u32(attrs.get(RTA_PRIORITY)) or 0, scope,
                               _ipv4(attrs.get(RTA_PREFSRC)), _ipv4(attrs.get(RTA_GATEWAY)), proto))
        return found


def loopback() -> str | None:
    """The name of the loopback device."""
    with _Socket() as nl:
        return next((name for _index, flags, name in nl.links() if flags & IFF_LOOPBACK), None)


def interfaces() -> list[str]:
    """Every device's name, in index order (what ``ifconfig -a`` lists)."""
    return [name for _index, name in socket.if_nameindex()]


def addresses() -> list[Address]:
    with _Socket() as nl:
        names = nl.names()
        found = []
        for payload in nl.dump(RTM_GETADDR, IFADDRMSG.pack(AF_INET, 0, 0, 0, 0)):
            if len(payload) < IFADDRMSG.size:
                continue
            family, prefixlen, flags, _scope, index = IFADDRMSG.unpack_from(payload)
            if family != AF_INET:
                continue
            attrs = _attributes(payload, IFADDRMSG.size)
            address = _ipv4(attrs.get(IFA_LOCAL)) or _ipv4(attrs.get(IFA_ADDRESS))
            if address is None:  # the kernel sends one with each; a message without has nothing to list
                continue
            ifname = names.get(index, "")
            found.append(Address(ifname, _text(attrs.get(IFA_LABEL)) or ifname, address,
                                 prefixlen, _ipv4(attrs.get(IFA_BROADCAST)), bool(flags & IFA_F_SECONDARY)))
        return found


def add_address(ifname: str, address: str, prefixlen: int, broadcast: str | None, label: str | None) -> None:
    try:
        with _Socket() as nl:
            body = (IFADDRMSG.pack(AF_INET, prefixlen, 0, SCOPE_UNIVERSE, nl.index(ifname))
                    + _ipv4_attr(IFA_LOCAL, address) + _ipv4_attr(IFA_ADDRESS, address))
            if broadcast:
                body += _ipv4_attr(IFA_BROADCAST, broadcast)
            if label:
                body += _attr(IFA_LABEL, label.encode() + b"\0")
            nl.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
    except NetlinkError as e:
        raise NetlinkFailure(f"adding {address}/{prefixlen} to {ifname}", e) from None


def set_link(ifname: str, up: bool) -> None:
    try:
        with _Socket() as nl:
            nl.request(RTM_NEWLINK, 0,
                       IFINFOMSG.pack(socket.AF_UNSPEC, 0, nl.index(ifname), IFF_UP if up else 0, IFF_UP))
    except NetlinkError as e:
        raise NetlinkFailure(f"setting {ifname} {'up' if up else 'down'}", e) from None


def delete_address(entry: Address) -> None:
    try:
        with _Socket() as nl:
            nl.request(RTM_DELADDR, 0,
                       IFADDRMSG.pack(AF_INET, entry.prefixlen, 0, SCOPE_UNIVERSE, nl.index(entry.ifname))
                       + _ipv4_attr(IFA_LOCAL, entry.address) + _ipv4_attr(IFA_ADDRESS, entry.address))
    except NetlinkError as e:
        raise NetlinkFailure(f"deleting {entry.address}/{entry.prefixlen} from {entry.ifname}", e) from None


def _route_body(dest: str, prefixlen: int, proto: int, scope: int, rtm_type: int, oif: int | None) -> bytes:
    body = RTMSG.pack(AF_INET, prefixlen, 0, 0, MAIN_TABLE, proto, scope, rtm_type, 0)
    if prefixlen:
        body += _ipv4_attr(RTA_DST, dest)
    if oif is not None:
        body += _attr(RTA_OIF, struct.pack("=I", oif))
    return body


def delete_host_route(address: str, ifname: str | None = None) -> None:
    """`route -n del -host ADDRESS` / `ip route delete ADDRESS [dev IFNAME]` (main table):
    any scope, type and protocol match, as for those commands."""
    try:
        with _Socket() as nl:
            oif = nl.index(ifname) if ifname else None
            nl.request(RTM_DELROUTE, 0, _route_body(address, 32, 0, SCOPE_NOWHERE, 0, oif))
    except NetlinkError as e:
        raise NetlinkFailure(f"deleting the route to {address}", e) from None


def replace_route(dest: str, prefixlen: int, ifname: str, proto: int, prefsrc: str, metric: int) -> None:
    """`ip route replace DEST/LEN dev IFNAME proto P scope link src PREFSRC [metric M]`."""
    route = Route(ifname, ipaddress.IPv4Address(dest), prefixlen, metric, SCOPE_LINK, proto=proto)
    _new_route(route, prefsrc, NLM_F_CREATE | NLM_F_REPLACE, "replacing")


def change_source(route: Route, prefsrc: str) -> None:
    """`ip route change to ROUTE src PREFSRC`: the same route with another source address."""
    _new_route(route, prefsrc, NLM_F_REPLACE, "changing")


def _new_route(route: Route, prefsrc: str, flags: int, doing: str) -> None:
    """RTM_NEWROUTE for ``route`` (main table, unicast) with source ``prefsrc``; ``flags``
    say whether it may be created or must exist."""
    try:
        with _Socket() as nl:
            body = _route_body(str(route.dest), route.prefixlen, route.proto, route.scope, RTN_UNICAST,
                               nl.index(route.ifname))
            if route.gateway:
                body += _ipv4_attr(RTA_GATEWAY, route.gateway)
            body += _ipv4_attr(RTA_PREFSRC, prefsrc)
            if route.metric:
                body += _attr(RTA_PRIORITY, struct.pack("=I", route.metric))
            nl.request(RTM_NEWROUTE, flags, body)
    except NetlinkError as e:
        raise NetlinkFailure(f"{doing} the route to {route.dest}/{route.prefixlen}", e) from None
