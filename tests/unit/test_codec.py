"""The wire codec: wire-protocol §12 vectors, parsing rules of §3, auth carriers of §4,
compression §3.5, FIFO §11.1 and API framing §11.2."""

from __future__ import annotations

import bz2
import zlib
from types import MappingProxyType

import pytest

from heartbeat.core import codec
from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core.codec import (ApiDeframer, FifoReader, WireError, api_frame, decode, decode_unsigned,
                             encode, encode_api)
from heartbeat.core.message import BINARY, COMPRESS, LIST, STRUCT, UNCOMPRESS, Field, Message

UUID = bytes.fromhex("00112233445566778899aabbccddeeff")


def authenticator(active: int, *lines: tuple[int, str, bytes | None]) -> Authenticator:
    table = {i: AuthKey(i, method, key) for i, method, key in lines}
    return Authenticator(AuthKeys("/etc/ha.d/authkeys", active, MappingProxyType(table)))


SHA1 = authenticator(1, (1, "sha1", b"s3cret"))
TESTKEY = authenticator(1, (1, "sha1", b"testkey123"))


def status_alpha() -> Message:
    """The synthetic status message of §12.2."""
    msg = Message.of(t="status", st="active", dt="2710", protocol="1", src="alpha")
    msg.append("srcuuid", UUID, BINARY)
    for name, value in (("seq", "2a"), ("hg", "5f5e101"), ("ts", "65000000"),
                        ("ld", "0.00 0.01 0.05 1/123 4567"), ("ttl", "3")):
        msg.append(name, value)
    return msg


def messages(msg: Message) -> list[tuple[str, object]]:
    return [(f.name, f.value) for f in msg]


def payload(*bodies: bytes) -> bytes:
    """A netstring payload around field bodies such as b"(0)t=x"."""
    return b"###\n" + b"".join(b"%d:%s," % (len(b), b) for b in bodies) + b"%%%\n"


# -- §12.2 synthetic status ----------------------------------------------------------------

STATUS_PAYLOAD_HEAD = (b"###\n11:(0)t=status,12:(0)st=active,10:(0)dt=2710,13:(0)protocol=1,"
                       b"12:(0)src=alpha,27:(1)srcuuid=" + UUID + b",9:(0)seq=2a,13:(0)hg=5f5e101,"
                       b"14:(0)ts=65000000,31:(0)ld=0.00 0.01 0.05 1/123 4567,8:(0)ttl=3,")

SHA1_DATAGRAM = (STATUS_PAYLOAD_HEAD + b"50:(0)auth=1 bd9fbce8411e7b5712e28654fb41ac74f4dd59ed,%%%\n"
                 b"42:1 95c86f6590e48f6d64a3dff98fd1b54db553f147,")


def test_status_sha1_datagram_byte_for_byte():
    wire = encode(status_alpha(), SHA1)
    assert len(wire) == 310
    assert wire == SHA1_DATAGRAM


@pytest.mark.parametrize("method, key, inner, trailer, length", [
    ("md5", b"s3cret", "1 45bff862a035b3381ae433457f80c982", b"34:1 178cbd8c89b6fecedece57dd0a6d9947,", 294),
    ("crc", None, "1 4bbb828b", b"10:1 a08f3a7f,", 246),
])
def test_status_md5_and_crc(method, key, inner, trailer, length):
    auth = authenticator(1, (1, method, key))
    wire = encode(status_alpha(), auth)
    assert len(wire) == length
    assert wire.endswith(b"(0)auth=" + inner.encode() + b",%%%\n" + trailer)
    assert decode(wire, auth).get("auth") == inner


def test_status_with_msgfmt_netstring_has_no_inner_auth():
    wire = encode(status_alpha(), SHA1, msgfmt="netstring")
    assert wire == STATUS_PAYLOAD_HEAD + b"%%%\n42:1 6df380b25cba4493f1296aa0a6cf2b2344a70476,"


CLASSIC_DATAGRAM = (b">>>\nt=status\nst=active\ndt=2710\nprotocol=1\nsrc=alpha\n"
                    b"(1)srcuuid=ABEiM0RVZneImaq7zN3u/w==\nseq=2a\nhg=5f5e101\nts=65000000\n"
                    b"ld=0.00 0.01 0.05 1/123 4567\nttl=3\nauth=1 bd9fbce8411e7b5712e28654fb41ac74f4dd59ed\n<<<\n\x00")


