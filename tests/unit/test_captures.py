"""Packets the real heartbeat 3.0.6 sent in the lab: every one parses, authenticates, and
comes out of our encoder byte for byte. Data: tests/unit/data/catalog_packets.json (its
"source" entry says where the bytes come from)."""

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from heartbeat.core import codec
from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core.codec import WireError, decode, encode

CATALOG = json.loads((Path(__file__).parent / "data" / "catalog_packets.json").read_text())
KEYS = CATALOG["authkeys"]
AUTH = Authenticator(AuthKeys("/etc/ha.d/authkeys", KEYS["active"], MappingProxyType(
    {KEYS["index"]: AuthKey(KEYS["index"], KEYS["method"], KEYS["key"].encode())})))
PACKETS = [pytest.param(bytes.fromhex(p["hex"]), p["fields"], id=p["title"]) for p in CATALOG["packets"]]


def test_the_catalog_has_every_kind():
    titles = {p["title"].split()[1] for p in CATALOG["packets"]}
    assert {"NS_st", "status", "NS_ackmsg", "resource", "repnodes", "reqnodes", "starting",
            "ip-request-resp", "ask_resources", "stonith", "shutdone"} <= titles


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_packet_parses_into_the_catalogued_fields(wire, fields):
    msg = decode(wire, AUTH)
    assert [[f.name, f.type, f.value if f.type == 0 else f.value.hex()] for f in msg] == fields


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_inner_auth_field_is_the_classic_digest(wire, fields):
    msg = decode(wire, AUTH)
    assert AUTH.verify(msg.get("auth"), codec.auth_input(msg))


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_packet_reencodes_byte_for_byte(wire, fields):
    assert encode(decode(wire, AUTH), AUTH) == wire


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_same_message_as_a_2_1_4_node_would_send_it(wire, fields):
    msg = decode(wire, AUTH)
    classic = encode(msg, AUTH, encoding="classic")
    assert classic.startswith(b">>>\n") and classic.endswith(b"<<<\n\x00")
    assert decode(classic, AUTH) == msg


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_every_truncation_is_refused(wire, fields):
    for end in range(len(wire)):
        with pytest.raises(WireError):
            decode(wire[:end], AUTH)


@pytest.mark.parametrize("wire, fields", PACKETS)
def test_every_byte_change_is_refused(wire, fields):
    for i in range(len(wire)):
        for bit in (0, 7):
            changed = bytearray(wire)
            changed[i] ^= 1 << bit
            with pytest.raises(WireError):
                decode(bytes(changed), AUTH)
