import asyncio
import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw

from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import parse_authkeys
from heartbeat.core.codec import decode
from heartbeat.config.hacf import parse_hacf
from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.daemon.media import MediumError, WriteErrors, open_media
from heartbeat.daemon.media.ping import echo_reply_payload, echo_request, icmp_identifier, ping_payload
from heartbeat.daemon.media.udp import (IPTOS_LOWDELAY, SO_BINDTODEVICE, bcast_read_steps, bcast_write_steps,
                                 build_socket, mcast_write_steps, ucast_write_steps)
from heartbeat.core.message import Message

CRC3 = Authenticator(parse_authkeys("auth 3\n3 crc\n", "authkeys", 0o600))
# wire-protocol §12.8: what the real 3.0.6 sent to ping node 192.0.2.12, master pid 8871
CAPTURED_HEADER = bytes.fromhex("0800d2aca7220000")
CAPTURED_PAYLOAD = (b"###\n10:(0)t=NS_st,10:(0)st=ping,12:(0)info=ping,17:(0)src=192.0.2.12,14:(0)ts=6b05ceb0,"
                    b"18:(0)auth=3 eb173ba9,%%%\n10:3 3a389e8b,")


def test_ping_payload_is_byte_for_byte_the_captured_one():
    assert ping_payload("192.0.2.12", "ping", "6b05ceb0", CRC3, "netstring") == CAPTURED_PAYLOAD


def test_echo_request_header_has_the_pid_in_host_order_and_the_captured_checksum():
    request = echo_request(icmp_identifier(8871), 0, CAPTURED_PAYLOAD)
    assert request == CAPTURED_HEADER + CAPTURED_PAYLOAD


def test_sequence_numbers_are_network_order_and_wrap():
    assert echo_request(1, 0x0102, b"x")[6:8] == b"\x01\x02"
    assert echo_request(1, 0x10000, b"x")[6:8] == b"\x00\x00"


def test_classic_payload_for_a_classic_node_verifies():
    payload = ping_payload("grp", "ping_group", "6b05ceb0", CRC3, "classic")
    assert payload.startswith(b">>>\n") and payload.endswith(b"<<<\n\0")
    got = decode(payload, CRC3)
    assert [got.get(n) for n in ("t", "st", "info", "src", "ts")] == ["NS_st", "ping", "ping_group", "grp", "6b05ceb0"]


def _reply(src: str, ident: int, payload: bytes, icmp_type: int = 0) -> bytes:
    return bytes(IP(src=src, dst="192.0.2.11") / ICMP(type=icmp_type, id=ident, seq=0) / Raw(payload))


def test_echo_reply_from_the_pinged_host_gives_back_the_payload_which_authenticates():
    ident = icmp_identifier(8871)
    payload = echo_reply_payload(_reply("192.0.2.12", ident, CAPTURED_PAYLOAD), ident, frozenset({"192.0.2.12"}))
    assert payload == CAPTURED_PAYLOAD
    assert decode(payload, CRC3).get("st") == "ping"


@pytest.mark.parametrize("datagram", [
    _reply("192.0.2.12", 0x1234, CAPTURED_PAYLOAD),       # someone else's ping
    _reply("192.0.2.99", icmp_identifier(8871), CAPTURED_PAYLOAD),  # not our host
    _reply("192.0.2.12", icmp_identifier(8871), CAPTURED_PAYLOAD, icmp_type=8),  # a request, not a reply
    b"\x45\x00",
])
def test_other_icmp_is_ignored(datagram):
    assert echo_reply_payload(datagram, icmp_identifier(8871), frozenset({"192.0.2.12"})) is None


@settings(max_examples=100, deadline=None)
@given(ident=st.integers(0, 0xFFFF), seq=st.integers(0, 0x2FFFF), payload=st.binary(max_size=300))
def test_echo_request_bytes_are_what_a_packet_library_builds(ident, seq, payload):
    # scapy (a test dependency only) is the independent oracle for header and checksum
    assert echo_request(ident, seq, payload) == bytes(ICMP(type=8, code=0, id=ident, seq=seq & 0xFFFF) / Raw(payload))