def test_status_classic_as_2_1_4_sends_it():
    assert encode(status_alpha(), SHA1, encoding="classic") == CLASSIC_DATAGRAM
    assert decode(CLASSIC_DATAGRAM, SHA1) == decode(SHA1_DATAGRAM, SHA1)


def test_serial_form_is_classic_without_nul():
    assert encode(status_alpha(), SHA1, encoding="serial") == CLASSIC_DATAGRAM[:-1]


def test_rexmit_request_vector():
    msg = Message.of(t="NS_rexmit", dest="beta", firstseq="42", lastseq="42", src="alpha")
    msg.append("srcuuid", UUID, BINARY)
    for name, value in (("hg", "5f5e101"), ("ts", "65000000"), ("ttl", "3")):
        msg.append(name, value)
    assert encode(msg, SHA1) == (
        b'###\n14:(0)t=NS_rexmit,12:(0)dest=beta,14:(0)firstseq=42,13:(0)lastseq=42,12:(0)src=alpha,'
        b'27:(1)srcuuid=\x00\x11"3DUfw\x88\x99\xaa\xbb\xcc\xdd\xee\xff,13:(0)hg=5f5e101,14:(0)ts=65000000,'
        b'8:(0)ttl=3,50:(0)auth=1 78f616045d8c435cb5f8ef66301133464f5edb3d,%%%\n'
        b'42:1 1f68ee1f1d82f005bfac4a47e74859f84af9b34a,')


# -- §12.3 - §12.8 captured from the real daemon --------------------------------------------

CAPTURED_SHA1 = (
    b'###\n11:(0)t=status,8:(0)st=up,10:(0)dt=2ee0,13:(0)protocol=1,12:(0)src=node1,'
    b'27:(1)srcuuid=6c\xd9)\x8e\x12K\xac\x9d\xeb6\x11\xae\xbc\x9cU,8:(0)seq=2,14:(0)hg=6b05cc7b,'
    b'14:(0)ts=6b05cc7a,30:(0)ld=0.15 0.03 0.01 1/96 6625,8:(0)ttl=3,'
    b'50:(0)auth=1 65480e05066416c5cdb4c0fc26c2887acfd86724,%%%\n42:1 a689ee644803e47884d0ebd268499551eacab350,')

CAPTURED_MD5_INDEX2 = (
    b'###\n11:(0)t=status,10:(0)st=init,10:(0)dt=2ee0,13:(0)protocol=1,12:(0)src=node1,'
    b'27:(1)srcuuid=6c\xd9)\x8e\x12K\xac\x9d\xeb6\x11\xae\xbc\x9cU,8:(0)seq=1,14:(0)hg=6b05cc7d,'
    b'14:(0)ts=6b05ce3a,30:(0)ld=0.00 0.00 0.00 1/94 8145,8:(0)ttl=3,'
    b'42:(0)auth=2 0646e0841c9e6fc637cf80fe4a7b0f18,%%%\n34:2 88152c8127e9ebe71e0806343ca52946,')

CAPTURED_CRC_NETSTRING = (
    b'###\n11:(0)t=status,8:(0)st=up,10:(0)dt=2ee0,13:(0)protocol=1,12:(0)src=node1,'
    b'27:(1)srcuuid=6c\xd9)\x8e\x12K\xac\x9d\xeb6\x11\xae\xbc\x9cU,8:(0)seq=7,14:(0)hg=6b05cc7e,'
    b'14:(0)ts=6b05ce8d,30:(0)ld=0.00 0.00 0.00 1/94 8548,8:(0)ttl=3,%%%\n10:3 e188900a,')

PEER_CLASSIC = (
    b'>>>\nt=status\nst=up\ndt=2710\nprotocol=1\nsrc=node2\n(1)srcuuid=ABEiM0RVZneImaq7zN3u/w==\nseq=2\n'
    b'hg=1234\nts=6b05ccbf\nld=0.00 0.00 0.00 1/1 1\nttl=3\nauth=1 092b5d6c9c662df2b6bb2816fb181b276d5045d5\n'
    b'<<<\n\x00')

PING_PAYLOAD = (b'###\n10:(0)t=NS_st,10:(0)st=ping,12:(0)info=ping,17:(0)src=192.0.2.12,14:(0)ts=6b05ceb0,'
                b'18:(0)auth=3 eb173ba9,%%%\n10:3 3a389e8b,')

MD5_TWO_KEYS = authenticator(2, (1, "md5", b"keyone"), (2, "md5", b"keytwo"))
CRC3 = authenticator(3, (3, "crc", None))


