"""The daemon side of the API socket: the pure request handler, and the asyncio server."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import tempfile
from dataclasses import dataclass, field

import pytest

from heartbeat.daemon.apiserver import (ApiClient, ApiHandler, ApiLimits, AuthRule, authorization_table,
                                 peer_credentials, start_api_server)
from heartbeat.core.apiwire import scan_c_int
from heartbeat.core.codec import ApiDeframer, api_frame, decode_unsigned, encode_api
from heartbeat.config.hacf import ApiAuth
from heartbeat.core.message import BINARY, Message

VERSION = "3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169)"
UUID1 = bytes(range(16))
UUID2 = bytes(range(16, 32))


@dataclass
class Node:
    type: str
    status: str
    links: dict[str, str]
    uuid: bytes | None = None


@dataclass
class FakeView:
    """A two-node cluster with a ping node, as ``ApiView`` describes it."""
    local_node: str = "node1"
    deadtime_ms: int = 10000
    keepalive_ms: int = 1000
    logfacility: int = -1
    version: str = VERSION
    held: str | None = "all"
    params: dict[str, str] = field(default_factory=lambda: {
        "keepalive": "1", "deadtime": "10", "auto_failback": "on", "pacemaker": "off",
        "hbversion": "3.0.6"})
    nodes: dict[str, Node] = field(default_factory=lambda: {
        "node1": Node("normal", "active", {"eth0": "up", "eth1": "up"}, UUID1),
        "node2": Node("normal", "dead", {"eth0": "dead", "eth1": "up"}, UUID2),
        "192.0.2.1": Node("ping", "ping", {"192.0.2.1": "up"}),
    })

    def node_names(self):
        return list(self.nodes)

    def node_type(self, node):
        return self.nodes[node].type if node in self.nodes else None

    def node_status(self, node):
        return self.nodes[node].status if node in self.nodes else None

    def link_names(self, node):
        return list(self.nodes[node].links)

    def link_status(self, node, link):
        return self.nodes[node].links.get(link)

    def node_uuid(self, node):
        return self.nodes[node].uuid if node in self.nodes else None

    def node_name_by_uuid(self, uuid):
        return next((n for n, v in self.nodes.items() if v.uuid == uuid), None)

    def holding(self):
        return self.held

    def parameter(self, name):
        return self.params.get(name)


ROOT_OK = {"anon": AuthRule(uids=frozenset({0}), gids=frozenset({105}))}


def signon_request(pid=9169, from_id=None, uid=0, gid=105, **extra):
    msg = Message.of(t="hbapi-req", reqtype="signon", dest="node1", pid=str(pid),
                     from_id=str(pid) if from_id is None else from_id, uid=str(uid), gid=str(gid))
    for k, v in extra.items():
        msg.append(k, v)
    return msg


def request(reqtype, pid=9169, **fields):
    msg = Message.of(t="hbapi-req", reqtype=reqtype, dest="node1", pid=str(pid), from_id=str(pid))
    for k, v in fields.items():
        msg.append(k, v)
    return msg


def signed_on(view=None, pid=9169, uid=0, gid=105):
    handler = ApiHandler(view or FakeView(), ROOT_OK, daemon_uid=0, pid_exists=lambda p: True)
    client = ApiClient(peer_pid=pid, peer_uid=uid, peer_gid=gid)
    [reply] = handler.handle(client, signon_request(pid=pid, uid=uid, gid=gid))
    assert reply.get("result") == "OK"
    return handler, client


def fields(msg):
    return [(f.name, f.value) for f in msg]


# -- sign-on -------------------------------------------------------------------------
def test_signon_reply_is_byte_exact_with_the_captured_frame():
    # wire-protocol §12.9: the daemon had msgfmt netstring
    client_frame = (b'S\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=signon\ndest=node1\n'
                    b'pid=9169\nfrom_id=9169\nuid=0\ngid=105\n<<<\n\x00')
    daemon_frame = (b'\xe9\x00\x00\x00\xcd\xab\x00\x00###\n15:(0)t=hbapi-resp,17:(0)reqtype=signon,'
                    b'12:(0)result=OK,16:(0)deadtime=2710,16:(0)keepalive=3e8,13:(0)node=node1,'
                    b'67:(0)hbversion=3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169),'
                    b'16:(0)pacemaker=off,17:(0)logfacility=-1,%%%\n')
    handler = ApiHandler(FakeView(), ROOT_OK, pid_exists=lambda p: True)
    client = ApiClient(peer_pid=9169, peer_uid=0, peer_gid=105)
    [body] = ApiDeframer().feed(client_frame)
    replies = handler.handle(client, decode_unsigned(body))
    assert [api_frame(encode_api(r, "netstring")) for r in replies] == [daemon_frame]
    assert client.casual and client.client_id == "9169" and client.remove_reason is None


def test_nodestatus_reply_is_byte_exact_with_the_captured_frame():
    handler, client = signed_on()
    client_frame = (b'T\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=nodestatus\ndest=node1\n'
                    b'pid=9169\nfrom_id=9169\nnode=node2\n<<<\n\x00')
    daemon_frame = (b'R\x00\x00\x00\xcd\xab\x00\x00###\n15:(0)t=hbapi-resp,21:(0)reqtype=nodestatus,'
                    b'10:(0)st=dead,12:(0)result=OK,%%%\n')
    [body] = ApiDeframer().feed(client_frame)
    [reply] = handler.handle(client, decode_unsigned(body))
    assert api_frame(encode_api(reply, "netstring")) == daemon_frame


def test_signon_reply_in_classic_format_ends_with_nul():
    handler = ApiHandler(FakeView(), ROOT_OK, pid_exists=lambda p: True)
    [reply] = handler.handle(ApiClient(9169, 0, 105), signon_request())
    assert encode_api(reply, "classic").startswith(b">>>\nt=hbapi-resp\nreqtype=signon\nresult=OK\n")
    assert encode_api(reply, "classic").endswith(b"<<<\n\x00")


@pytest.mark.parametrize("peer, msg, reason", [
    ((9169, 0, 105), signon_request(pid=0), "bad pid"),
    ((9169, 0, 105), signon_request(uid="x"), "invalid id info"),
    ((9169, 1000, 105), signon_request(uid=0), "incorrect/false credentials"),
    ((9169, 0, 0), signon_request(gid=105), "incorrect/false credentials"),
    ((9169, 1000, 1000), signon_request(uid=1000, gid=1000), "client failed authorization"),
    ((4242, 0, 105), signon_request(), "pid mismatch"),
])
def test_signon_refusals_carry_the_reason_and_still_the_timings(peer, msg, reason):
    handler = ApiHandler(FakeView(), ROOT_OK, pid_exists=lambda p: True)
    client = ApiClient(*peer)
    [reply] = handler.handle(client, msg)
    assert fields(reply) == [
        ("t", "hbapi-resp"), ("reqtype", "signon"), ("info", reason), ("result", "badreq"),
        ("deadtime", "2710"), ("keepalive", "3e8"), ("node", "node1"), ("hbversion", VERSION),
        ("pacemaker", "off"), ("logfacility", "-1")]
    assert client.remove_reason == reason
    assert handler.clients == []


def test_signon_of_a_vanished_pid_is_a_bad_pid():
    handler = ApiHandler(FakeView(), ROOT_OK, pid_exists=lambda p: False)
    [reply] = handler.handle(ApiClient(9169, 0, 105), signon_request())
    assert reply.get("info") == "bad pid"


def test_second_signon_with_the_same_client_id_is_a_duplicate():
    handler, _ = signed_on()
    other = ApiClient(9170, 0, 105)
    [reply] = handler.handle(other, signon_request(pid=9170, from_id="9169"))
    assert reply.get("info") == "duplicate add request"


def test_named_clients_use_their_own_rule_or_default():
    view = FakeView()
    auth = {"anon": AuthRule(uids=frozenset({0})), "ipfail": AuthRule(uids=frozenset({102}))}
    handler = ApiHandler(view, auth, pid_exists=lambda p: True)
    ipfail = ApiClient(500, 102, 105)
    [ok] = handler.handle(ipfail, signon_request(pid=500, from_id="ipfail", uid=102))
    assert ok.get("result") == "OK" and not ipfail.casual and ipfail.client_id == "ipfail"
    stranger = ApiClient(501, 102, 105)
    [no] = handler.handle(stranger, signon_request(pid=501, from_id="mytool", uid=102))
    assert no.get("info") == "no default client auth"
    handler.auth["default"] = AuthRule(gids=frozenset({105}))
    stranger = ApiClient(501, 102, 105)
    [ok] = handler.handle(stranger, signon_request(pid=501, from_id="mytool", uid=102))
    assert ok.get("result") == "OK"


def test_casual_clients_need_an_anon_rule():
    handler = ApiHandler(FakeView(), {}, pid_exists=lambda p: True)
    [reply] = handler.handle(ApiClient(9169, 0, 105), signon_request())
    assert reply.get("info") == "apiauth anon missing"


def test_anything_but_a_signon_first_is_ignored():
    handler = ApiHandler(FakeView(), ROOT_OK, pid_exists=lambda p: True)
    client = ApiClient(9169, 0, 105)
    assert handler.handle(client, request("nodelist")) == []
    assert handler.handle(client, Message.of(t="hbapi-req", reqtype="signon")) == []
    assert client.pid == 0 and client.remove_reason is None


def test_pacemaker_defaults_to_off_when_the_view_has_no_value():
    view = FakeView()
    del view.params["pacemaker"]
    handler = ApiHandler(view, ROOT_OK, pid_exists=lambda p: True)
    [reply] = handler.handle(ApiClient(9169, 0, 105), signon_request())
    assert reply.get("pacemaker") == "off"


# -- requests ------------------------------------------------------------------------
def test_nodelist_is_multipart_in_table_order():
    handler, client = signed_on()
    replies = handler.handle(client, request("nodelist"))
    assert [fields(r) for r in replies] == [
        [("t", "hbapi-resp"), ("reqtype", "nodelist"), ("node", "node1"), ("nodetype", "normal"),
         ("st", "active"), ("result", "ok/more")],
        [("t", "hbapi-resp"), ("reqtype", "nodelist"), ("node", "node2"), ("nodetype", "normal"),
         ("st", "dead"), ("result", "ok/more")],
        [("t", "hbapi-resp"), ("reqtype", "nodelist"), ("node", "192.0.2.1"), ("nodetype", "ping"),
         ("st", "ping"), ("result", "OK")],
    ]


@pytest.mark.parametrize("reqtype, args, answer", [
    ("nodestatus", {"node": "node2"}, [("st", "dead")]),
    ("nodestatus", {"node": "NODE1"}, [("st", "active")]),
    ("nodetype", {"node": "192.0.2.1"}, [("nodetype", "ping")]),
    ("nodeweight", {"node": "node2"}, [("weight", "100")]),
    ("nodesite", {"node": "node2"}, [("site", "")]),
    ("numnodes", {}, [("numnodes", "2")]),
    ("ifstatus", {"node": "node2", "ifname": "eth0"}, [("st", "dead")]),
    ("getparm", {"pname": "auto_failback"}, [("pvalue", "on")]),
    ("getparm", {"pname": "crm"}, [("pvalue", "off")]),
    ("getparm", {"pname": "nosuch"}, []),
    ("getrsc", {}, [("rsc_hold", "all")]),
    ("getuuid", {"queryname": "node2"}, [("queryuuid", UUID2)]),
    ("getuuid", {"queryname": "nosuch"}, []),
    ("setfilter", {"fmask": "1"}, []),
    ("setsignal", {"signal": "10"}, []),
    ("clientstatus", {"node": "node2", "cn": "ipfail"}, [("subt", "respond-cstatus"), ("cs", "offline")]),
])
def test_single_replies(reqtype, args, answer):
    handler, client = signed_on()
    [reply] = handler.handle(client, request(reqtype, **args))
    assert fields(reply) == [("t", "hbapi-resp"), ("reqtype", reqtype)] + answer + [("result", "OK")]


@pytest.mark.parametrize("reqtype, args, reason", [
    ("nodestatus", {"node": "nosuch"}, "EINVAL"),
    ("nodestatus", {}, "EINVAL"),
    ("nodetype", {"node": "nosuch"}, "EINVAL"),
    ("nodeweight", {"node": "nosuch"}, "EINVAL"),
    ("nodesite", {"node": "nosuch"}, "EINVAL"),
    ("iflist", {"node": "nosuch"}, "EINVAL"),
    ("ifstatus", {"node": "node1", "ifname": "eth9"}, "EINVAL"),
    ("ifstatus", {"node": "node1"}, "EINVAL"),
    ("clientstatus", {"node": "nosuch", "cn": "x"}, "EINVAL"),
    ("clientstatus", {"node": "node1"}, "EINVAL"),
    ("getparm", {}, "EINVAL"),
    ("getuuid", {}, "no query node name found"),
    ("getnodename", {}, "no query node name found"),
    ("setfilter", {"fmask": "40"}, "EINVAL"),
    ("setfilter", {"fmask": "zz"}, "EINVAL"),
    ("setsignal", {"signal": "9"}, "EINVAL"),
    ("setsignal", {"signal": "32"}, "EINVAL"),
    ("setsignal", {"signal": "x"}, None),
    ("bogus", {}, None),
])
def test_bad_requests(reqtype, args, reason):
    handler, client = signed_on()
    [reply] = handler.handle(client, request(reqtype, **args))
    expected = [("t", "hbapi-resp"), ("reqtype", reqtype), ("result", "badreq")]
    assert fields(reply) == expected + ([("info", reason)] if reason else [])


def test_iflist_of_a_normal_node_is_multipart():
    handler, client = signed_on()
    replies = handler.handle(client, request("iflist", node="node2"))
    assert [fields(r)[2:] for r in replies] == [
        [("ifname", "eth0"), ("st", "dead"), ("result", "ok/more")],
        [("ifname", "eth1"), ("st", "up"), ("result", "OK")]]


def test_iflist_of_a_ping_node_is_its_own_link():
    handler, client = signed_on()
    [reply] = handler.handle(client, request("iflist", node="192.0.2.1"))
    assert fields(reply)[2:] == [("ifname", "192.0.2.1"), ("st", "up"), ("result", "OK")]
    view = FakeView()
    view.nodes["192.0.2.1"].links = {}
    handler, client = signed_on(view)
    [reply] = handler.handle(client, request("iflist", node="192.0.2.1"))
    assert fields(reply)[2:] == [("result", "badreq"), ("info", "UhOh")]


def test_clientstatus_of_the_local_node_looks_at_signed_on_clients():
    handler, client = signed_on()
    [reply] = handler.handle(client, request("clientstatus", node="node1", cn="9169"))
    assert reply.get("cs") == "online"
    [reply] = handler.handle(client, request("clientstatus", node="node1", cn="ipfail"))
    assert reply.get("cs") == "offline"
    handler.disconnect(client)
    assert handler.find_client(client_id="9169") is None


def test_getrsc_without_resource_management_is_a_bad_request():
    view = FakeView(held=None)
    handler, client = signed_on(view)
    [reply] = handler.handle(client, request("getrsc"))
    assert fields(reply)[2:] == [("result", "badreq"),
                                 ("info", "Resource is managed by crm. Use crm tool to query resource")]


def test_getnodename_takes_a_binary_uuid():
    handler, client = signed_on()
    msg = request("getnodename")
    msg.append("queryuuid", UUID2, BINARY)
    [reply] = handler.handle(client, msg)
    assert fields(reply)[2:] == [("queryname", "node2"), ("result", "OK")]
    msg = request("getnodename")
    msg.append("queryuuid", bytes(16), BINARY)
    [reply] = handler.handle(client, msg)
    assert fields(reply)[2:] == [("result", "OK")]


def test_debug_filters_only_for_root_or_the_daemons_user():
    handler, client = signed_on(uid=1000, gid=105)
    handler.auth["anon"] = AuthRule(gids=frozenset({105}))
    [reply] = handler.handle(client, request("setfilter", fmask="3"))
    assert reply.get("info") == "EPERM"
    handler, root = signed_on()
    [reply] = handler.handle(root, request("setfilter", fmask="0x3f"))
    assert reply.get("result") == "OK" and root.filter_mask == 0x3F


def test_signoff_and_sendqlen_get_no_reply():
    handler, client = signed_on()
    assert handler.handle(client, request("set_sendqlen", sendqlen="100")) == []
    assert client.remove_reason is None
    assert handler.handle(client, request("signoff")) == []
    assert client.remove_reason == "signoff"


def test_requests_naming_another_client_are_ignored():
    handler, client = signed_on()
    assert handler.handle(client, request("nodelist", pid=1)) == []
    assert handler.handle(client, Message.of(t="hbapi-req", pid="9169", from_id="9169")) == []


def test_cluster_messages_from_a_client_remove_it():
    handler, client = signed_on()
    assert handler.handle(client, Message.of(t="ask_resources", rsc_hold="all")) == []
    assert client.remove_reason == "badclient"


def test_authorization_table_resolves_names_and_lets_ha_cf_override():
    table = authorization_table([ApiAuth("anon", ("1000",), ()), ApiAuth("mine", ("nosuchuser",), ("0",))])
    assert table["anon"] == AuthRule(uids=frozenset({1000}))
    assert table["mine"] == AuthRule(gids=frozenset({0}))
    assert table["lha-snmpagent"].uids == frozenset({0})


def test_scan_c_int_reads_like_sscanf():
    assert scan_c_int("2710", 16) == 0x2710
    assert scan_c_int("0x3f", 16) == 0x3F
    assert scan_c_int(" 42abc", 10) == 42
    assert scan_c_int("-1", 10) == -1
    assert scan_c_int("abc", 10) is None
    assert scan_c_int(None, 10) is None


# -- the socket --------------------------------------------------------------------
async def _exchange(path, messages, replies_wanted):
    reader, writer = await asyncio.open_unix_connection(path)
    for m in messages:
        writer.write(api_frame(encode_api(m, "classic")))
    await writer.drain()
    deframer, got = ApiDeframer(), []
    while len(got) < replies_wanted:
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            break
        got.extend(decode_unsigned(b) for b in deframer.feed(data))
    tail = await asyncio.wait_for(reader.read(65536), 5) if replies_wanted >= 0 else b""
    writer.close()
    return got, tail


def test_server_serves_a_signed_on_client_and_closes_after_signoff():
    async def scenario(tmp):
        path = os.path.join(tmp, "register")
        open(path, "w").close()   # a stale file from a previous run is replaced
        me = (os.getpid(), os.getuid(), os.getgid())
        handler = ApiHandler(FakeView(), {"anon": AuthRule(uids=frozenset({me[1]}))})
        errors = []
        server = await start_api_server(path, handler, msgfmt="netstring", on_error=errors.append)
        try:
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o777
            msgs = [signon_request(pid=me[0], uid=me[1], gid=me[2]),
                    request("nodelist", pid=me[0]), request("signoff", pid=me[0])]
            got, tail = await _exchange(path, msgs, 4)
            assert [m.get("result") for m in got] == ["OK", "ok/more", "ok/more", "OK"]
            assert tail == b""   # the daemon hung up after the sign-off
            assert handler.clients == []
        finally:
            await server.close()
        assert not os.path.exists(path)
        assert errors == []

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(tmp))


def test_server_closes_on_refusal_and_on_a_bad_frame():
    async def scenario(tmp):
        path = os.path.join(tmp, "register")
        handler = ApiHandler(FakeView(), {"anon": AuthRule()})
        errors = []
        server = await start_api_server(path, handler, on_error=errors.append)
        try:
            me = (os.getpid(), os.getuid(), os.getgid())
            got, tail = await _exchange(path, [signon_request(pid=me[0], uid=me[1], gid=me[2])], 1)
            assert got[0].get("info") == "client failed authorization" and tail == b""
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
            assert await asyncio.wait_for(reader.read(100), 5) == b""
            writer.close()
        finally:
            await server.close()
        assert len(errors) == 1 and "bad API message header" in errors[0]

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(tmp))


def test_peer_credentials_of_a_socketpair_are_our_own():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert peer_credentials(a) == (os.getpid(), os.getuid(), os.getgid())
    finally:
        a.close()
        b.close()


# -- hostile clients (issue 8 rows 7, 8) ---------------------------------------------------------
HUGE = ["9" * 5000, str(2 ** 40), str(2 ** 31), "-" + "9" * 5000, "0x" + "f" * 5000, "1" * 25]


@pytest.mark.parametrize("pid", HUGE, ids=range(len(HUGE)))
def test_signon_with_an_oversized_pid_is_a_bad_request(pid):
    """Row 8: os.kill(2**40) raised OverflowError, int() of 5000 digits ValueError."""
    handler = ApiHandler(FakeView(), ROOT_OK)     # the real process lookup
    client = ApiClient(9169, 0, 105)
    [reply] = handler.handle(client, signon_request(pid=pid, from_id="x"))
    assert (reply.get("result"), reply.get("info")) == ("badreq", "bad pid")
    assert handler.clients == []


@pytest.mark.parametrize("value", HUGE, ids=range(len(HUGE)))
def test_scan_c_int_reads_only_what_fits_a_c_int(value):
    assert scan_c_int(value, 10) == (0 if value.startswith("0x") else None)   # sscanf reads the 0
    assert scan_c_int(value, 16) is None
    assert scan_c_int(str(2 ** 31 - 1), 10) == 2 ** 31 - 1
    assert scan_c_int("-" + str(2 ** 31), 10) == -2 ** 31
    assert scan_c_int("ffffffff", 16) == 0xFFFFFFFF


HOSTILE_VALUES = HUGE + ["", "\x00", "x" * 70000, "node2\n", "-1", "0"]
REQUEST_FIELDS = ["node", "ifname", "cn", "fmask", "signal", "pname", "queryname", "queryuuid", "uid", "gid"]


@pytest.mark.parametrize("reqtype", ["signon", "signoff", "setfilter", "setsignal", "nodelist", "nodestatus",
                                     "nodeweight", "nodesite", "nodetype", "ifstatus", "iflist", "clientstatus",
                                     "numnodes", "getparm", "getrsc", "getuuid", "getnodename",
                                     "set_sendqlen", "nosuch"])
def test_every_request_field_with_a_hostile_value_gets_an_answer_or_nothing(reqtype):
    """Row 8, audited for every field of every request: a reply, or none, never an exception."""
    for name in REQUEST_FIELDS + ["pid", "from_id"]:
        for value in HOSTILE_VALUES:
            handler, client = signed_on()
            msg = request(reqtype)
            msg.set(name, value)
            if reqtype == "signon":
                client = ApiClient(9169, 0, 105)
                handler = ApiHandler(FakeView(), ROOT_OK)
            replies = handler.handle(client, msg)
            assert all(isinstance(r, Message) for r in replies)
            for reply in replies:
                encode_api(reply, "classic")


@pytest.mark.parametrize("soft, total, per_user", [(1024, 128, 16), (1048576, 128, 16), (256, 64, 16),
                                                   (40, 10, 10), (2, 1, 1)])
def test_api_clients_get_at_most_a_quarter_of_the_descriptors(soft, total, per_user):
    assert ApiLimits.for_descriptors(soft) == ApiLimits(total=total, per_user=per_user)