def test_a_reply_with_ip_options_is_read_past_them_and_trailing_padding_is_dropped():
    ident = icmp_identifier(8871)
    datagram = bytes(IP(src="192.0.2.12", dst="192.0.2.11", options=b"\x01\x01\x01\x00")
                     / ICMP(type=0, id=ident, seq=0) / Raw(CAPTURED_PAYLOAD)) + b"\0" * 6
    assert echo_reply_payload(datagram, ident, frozenset({"192.0.2.12"})) == CAPTURED_PAYLOAD


@pytest.mark.parametrize("mangle", [
    lambda d: d[:30],                                  # shorter than its total length
    lambda d: d[:2] + b"\x00\x10" + d[4:],             # total length shorter than the headers
    lambda d: b"\x46" + d[1:],                         # header length past the ICMP header
    lambda d: d[:6] + b"\x00\x01" + d[8:],             # a later fragment
    lambda d: d[:9] + b"\x11" + d[10:],                # not ICMP
    lambda d: b"\x65" + d[1:],                         # not IPv4
])
def test_malformed_or_foreign_datagrams_are_not_replies(mangle):
    ident = icmp_identifier(8871)
    datagram = _reply("192.0.2.12", ident, CAPTURED_PAYLOAD)
    assert echo_reply_payload(datagram, ident, frozenset({"192.0.2.12"})) == CAPTURED_PAYLOAD
    assert echo_reply_payload(mangle(datagram), ident, frozenset({"192.0.2.12"})) is None


@settings(max_examples=200, deadline=None)
@given(datagram=st.binary(max_size=80))
def test_any_datagram_is_read_without_an_exception(datagram):
    payload = echo_reply_payload(datagram, 1, frozenset({"192.0.2.12"}))
    assert payload is None or (isinstance(payload, bytes) and payload in datagram)


def test_write_errors_are_logged_eleven_times_then_suppressed_until_a_success():
    errors = WriteErrors("bcast", "eth0")
    plugin = [("ERROR", "bcast_write: Unable to send HBcomm packet eth0 192.0.2.255:694 len=287 [-1]: "
                        "Network is unreachable")]
    first = errors.failed(plugin, "Network is unreachable")
    assert first == [("ERROR", "glib: bcast_write: Unable to send HBcomm packet eth0 192.0.2.255:694 len=287 [-1]: "
                               "Network is unreachable"),
                     ("ERROR", "write_child: write failure on bcast eth0.: Network is unreachable")]
    for _ in range(9):
        assert errors.failed(plugin, "Network is unreachable") == first
    assert errors.failed(plugin, "Network is unreachable") == first + [
        ("WARN", "Temporarily Suppressing write error messages"), ("WARN", "Is a cable unplugged on bcast eth0?")]
    assert errors.failed(plugin, "Network is unreachable") == []
    errors.succeeded()
    assert errors.failed(plugin, "Network is unreachable") == first


def _opt(sock: socket.socket, level: int, name: int) -> int:
    return sock.getsockopt(level, name)


def test_bcast_sockets_carry_the_original_options(tmp_path):
    log = _log(tmp_path)
    with build_socket(bcast_write_steps("lo"), log) as w, build_socket(bcast_read_steps("lo"), log) as r:
        assert _opt(w, socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
        assert _opt(w, socket.SOL_SOCKET, socket.SO_DONTROUTE) == 1
        assert w.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).rstrip(b"\0") == b"lo"
        assert _opt(r, socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert r.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).rstrip(b"\0") == b"lo"