@pytest.mark.parametrize("wire, auth, msgfmt", [
    (CAPTURED_SHA1, TESTKEY, "classic"),
    (CAPTURED_MD5_INDEX2, MD5_TWO_KEYS, "classic"),
    (CAPTURED_CRC_NETSTRING, CRC3, "netstring"),
    (PING_PAYLOAD, CRC3, "classic"),
])
def test_captured_datagrams_decode_and_reencode_identically(wire, auth, msgfmt):
    msg = decode(wire, auth)
    assert msg.get("t") in ("status", "NS_st")
    assert encode(msg, auth, msgfmt=msgfmt) == wire


def test_captured_status_fields():
    msg = decode(CAPTURED_SHA1, TESTKEY)
    assert msg.names() == ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"]
    assert msg.field("srcuuid") == Field("srcuuid", BINARY, bytes.fromhex("3663d9298e124bac9deb3611aebc9c55"))
    assert msg.get("ld") == "0.15 0.03 0.01 1/96 6625"


def test_ping_payload_is_built_with_auth_field_even_for_msgfmt_netstring():
    msg = Message.of(t="NS_st", st="ping", info="ping", src="192.0.2.12", ts="6b05ceb0")
    assert encode(msg, CRC3, msgfmt="classic") == PING_PAYLOAD


@pytest.mark.parametrize("wire", [PEER_CLASSIC, PEER_CLASSIC[:-1]])
def test_classic_datagram_accepted_with_and_without_nul(wire):
    msg = decode(wire, TESTKEY)
    assert msg.get("src") == "node2" and msg.get("srcuuid") == UUID
    assert encode(msg, TESTKEY, encoding="classic") == PEER_CLASSIC


# -- §12.9 API frames ---------------------------------------------------------------------

API_STREAM_FROM_CLIENT = (
    b'S\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=signon\ndest=node1\npid=9169\nfrom_id=9169\n'
    b'uid=0\ngid=105\n<<<\n\x00'
    b'T\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=nodestatus\ndest=node1\npid=9169\n'
    b'from_id=9169\nnode=node2\n<<<\n\x00'
    b'F\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=signoff\ndest=node1\npid=9169\nfrom_id=9169\n'
    b'<<<\n\x00')

API_SIGNON_REPLY = (
    b'\xe9\x00\x00\x00\xcd\xab\x00\x00###\n15:(0)t=hbapi-resp,17:(0)reqtype=signon,12:(0)result=OK,'
    b'16:(0)deadtime=2710,16:(0)keepalive=3e8,13:(0)node=node1,'
    b'67:(0)hbversion=3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169),16:(0)pacemaker=off,'
    b'17:(0)logfacility=-1,%%%\n')

API_NODESTATUS_REPLY = (b'R\x00\x00\x00\xcd\xab\x00\x00###\n15:(0)t=hbapi-resp,21:(0)reqtype=nodestatus,'
                        b'10:(0)st=dead,12:(0)result=OK,%%%\n')


def test_api_client_requests_deframe_and_reencode():
    bodies = ApiDeframer().feed(API_STREAM_FROM_CLIENT)
    requests = [decode_unsigned(b) for b in bodies]
    assert [r.get("reqtype") for r in requests] == ["signon", "nodestatus", "signoff"]
    assert requests[1].get("node") == "node2"
    assert b"".join(api_frame(encode_api(r)) for r in requests) == API_STREAM_FROM_CLIENT


def test_api_daemon_replies_with_msgfmt_netstring():
    signon = Message.of(t="hbapi-resp", reqtype="signon", result="OK", deadtime="2710", keepalive="3e8",
                        node="node1", hbversion="3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169)",
                        pacemaker="off", logfacility="-1")
    nodestatus = Message.of(t="hbapi-resp", reqtype="nodestatus", st="dead", result="OK")
    assert api_frame(encode_api(signon, "netstring")) == API_SIGNON_REPLY
    assert api_frame(encode_api(nodestatus, "netstring")) == API_NODESTATUS_REPLY


def test_api_deframer_takes_bytes_in_any_chunks():
    whole = ApiDeframer().feed(API_STREAM_FROM_CLIENT)
    deframer, pieces = ApiDeframer(), []
    for i in range(len(API_STREAM_FROM_CLIENT)):
        pieces += deframer.feed(API_STREAM_FROM_CLIENT[i:i + 1])
    assert pieces == whole and len(whole) == 3


