"""ping and ping_group: ICMP echo requests carrying a heartbeat message (wire-protocol §6.6, §12.8).

For every ``status`` message the node sends, each host gets one echo request
whose payload is a small signed ``NS_st`` message naming the ping node; the
host's kernel echoes it back and the daemon decodes the reply like any packet,
which makes the ping node's status "ping".  Other messages are not sent on
these media (and count as written, as in 3.0.6).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from collections import deque

from heartbeat.core.auth import Authenticator
from heartbeat.core.codec import NETSTRING_START, WireError, decode_unsigned, encode
from heartbeat.daemon.log import DaemonLog
from heartbeat.core.message import Message
from heartbeat.daemon.media.base import PLUGIN_PREFIX, Medium, MediumError, Receive

ECHO_REQUEST = 8
ECHO_REPLY = 0
IPPROTO_ICMP = 1
ICMP_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
# payloads of our last requests a reply is compared with before it is parsed
RECENT_PAYLOADS = 4


def icmp_identifier(pid: int) -> int:
    """The ICMP id field value whose wire bytes are ``pid`` in host byte order, as 3.0.6 sends it."""
    return int.from_bytes((pid & 0xFFFF).to_bytes(2, sys.byteorder), "big")


def ping_message(src: str, info: str, ts: str) -> Message:
    return Message.of(t="NS_st", st="ping", info=info, src=src, ts=ts)


def ping_payload(src: str, info: str, ts: str, auth: Authenticator, encoding: str) -> bytes:
    """The echoed message: always with the classic ``auth`` field, in the node's current encoding."""
    return encode(ping_message(src, info, ts), auth, msgfmt="classic", encoding=encoding)


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the ones' complement of the ones' complement sum of 16-bit big-endian words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(identifier: int, sequence: int, payload: bytes) -> bytes:
    unsigned = ICMP_HEADER.pack(ECHO_REQUEST, 0, 0, identifier, sequence & 0xFFFF) + payload
    return ICMP_HEADER.pack(ECHO_REQUEST, 0, internet_checksum(unsigned), identifier, sequence & 0xFFFF) + payload


def echo_reply_payload(datagram: bytes, identifier: int, sources: frozenset[str]) -> bytes | None:
    """The payload of a raw-socket datagram (IP header included) if it answers one of our requests.
    The IP header's total length bounds the ICMP message; a fragment other than the first,
    or a header that does not fit the datagram, is not a reply."""
    if len(datagram) < 20 or datagram[0] >> 4 != 4:
        return None
    header_length = (datagram[0] & 0x0F) * 4
    total_length = int.from_bytes(datagram[2:4], "big")
    fragment_offset = int.from_bytes(datagram[6:8], "big") & 0x1FFF
    if (header_length < 20 or fragment_offset or datagram[9] != IPPROTO_ICMP
            or not header_length + ICMP_HEADER.size <= total_length <= len(datagram)):
        return None
    if socket.inet_ntoa(datagram[12:16]) not in sources:
        return None
    kind, _code, _checksum, ident, _seq = ICMP_HEADER.unpack_from(datagram, header_length)
    if kind != ECHO_REPLY or ident != identifier:
        return None
    return datagram[header_length + ICMP_HEADER.size:total_length]


def _info(payload: bytes) -> str | None:
    try:
        return decode_unsigned(payload).get("info")
    except WireError:
        return None


class PingMedium(Medium):
    """One ping node: a host (``ping``) or a group of hosts any of which may answer (``ping_group``)."""

    is_ping = True

    def __init__(self, kind: str, name: str, addresses: tuple[str, ...], sock: socket.socket,
                 auth: Authenticator, log: DaemonLog, receive: Receive, identifier: int) -> None:
        self.kind = kind
        super().__init__(name, log)
        self._addresses = addresses
        self._sources = frozenset(addresses)
        self._info = kind
        self._auth = auth
        self._receive = receive
        self._identifier = identifier
        self._sequence = 0
        self._recent: deque[bytes] = deque(maxlen=RECENT_PAYLOADS)
        self._sock = sock
        self._listen(sock, "Error receiving from socket: ")

    def send(self, packet: bytes, msg: Message) -> None:
        if msg.type != "status":
            self._sent()
            return
        encoding = "netstring" if packet.startswith(NETSTRING_START) else "classic"
        payload = ping_payload(self.name, self._info, str(msg.get("ts", "")), self._auth, encoding)
        request = echo_request(self._identifier, self._sequence, payload)
        self._recent.append(payload)
        self._sequence += 1
        error: OSError | None = None
        for address in self._addresses:
            try:
                self._sock.sendto(request, (address, 0))
            except OSError as e:
                error = e
        if error is None:
            self._sent()
        else:
            self._failed([("ERROR", f"Error sending packet: {error.strerror}"),
                          ("info", f"euid={os.geteuid()} egid={os.getegid()}")], error)

    def _datagram(self, datagram: bytes) -> None:
        payload = echo_reply_payload(datagram, self._identifier, self._sources)
        # every raw ICMP socket sees every reply, and a ping and a ping_group
        # medium share the identifier: the payload's info says whose it is. The
        # echo of one of our own last payloads is ours without parsing it (it names
        # our info): one parse less per heartbeat (issue 10's idle CPU).
        if payload is not None and (payload in self._recent or _info(payload) == self._info):
            self._receive(self.name, payload)

    def close(self) -> None:
        self._stop_listening()


def raw_icmp_socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


def _resolve(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except socket.gaierror as e:
        # 3.0.6 prints strerror(errno) after gethostbyname: EAGAIN when no resolver answers
        reason = os.strerror(errno.EAGAIN) if e.errno == socket.EAI_AGAIN else e.strerror
        raise MediumError(f"unknown host: {host}: {reason}") from e


def open_ping(kind: str, name: str, hosts: tuple[str, ...], auth: Authenticator, log: DaemonLog,
              receive: Receive, pid: int) -> PingMedium:
    # a ping_group's hosts are pinged last-listed first, as 3.0.6 does (lab capture);
    # every host of one round gets the same sequence number
    addresses = tuple(_resolve(host) for host in reversed(hosts))
    try:
        sock = raw_icmp_socket()
    except OSError as e:
        raise MediumError(f"Can't open RAW socket.: {e.strerror}") from e
    medium = PingMedium(kind, name, addresses, sock, auth, log, receive, icmp_identifier(pid))
    log.info(PLUGIN_PREFIX + ("ping heartbeat started." if kind == "ping" else "ping group heartbeat started."))
    return medium