def test_ucast_and_mcast_write_sockets_carry_the_original_options(tmp_path):
    log = _log(tmp_path)
    with build_socket(ucast_write_steps("lo"), log) as u, build_socket(mcast_write_steps("0.0.0.0", 3, True), log) as m:
        assert _opt(u, socket.IPPROTO_IP, socket.IP_TOS) == IPTOS_LOWDELAY
        assert _opt(u, socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert _opt(m, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
        assert _opt(m, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
    assert _lines(tmp_path) == ["info: glib: ucast: write socket priority set to IPTOS_LOWDELAY on lo",
                                "info: glib: ucast: bound send socket to device: lo",
                                "info: glib: ucast: set SO_REUSEPORT(w)"]


def _lines(tmp_path) -> list[str]:
    """The logged lines without their time, host and pid."""
    return [line.split("[1]: ", 1)[1] for line in (tmp_path / "ha-log").read_text().splitlines()]


def _log(tmp_path) -> DaemonLog:
    return DaemonLog(LogSettings(host="node1", logfile=str(tmp_path / "ha-log"), stderr=False),
                     clock=lambda: 0.0, pid=lambda: 1)


def test_ucast_on_a_missing_interface_fails_at_the_device_option_as_3_0_6_does(tmp_path):
    config = parse_hacf("ucast pyhb-no-if0 192.0.2.12\nnode node1\n", "ha.cf")

    async def run():
        with pytest.raises(MediumError):
            await open_media(config, CRC3, _log(tmp_path), lambda name, data: None)

    asyncio.run(run())
    assert _lines(tmp_path) == ["info: glib: ucast: write socket priority set to IPTOS_LOWDELAY on pyhb-no-if0",
                                "ERROR: glib: ucast: error setting option SO_BINDTODEVICE(w) on pyhb-no-if0: "
                                "No such device",
                                "ERROR: make_io_childpair: cannot open ucast pyhb-no-if0"]


def test_ping_media_send_nothing_but_status_and_ping_a_group_last_host_first(tmp_path, monkeypatch):
    from heartbeat.daemon.media import ping

    sent = []
    here, _peer = socket.socketpair()

    class Socket:
        """Records what would go out; the socketpair end only gives the event loop a descriptor."""
        def setblocking(self, flag): here.setblocking(flag)
        def fileno(self): return here.fileno()
        def close(self): here.close()
        def sendto(self, data, address): sent.append((data, address))

    monkeypatch.setattr(ping, "raw_icmp_socket", Socket)

    async def run():
        medium = ping.open_ping("ping_group", "grp", ("192.0.2.1", "192.0.2.2"), CRC3, _log(tmp_path),
                                lambda name, data: None, 7)
        medium.send(b"###\n", Message.of(t="NS_ackmsg", ts="1"))
        medium.send(b"###\n", Message.of(t="status", st="up", ts="6b05ceb0"))
        medium.send(b">>>\n", Message.of(t="status", st="up", ts="6b05ceb1"))
        medium.close()

    asyncio.run(run())
    ident = icmp_identifier(7)
    expected = [(echo_request(ident, seq, ping_payload("grp", "ping_group", ts, CRC3, enc)), (host, 0))
                for seq, ts, enc in ((0, "6b05ceb0", "netstring"), (1, "6b05ceb1", "classic"))
                for host in ("192.0.2.2", "192.0.2.1")]
    assert sent == expected
    _peer.close()


def _read_exactly(fd: int, size: int, deadline_s: float = 5.0) -> bytes:
    import select
    import time
    data, end = b"", time.monotonic() + deadline_s
    while len(data) < size and time.monotonic() < end:
        if select.select([fd], [], [], 0.1)[0]:
            data += os.read(fd, size - len(data))
    return data


def test_serial_line_on_a_pty_pair_sends_signed_classic_text_in_chunks_and_frames_input(tmp_path):
    from heartbeat.core.codec import encode
    from heartbeat.daemon.media.serial import LineFramer, open_serial

    master, slave = os.openpty()
    device = os.ttyname(slave)
    got: list[tuple[str, bytes]] = []
    long_msg = Message.of(t="status", st="up", src="node1", info="x" * 1500)
    peer = encode(Message.of(t="status", st="up", src="node2"), CRC3, encoding="serial")

    async def run() -> bytes:
        medium = open_serial(device, 460800, CRC3, _log(tmp_path), lambda name, data: got.append((name, data)))
        try:
            medium.send(b"###\n", long_msg)
            expected = encode(long_msg, CRC3, encoding="serial")
            sent = await asyncio.get_running_loop().run_in_executor(None, _read_exactly, master, len(expected))
            # the line strips the 8th bit and drops CRs on input
            os.write(master, b"line noise\xe1\n" + peer.replace(b"st=up", b"st=\xf5p\r"))
            for _ in range(50):
                if got:
                    break
                await asyncio.sleep(0.02)
            return sent
        finally:
            medium.close()
            os.close(master)

    sent = asyncio.run(run())
    assert sent == encode(long_msg, CRC3, encoding="serial") and len(sent) > 1024
    assert got == [(device, peer)]
    assert decode(got[0][1], CRC3).get("src") == "node2"
    assert LineFramer().feed(b">>>\nt=a\n") == []
    assert f"info: glib: Starting serial heartbeat on tty {device} (460800 baud)" in (tmp_path / "ha-log").read_text()


def test_serial_refuses_what_is_not_a_tty(tmp_path):
    from heartbeat.daemon.media.serial import open_serial

    plain = tmp_path / "ttyS9"
    plain.write_text("")
    with pytest.raises(MediumError, match=r"Serial port \[.*ttyS9\] not a char device in config file"):
        open_serial(str(plain), 19200, CRC3, _log(tmp_path), lambda name, data: None)
    with pytest.raises(MediumError, match=r"Nonexistent serial port \[/dev/pyhb-none\] in config file"):
        open_serial("/dev/pyhb-none", 19200, CRC3, _log(tmp_path), lambda name, data: None)


def test_unresolvable_ping_host_is_reported_as_3_0_6_words_it(tmp_path, monkeypatch):
    from heartbeat.daemon.media import ping

    def no_resolver(host):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(ping.socket, "gethostbyname", no_resolver)
    with pytest.raises(MediumError, match=r"^unknown host: gw\.example: Resource temporarily unavailable$"):
        ping.open_ping("ping", "gw.example", ("gw.example",), CRC3, _log(tmp_path), lambda name, data: None, 1)


def test_bcast_bind_is_retried_while_the_port_is_taken_then_given_up(tmp_path, monkeypatch):
    from heartbeat.daemon.media import udp

    monkeypatch.setattr(udp, "RETRY_DELAY", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))  # no SO_REUSEADDR: nobody may share it
        port = taken.getsockname()[1]

        async def run():
            with pytest.raises(MediumError, match=r"^Unable to bind socket \(Address already in use\)\. Giving up\.$"):
                await udp.open_bcast("lo", port, _log(tmp_path), lambda name, data: None)

        asyncio.run(run())
    assert _lines(tmp_path) == ["ERROR: glib: Error binding socket (Address already in use). Retrying."] * 9


def test_a_ping_reply_echoing_our_own_payload_is_taken_unparsed_and_others_by_their_info(tmp_path, monkeypatch):
    from heartbeat.daemon.media import ping

    here, _peer = socket.socketpair()

    class Socket:
        def setblocking(self, flag): here.setblocking(flag)
        def fileno(self): return here.fileno()
        def close(self): here.close()
        def sendto(self, data, address): pass

    monkeypatch.setattr(ping, "raw_icmp_socket", Socket)
    got = []
    parsed = []
    info = ping._info
    monkeypatch.setattr(ping, "_info", lambda payload: parsed.append(payload) or info(payload))
    ident = icmp_identifier(7)
    ours = ping_payload("192.0.2.12", "ping", "6b05ceb0", CRC3, "netstring")
    a_groups = ping_payload("192.0.2.12", "ping_group", "6b05ceb0", CRC3, "netstring")
    older = ping_payload("192.0.2.12", "ping", "6b05cea0", CRC3, "netstring")

    async def run():
        medium = ping.open_ping("ping", "192.0.2.12", ("192.0.2.12",), CRC3, _log(tmp_path),
                                lambda name, data: got.append(data), 7)
        medium.send(b"###\n", Message.of(t="status", st="up", ts="6b05ceb0"))
        for payload in (ours, a_groups, older):
            medium._datagram(_reply("192.0.2.12", ident, payload))
        medium.close()

    asyncio.run(run())
    assert got == [ours, older]            # ours, and one not among the last sent but naming us
    assert parsed == [a_groups, older]     # the echo of what we just sent was not parsed
    _peer.close()