@pytest.mark.parametrize("header", [b"\x05\x00\x00\x00\xcd\xab\x01\x00", b"\xff\xff\xff\xff\xcd\xab\x00\x00",
                                    b"\x01\x00\x05\x00\xcd\xab\x00\x00"])
def test_api_deframer_rejects_bad_headers(header):
    with pytest.raises(WireError):
        ApiDeframer().feed(header + b"x" * 8)


# -- authentication failures and their log lines (§4.5, §4.6) -------------------------------

def log_texts(error: WireError) -> list[str]:
    return [text for _, text in error.log]


def test_netstring_wrong_trailer_logs_like_the_daemon():
    wire = SHA1_DATAGRAM.replace(b"42:1 95c8", b"42:1 05c8")
    with pytest.raises(WireError) as e:
        decode(wire, SHA1)
    assert e.value.log[0] == ("ERROR", "authtoken does not match, authtoken=05c86f6590e48f6d64a3dff98fd1b54db553f147,"
                                       " authstr=95c86f6590e48f6d64a3dff98fd1b54db553f147")
    assert e.value.log[1][1].startswith("netstring authentication failed, s=###\n11:(0)t=status,")
    assert e.value.log[1][1].endswith(", autotoken=42:1 05c86f6590e48f6d64a3dff98fd1b54db553f147,")
    assert ("ERROR", "MSG: Dumping message with 12 fields") in e.value.log
    assert ("ERROR", "MSG[0] : [t=status]") in e.value.log


def test_netstring_inner_auth_field_is_not_checked():
    wire = SHA1_DATAGRAM.replace(b"auth=1 bd9f", b"auth=1 0d9f")
    payload = wire[:wire.index(b"%%%\n") + 4]
    wire = payload + b"42:" + SHA1.sign(payload).encode() + b","
    assert decode(wire, SHA1).get("auth").startswith("1 0d9f")


@pytest.mark.parametrize("tail, lines", [
    (b"", ["peel_netstring() error in getting auth string"]),
    (b"xx", ["peel_netstring: Couldn't parse an int starting at: xx",
             "peel_netstring() error in getting auth string"]),
    (b"42:1 95c8,", ["peel_netstring() error in getting auth string"]),
])
def test_netstring_missing_or_garbled_trailer(tail, lines):
    payload = SHA1_DATAGRAM[:SHA1_DATAGRAM.index(b"%%%\n") + 4]
    with pytest.raises(WireError) as e:
        decode(payload + tail, SHA1)
    assert log_texts(e.value) == lines


@pytest.mark.parametrize("token, first", [
    (b"7 95c86f6590e48f6d64a3dff98fd1b54db553f147", ("WARN", "Invalid authentication [7] in message!")),
    (b"garbage", ("WARN", "Bad/invalid netstring auth string")),
])
def test_netstring_trailer_with_unknown_index_or_garbage(token, first):
    payload = SHA1_DATAGRAM[:SHA1_DATAGRAM.index(b"%%%\n") + 4]
    with pytest.raises(WireError) as e:
        decode(payload + b"%d:%s," % (len(token), token), SHA1)
    assert e.value.log[0] == first


def test_netstring_trailer_index_selects_key_not_the_active_one():
    # §4.5: a real daemon with "auth 2" would accept index 1 signed with key two; we do not
    msg = decode(CAPTURED_MD5_INDEX2, MD5_TWO_KEYS)
    signed_by_one = encode(msg, authenticator(1, (1, "md5", b"keyone")), msgfmt="netstring")
    assert decode(signed_by_one, MD5_TWO_KEYS).get("st") == "init"
    forged = encode(msg, authenticator(1, (1, "md5", b"keytwo")), msgfmt="netstring")
    with pytest.raises(WireError):
        decode(forged, MD5_TWO_KEYS)


def test_bytes_after_the_trailer_are_ignored():
    assert decode(SHA1_DATAGRAM + b"\x00junk", SHA1) == decode(SHA1_DATAGRAM, SHA1)


@pytest.mark.parametrize("wire, lines", [
    (PEER_CLASSIC.replace(b"auth=1 092b", b"auth=1 192b"),
     ["string2msg_ll: node [node2] failed authentication"]),
    (PEER_CLASSIC.replace(b"auth=1 092b5d6c9c662df2b6bb2816fb181b276d5045d5\n", b""),
     ["Bad/invalid auth token, authtoken=(nil)", "string2msg_ll: node [node2] failed authentication"]),
    (PEER_CLASSIC.replace(b"auth=1 092b", b"auth=4 092b"),
     ["Invalid authentication type [4] in message!", "string2msg_ll: node [node2] failed authentication"]),
    (PEER_CLASSIC.replace(b"src=node2\n", b""),
     ["string2msg_ll: node [?] failed authentication"]),
])
def test_classic_auth_failures(wire, lines):
    with pytest.raises(WireError) as e:
        decode(wire, TESTKEY)
    assert log_texts(e.value) == lines
    assert all(level == "WARN" for level, _ in e.value.log)


def test_unknown_prefix_is_dropped_silently():
    with pytest.raises(WireError) as e:
        decode(b"hello", SHA1)
    assert e.value.log == []


# -- parsing rules (§3) ---------------------------------------------------------------------

def unsigned_classic(*lines: bytes) -> bytes:
    return b">>>\n" + b"".join(lines) + b"<<<\n"


def test_classic_rules_cr_blank_lines_and_lf_escape():
    msg = decode_unsigned(unsigned_classic(b"a=1\r\n", b"\n\n", b"\r\rb=x\x13y\n", b"c=\n", b"d==\n"))
    assert messages(msg) == [("a", "1\r"), ("b", "x\ny"), ("c", ""), ("d", "=")]


def test_classic_stops_at_end_marker_or_nul():
    assert messages(decode_unsigned(b">>>\na=1\n<<<\nb=2\n")) == [("a", "1")]
    assert messages(decode_unsigned(b">>>\na=1\nb=2\x00c=3\n<<<\n")) == [("a", "1"), ("b", "2")]
    assert messages(decode_unsigned(b">>>\na=1\nb=2")) == [("a", "1"), ("b", "2")]


@pytest.mark.parametrize("line, problem", [
    (b"novalue\n", "ha_msg_add_nv_depth: line doesn't contain '='"),
    (b"=x\n", "ha_msg_add_nv_depth: line doesn't contain '='"),
    (b"(0)a=x\n", "ha_msg_addraw_ll(): wrong type"),
    (b"(7)a=x\n", "add_string_field(): wrong type 7"),
    (b"(1a=x\n", "ha_msg_addraw_ll(): no closing parentheses"),
    (b"(x)a=x\n", "ha_msg_addraw_ll(): not a number."),
    (b"(1)a=not base64!\n", "base64_to_binary() failed"),
])
def test_classic_bad_lines(line, problem):
    with pytest.raises(WireError) as e:
        decode_unsigned(unsigned_classic(b"t=x\n", line))
    assert e.value.log[0] == ("ERROR", problem)
    assert ("ERROR", "NV failure (string2msg_ll):") in e.value.log


@pytest.mark.parametrize("wire", [
    b"###\n11:(0)t=status%%%\n",                 # no comma
    b"###\n12:(0)t=status,%%%\n",                # length one too long
    b"###\n10:(0)t=status,%%%\n",                # one too short
    payload(b"(6)t=status"),                     # type digit past the table
    payload(b"(0)tXstatus"),                     # no '='
    payload(b"(0)=status"),                      # empty name
    payload(b"(0)t\x00x=status"),                # NUL in a name
    payload(b"0)t=status"),                      # no '('
    payload(b"(0)"),                             # header only
    payload(b"(0)t=a\x00"),                      # NUL in a string: the original would abort
    payload(b"(3)l=2:ab,0:,"),                   # empty list element
    payload(b"(3)l=2:ab"),                       # list element cut short
    payload(b"(2)s=###\n"),                      # struct without end
    payload(b"(2)s=" + payload(b"(0)a=1") + b"x"),   # bytes after a struct
    b"###\n11:(0)t=status,",                     # no end marker
    b"###\n:(0)t=status,%%%\n",                  # no length
    b"###\n99999999:(0)t=status,%%%\n",          # absurd length
])
def test_netstring_rejects_malformed_payloads(wire):
    with pytest.raises(WireError):
        decode_unsigned(wire)
    with pytest.raises(WireError):
        decode(wire + b"10:1 00000000,", authenticator(1, (1, "crc", None)))


def test_netstring_binary_values_are_raw_and_may_hold_anything():
    wire = payload(b"(1)u=\x00\n,%%%\n\x00", b"(0)t=x")
    assert messages(decode_unsigned(wire)) == [("u", b"\x00\n,%%%\n\x00"), ("t", "x")]


def test_non_utf8_strings_survive_byte_for_byte():
    wire = payload(b"(0)n=\xff\xfe\x80")
    assert encode_api(decode_unsigned(wire), "netstring") == wire


# -- every field type, both encodings ---------------------------------------------------------

def rich_message() -> Message:
    inner = Message.of(t="inner", text="two\nlines")
    inner.append("deeper", Message.of(x="1", y="with\nLF"), STRUCT)
    inner.append("names", ("a", "b c", "d,e:f"), LIST)
    msg = Message.of(t="rich", empty="", spaced="node1 node2 ", multi="a\nb\r")
    msg.append("uuid", UUID, BINARY)
    msg.append("emptybin", b"", BINARY)
    msg.append("list", ("one", "two"), LIST)
    msg.append("nested", inner, STRUCT)
    msg.append("unpacked", Message.of(z="26"), UNCOMPRESS)
    msg.append("packed", zlib.compress(b"opaque"), COMPRESS)
    msg.append("t", "second t is kept and ignored by lookups")
    return msg


@pytest.mark.parametrize("form", ["netstring", "classic", "serial", "api-classic", "api-netstring"])
def test_round_trip_of_all_field_types(form):
    msg = rich_message()
    if form.startswith("api-"):
        back = decode_unsigned(encode_api(msg, form[4:]))
    else:
        back = decode(encode(msg, SHA1, encoding=form), SHA1)
        back.remove("auth")
    assert back == msg
    assert back.get("t") == "rich"


def test_struct_messages_travel_as_netstring_without_auth_field():
    msg = rich_message()
    for encoding in ("netstring", "classic"):
        wire = encode(msg, SHA1, encoding=encoding)
        assert wire.startswith(b"###\n") and b"(0)auth=" not in wire
    assert encode_api(msg, "classic").startswith(b"###\n")


def test_serial_writes_structs_with_depth_symbols():
    msg = Message.of(t="x")
    msg.append("s", Message.of(a="1", n=Message()), STRUCT)
    msg.field("s").value.set("n", Message.of(b="2"), STRUCT)
    text = encode(msg, SHA1, encoding="serial")
    assert b"(2)s=>>>\x14a=1\x14(2)n=>>>\x15b=2\x15<<<\x15\x14<<<\x14\n" in text
    assert decode(text, SHA1).field("s") == msg.field("s")


def nested(depth: int) -> Message:
    msg = Message.of(leaf="1")
    for _ in range(depth):
        outer = Message.of(t="x")
        outer.append("s", msg, STRUCT)
        msg = outer
    return msg


@pytest.mark.parametrize("form", ["netstring", "serial"])
def test_struct_depth_limit(form):
    deepest = nested(codec.MAXDEPTH - 1)
    assert decode(encode(deepest, SHA1, encoding=form), SHA1).get("s") == deepest.get("s")
    with pytest.raises(ValueError):
        encode(nested(codec.MAXDEPTH), SHA1, encoding=form)


def test_decoder_refuses_structs_nested_too_deep():
    wire = payload(b"(0)leaf=1")
    for _ in range(codec.MAXDEPTH + 1):
        wire = payload(b"(2)s=" + wire)
    with pytest.raises(WireError) as e:
        decode_unsigned(wire)
    assert ("ERROR", f"convert(): MAXDEPTH exceeded: {codec.MAXDEPTH}") in e.value.log


@pytest.mark.parametrize("build", [
    lambda: Message([Field("a=b", 0, "x")]),
    lambda: Message([Field("", 0, "x")]),
    lambda: Message([Field("a", 0, "x\x00y")]),
    lambda: Message([Field("a", 9, "x")]),
    lambda: Message([Field("a", BINARY, "not bytes")]),
    lambda: Message([Field("a", STRUCT, "not a message")]),
    lambda: Message([Field("a", LIST, ("",))]),
    lambda: Message([Field("a", LIST, ("x" * 1100,))]),
])
def test_unencodable_messages(build):
    with pytest.raises(ValueError):
        encode(build(), SHA1)


@pytest.mark.parametrize("build", [
    lambda: Message([Field("a\nb", 0, "x")]),
    lambda: Message([Field("(1)a", 0, "x")]),
    lambda: Message([Field("\ra", 0, "x")]),
    lambda: Message([Field("a", 0, "x\x13")]),
    lambda: Message([Field("a", LIST, ("x\ny",))]),
    lambda: Message([Field("s", STRUCT, Message.of(a="\x14"))]),
])
def test_what_only_classic_text_cannot_carry(build):
    msg = build()
    with pytest.raises(ValueError):
        encode(msg, SHA1, encoding="serial")
    if not any(f.type == STRUCT for f in msg):
        assert decode(encode(msg, SHA1, msgfmt="netstring"), SHA1) == msg


def test_auth_field_is_replaced_in_place():
    msg = Message.of(t="x", auth="1 stale", src="a")
    back = decode(encode(msg, SHA1), SHA1)
    assert back.names() == ["t", "auth", "src"]
    assert back.get("auth") == SHA1.sign(b"t=x\nsrc=a\n")
    assert msg.get("auth") == "1 stale"        # the caller's message is left alone


def test_encode_rejects_unknown_options():
    with pytest.raises(ValueError):
        encode(Message.of(t="x"), SHA1, msgfmt="xml")
    with pytest.raises(ValueError):
        encode(Message.of(t="x"), SHA1, encoding="morse")


# -- whole-message compression (§3.5) -------------------------------------------------------

def big_message() -> Message:
    msg = Message.of(t="big", src="alpha")
    for i in range(600):                     # over MAXMSG bytes in fewer than MAX_FIELDS fields
        msg.append(f"f{i}", "x" * 500)
    return msg


def test_large_messages_are_sent_compressed_and_decoded_back():
    msg = big_message()
    wire = encode(msg, SHA1)
    assert len(wire) < codec.MAXMSG
    assert wire.startswith(b"###\n") and b"_compressed_payload" in wire
    signed = msg.copy()
    signed.append("auth", SHA1.sign(codec.auth_input(msg)))
    assert wire == compressed_datagram(codec.render_netstring(signed))
    back = decode(wire, SHA1)
    assert back.get("auth") == SHA1.sign(codec.auth_input(msg))
    back.remove("auth")
    assert back == msg


def test_classic_large_messages_compress_their_classic_text():
    msg = big_message()
    wire = encode(msg, SHA1, encoding="classic")
    signed = msg.copy()
    signed.append("auth", SHA1.sign(codec.auth_input(msg)))
    assert wire == compressed_datagram(codec.render_classic(signed) + b"\x00")


def test_too_large_even_compressed():
    msg = Message.of(t="big")
    msg.append("noise", bytes(range(256)) * 9000, BINARY)
    with pytest.raises(ValueError):
        encode(msg, SHA1)


def compressed_datagram(inner: bytes, algorithm: str = "zlib", compress=zlib.compress) -> bytes:
    outer = Message([Field("_compressed_payload", BINARY, compress(inner)),
                     Field("_compression_algorithm", 0, algorithm)])
    return encode(outer, SHA1, msgfmt="netstring")


def test_bz2_compressed_messages_are_accepted():
    wire = compressed_datagram(payload(b"(0)t=bz2"), "bz2", bz2.compress)
    assert messages(decode(wire, SHA1)) == [("t", "bz2")]


@pytest.mark.parametrize("wire, problem", [
    (compressed_datagram(payload(b"(0)t=x"), "lzma"),
     "cl_decompressmsg: compress method(lzma) is not supported in this machine"),
    (compressed_datagram(b"junk"), "cl_decompressmsg: wirefmt to msg failed"),
    (compressed_datagram(payload(b"(0)t=x"), compress=lambda b: b"not zlib"),
     "cl_decompressmsg: decompression failed"),
    (compressed_datagram(payload(b"(0)t=x") + b" " * (codec.MAXUNCOMPRESSED + 1)),
     "cl_decompressmsg: decompression failed"),
    (compressed_datagram(payload(b"(0)t=x"), compress=lambda b: zlib.compress(b)[:-3]),
     "cl_decompressmsg: decompression failed"),
    (compressed_datagram(compressed_datagram(payload(b"(0)t=x"))),
     "decompress msg failed"),
])
def test_bad_compressed_messages(wire, problem):
    with pytest.raises(WireError) as e:
        decode(wire, SHA1)
    assert problem in log_texts(e.value)


# -- FIFO (§11.1) ---------------------------------------------------------------------------

FIFO_STREAM = (b"leftover junk\n>>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n" +
               b"garbage\n" + payload(b"(0)t=ns", b"(0)info=a\nb") +
               b">>>\nt=shutdone\nst=dead\n<<<\n")


def test_fifo_reads_classic_and_netstring_and_skips_junk():
    reader = FifoReader()
    got = reader.feed(FIFO_STREAM)
    assert [messages(m) for m in got] == [
        [("t", "ask_resources"), ("rsc_hold", "all"), ("info", "me")],
        [("t", "ns"), ("info", "a\nb")],
        [("t", "shutdone"), ("st", "dead")],
    ]
    assert reader.take_log() == []


def test_fifo_chunked_feeding_equals_whole_feeding():
    whole = FifoReader().feed(FIFO_STREAM)
    for size in (1, 2, 3, 7):
        reader, got = FifoReader(), []
        for i in range(0, len(FIFO_STREAM), size):
            got += reader.feed(FIFO_STREAM[i:i + size])
        assert got == whole


def test_fifo_drops_long_lines_and_malformed_messages_and_carries_on():
    too_long = b"info=" + b"x" * (codec.MAXMSGLINE - 6) + b"\n"         # 512 bytes with its LF
    just_fits = b"info=" + b"x" * (codec.MAXMSGLINE - 7) + b"\n"        # 511
    stream = (b">>>\nt=a\n" + too_long + b"<<<\n"
              + b">>>\nt=b\nno equals sign\n<<<\n"
              + b"###\n5:(0)t=x!%%%\n"
              + b">>>\nt=c\n" + just_fits + b"<<<\n")
    reader = FifoReader()
    got = reader.feed(stream)
    assert [m.get("t") for m in got] == ["c"]
    log = reader.take_log()
    assert ("ERROR", "msgfromstream: field too long; message dropped") in log
    assert any(text.startswith("NV failure (msgfromsteam): [>>>\nt=b\n") for _, text in log)
    assert ("ERROR", "msgfromstream_netstring(): cannot get message") in log
    assert reader.take_log() == []


def test_fifo_quotes_the_same_bad_netstring_however_the_bytes_arrive():
    # found by hypothesis: a writer's split used to shorten the quoted context
    reader = FifoReader()
    assert reader.feed(b"###\n>") == []
    assert reader.take_log() == []
    reader.feed(b">>\n<<<\n")
    assert reader.take_log()[0] == ("ERROR", "peel_netstring: Couldn't parse an int starting at: >>>\n<")


def test_fifo_bounds_its_buffer_on_endless_lines():
    reader = FifoReader()
    for _ in range(100):
        assert reader.feed(b"y" * 10000) == []
    assert len(reader._buf) < codec.MAXMSGLINE
    assert [m.get("t") for m in reader.feed(b"\n>>>\nt=ok\n<<<\n")] == ["ok"]


# -- hostile sizes (issue 8, rows 9 and 10) ---------------------------------------------------
def test_a_zlib_bomb_of_250000_fields_is_refused_by_the_field_cap():
    # row 10: a 3 KB signed datagram expanding to 250,000 fields took 0.63 s of event loop
    inner = b"###\n" + b"5:(0)f=," * 250_000 + b"%%%\n"
    wire = compressed_datagram(inner)
    assert len(wire) < 5000 and len(inner) < codec.MAXUNCOMPRESSED
    with pytest.raises(WireError) as e:
        decode(wire, SHA1)
    assert ("ERROR", f"message of more than {codec.MAX_FIELDS} fields dropped") in e.value.log


@pytest.mark.parametrize("count, refused", [(codec.MAX_FIELDS, False), (codec.MAX_FIELDS + 1, True)])
def test_fields_are_counted_through_nested_structs_in_both_encodings(count, refused):
    inner = Message([Field(f"f{i}", 0, "x") for i in range(count - 2)])
    msg = Message([Field("t", 0, "nested"), Field("s", STRUCT, inner)])
    for wire in (codec.render_netstring(msg), codec.render_classic(msg)):
        if refused:
            with pytest.raises(WireError):
                decode_unsigned(wire)
        else:
            assert decode_unsigned(wire) == msg


def test_a_dump_of_a_bad_packet_is_capped():
    # row 9: a packet failing authentication was dumped field by field
    msg = Message([Field("t", 0, "x")] + [Field("f", 0, "y\nCRIT: forged")] * 900)
    payload = codec.render_netstring(msg)
    with pytest.raises(WireError) as e:
        decode(payload + b"6:1 abcd,", SHA1)
    dump = [t for t in log_texts(e.value) if t.startswith("MSG")]
    assert dump[0] == "MSG: Dumping message with 901 fields"
    assert len(dump) == 1 + codec.DUMPED_FIELDS + 1
    assert dump[-1] == f"MSG: ... {901 - codec.DUMPED_FIELDS} more fields not dumped"
