"""The daemon side of the API socket (``/var/run/heartbeat/register``).

Local tools (``cl_status``, and named clients such as ipfail) sign on over a
Unix stream socket and ask the daemon about nodes, links, parameters and
resources (wire-protocol §11.2). This module has two layers:

* ``ApiHandler``: pure request handling. It is fed one decoded request and
  the connection's ``ApiClient`` record and returns the replies, in the field
  order the original daemon produces (clients and tests compare them).
* ``start_api_server``: a thin asyncio server that frames messages with the
  codec, reads the peer's credentials (SO_PEERCRED) and closes connections
  the handler marks for removal.

The daemon provides what the handler asks through the ``ApiView`` protocol.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol
from collections.abc import Iterable, Mapping, Sequence

from heartbeat.core.apiwire import (CLIENT_STATUS_REPLY, MONITOR_REQUEST, REQUEST, RESPONSE, RESULT_BADREQ, RESULT_MORE,
                                    RESULT_OK, scan_c_int)
from heartbeat.core.codec import ApiDeframer, WireError, api_frame, decode_unsigned, encode_api
from heartbeat.config.hacf import ApiAuth
from heartbeat.core.message import BINARY, Message

if TYPE_CHECKING:
    from heartbeat.core.monitoring import Status as MonitorStatus

# message classes a client may ask to see (setfilter); all but KEEPIT are debug classes
KEEPIT = 0x01
DEBUG_TREATMENTS = 0x02 | 0x04 | 0x08 | 0x10 | 0x20
ALL_TREATMENTS = DEBUG_TREATMENTS | KEEPIT

# a weight and a site only change through setweight/setsite, which v1 clusters never send
DEFAULT_WEIGHT = 100
DEFAULT_SITE = ""

NOT_MANAGED = "Resource is managed by crm. Use crm tool to query resource"


class ApiView(Protocol):
    """What the daemon tells the API about itself and the cluster.

    Node names passed in are lower case (the handler folds them, as the
    original's node lookup does). ``None`` means "no such node / link / value".
    """

    local_node: str          # this node's name, lower case
    deadtime_ms: int
    keepalive_ms: int
    logfacility: int         # syslog facility number, -1 when not logging to syslog
    version: str             # signon's hbversion, e.g. "3.0.6 (node: <hg id>)"

    def node_names(self) -> Sequence[str]:
        """Every node, normal and ping, in the daemon's table order."""

    def node_type(self, node: str) -> str | None:
        """"normal" or "ping"; None for an unknown node."""

    def node_status(self, node: str) -> str | None:
        """init/up/active/dead/ping; None for an unknown node."""

    def link_names(self, node: str) -> Sequence[str]:
        """The node's heartbeat links in order (a ping node's only link is named after it)."""

    def link_status(self, node: str, link: str) -> str | None:
        """"up" or "dead"; None for an unknown link."""

    def node_uuid(self, node: str) -> bytes | None:
        """The node's 16-byte uuid, when known."""

    def node_name_by_uuid(self, uuid: bytes) -> str | None: ...

    def holding(self) -> str | None:
        """none/local/foreign/all, or transition while unstable; None when not managing resources (-M)."""

    def parameter(self, name: str) -> str | None:
        """A directive's recorded value (``HaCf.recorded``) or ``hbversion``; None when unset."""

    def monitors(self) -> Sequence[MonitorStatus]:
        """pyheartbeat's resource monitors (pyheartbeat.cf), in file order; none without."""


# -- authorisation -------------------------------------------------------------
@dataclass(frozen=True)
class AuthRule:
    """An ``apiauth`` line resolved to numbers: a peer passes with either id."""
    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()

    def allows(self, uid: int, gid: int) -> bool:
        return uid in self.uids or gid in self.gids


# The original's built-in rules. Its ``anon`` rule is gid haclient only, but its
# cl_status is installed setgid haclient, so root passed through the group. A
# Python cl_status cannot be setgid, hence root is named here explicitly.
BUILTIN_APIAUTH: tuple[ApiAuth, ...] = (
    ApiAuth("ipfail", ("hacluster",), ()),
    ApiAuth("ccm", ("hacluster",), ()),
    ApiAuth("ping", (), ("haclient",)),
    ApiAuth("lha-snmpagent", ("root",), ()),
    ApiAuth("anon", ("root",), ("haclient",)),
)


def _resolve(names: Iterable[str], lookup: Callable[[str], int]) -> frozenset[int]:
    ids = set()
    for name in names:
        if name.isdigit():
            ids.add(int(name))
            continue
        try:
            ids.add(lookup(name))
        except KeyError:
            continue  # an unknown account authorises nobody, as in the original
    return frozenset(ids)


def authorization_table(configured: Iterable[ApiAuth] = ()) -> dict[str, AuthRule]:
    """ha.cf ``apiauth`` rules over the built-in ones, names resolved to ids."""
    rules: dict[str, ApiAuth] = {a.client: a for a in BUILTIN_APIAUTH}
    rules.update({a.client: a for a in configured})
    return {name: AuthRule(_resolve(a.uids, lambda n: pwd.getpwnam(n).pw_uid),
                           _resolve(a.gids, lambda n: grp.getgrnam(n).gr_gid))
            for name, a in rules.items()}


# -- per-connection state ------------------------------------------------------
@dataclass(eq=False)
class ApiClient:
    """One connection. ``peer_*`` come from the socket; the rest from the sign-on."""
    peer_pid: int
    peer_uid: int
    peer_gid: int
    pid: int = 0                 # 0 until a sign-on was processed
    client_id: str = ""
    casual: bool = True
    uid: int = -1
    gid: int = -1
    filter_mask: int = KEEPIT
    signal: int = 0
    remove_reason: str | None = None   # set: the server closes the connection after replying


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _BadRequest(Exception):
    """A request the original answers with result=badreq (and ``info`` when it gives a reason)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


class ApiHandler:
    """Answers API requests; holds the table of signed-on clients."""

    def __init__(self, view: ApiView, auth: Mapping[str, AuthRule] | None = None, *,
                 daemon_uid: int | None = None,
                 pid_exists: Callable[[int], bool] = _pid_exists) -> None:
        self.view = view
        self.auth = dict(authorization_table() if auth is None else auth)
        self.daemon_uid = os.getuid() if daemon_uid is None else daemon_uid
        self._pid_exists = pid_exists
        self.clients: list[ApiClient] = []
        self._handlers: dict[str, Callable[[ApiClient, Message, Message], list[Message] | None]] = {
            "signoff": self._signoff,
            "setfilter": self._setfilter,
            "setsignal": self._setsignal,
            "nodelist": self._nodelist,
            "nodestatus": self._nodestatus,
            "nodeweight": self._nodeweight,
            "nodesite": self._nodesite,
            "nodetype": self._nodetype,
            "ifstatus": self._ifstatus,
            "iflist": self._iflist,
            "clientstatus": self._clientstatus,
            "numnodes": self._numnodes,
            "getparm": self._getparm,
            "getrsc": self._getrsc,
            "getuuid": self._getuuid,
            "getnodename": self._getnodename,
            "set_sendqlen": self._set_sendqlen,
            MONITOR_REQUEST: self._rscmonitor,
        }

    # -- entry points --------------------------------------------------------
    def handle(self, client: ApiClient, msg: Message) -> list[Message]:
        """The replies to one message from ``client`` (possibly none)."""
        if client.pid == 0:
            return self._signon(client, msg)
        return self._request(client, msg)

    def disconnect(self, client: ApiClient) -> None:
        """Forget a client whose connection is gone."""
        if client in self.clients:
            self.clients.remove(client)

    def find_client(self, client_id: str | None = None, pid: int | None = None) -> ApiClient | None:
        for c in self.clients:
            if (pid is not None and c.pid == pid) or (client_id is not None and c.client_id == client_id):
                return c
        return None

    # -- sign-on -------------------------------------------------------------
    def _signon(self, client: ApiClient, msg: Message) -> list[Message]:
        if msg.type != REQUEST or msg.get("reqtype") != "signon":
            return []  # the original logs "bad message" and waits for a proper sign-on
        from_id, pid_text = msg.get("from_id"), msg.get("pid")
        if from_id is None and pid_text is None:
            return []
        resp = Message.of(t=RESPONSE, reqtype="signon")
        client.pid = scan_c_int(pid_text, 10) or 0
        reason = self._admit(client, msg)
        if reason is None:
            self.clients.append(client)
            resp.append("result", RESULT_OK)
        else:
            client.remove_reason = reason
            resp.append("info", reason)
            resp.append("result", RESULT_BADREQ)
        # a refused client still learns deadtime: that is how cl_status tells
        # "running but refusing me" from "not running"
        v = self.view
        resp.append("deadtime", f"{v.deadtime_ms:x}")
        resp.append("keepalive", f"{v.keepalive_ms:x}")
        resp.append("node", v.local_node)
        resp.append("hbversion", v.version)
        resp.append("pacemaker", v.parameter("pacemaker") or "off")
        resp.append("logfacility", str(v.logfacility))
        return [resp]

    def _admit(self, client: ApiClient, msg: Message) -> str | None:
        """Why ``client`` may not sign on, or None."""
        pid = client.pid
        if pid <= 0 or not self._pid_exists(pid):
            return "bad pid"
        from_id = msg.get("from_id")
        if self.find_client(client_id=from_id) is not None:
            return "duplicate add request"
        if from_id is not None:
            client.client_id = from_id
            client.casual = scan_c_int(from_id, 10) == pid
        else:
            client.client_id, client.casual = str(pid), True
        uid, gid = scan_c_int(msg.get("uid"), 10), scan_c_int(msg.get("gid"), 10)
        if uid is None or gid is None:
            return "invalid id info"
        if (uid, gid) != (client.peer_uid, client.peer_gid):
            return "incorrect/false credentials"
        client.uid, client.gid = uid, gid
        if client.casual:
            rule = self.auth.get("anon")
            if rule is None:
                return "apiauth anon missing"
        else:
            rule = self.auth.get(client.client_id) or self.auth.get("default")
            if rule is None:
                return "no default client auth"
        if not rule.allows(client.peer_uid, client.peer_gid):
            return "client failed authorization"
        if client.peer_pid > 0 and client.peer_pid != pid:
            return "pid mismatch"
        return None

    # -- requests ------------------------------------------------------------
    def _request(self, client: ApiClient, msg: Message) -> list[Message]:
        if msg.type != REQUEST:
            # Casual clients may not talk to the cluster. Forwarding named
            # clients' messages to the cluster is not provided, so they are
            # refused the same way rather than silently dropped.
            client.remove_reason = "badclient"
            return []
        from_id, pid_text, reqtype = msg.get("from_id"), msg.get("pid"), msg.get("reqtype")
        if (from_id is None and pid_text is None) or reqtype is None:
            return []
        pid = scan_c_int(pid_text, 10) if pid_text is not None else None
        if self.find_client(client_id=from_id, pid=pid) is not client:
            return []  # a request naming another client: the original ignores it
        resp = Message.of(t=RESPONSE, reqtype=reqtype)
        handler = self._handlers.get(reqtype)
        try:
            if handler is None:
                raise _BadRequest()
            replies = handler(client, msg, resp)
        except _BadRequest as bad:
            resp.append("result", RESULT_BADREQ)
            if bad.reason is not None:
                resp.append("info", bad.reason)
            return [resp]
        if replies is None:
            resp.set("result", RESULT_OK)
            return [resp]
        return replies

    def _node(self, msg: Message, name_field: str = "node") -> str:
        name = msg.get(name_field)
        if not isinstance(name, str) or self.view.node_type(name.lower()) is None:
            raise _BadRequest("EINVAL")
        return name.lower()

    # Each request method fills ``resp`` and returns None for a single OK
    # reply, or returns the complete list of replies itself.
    def _signoff(self, client, msg, resp):
        client.remove_reason = "signoff"
        return []

    def _setfilter(self, client, msg, resp):
        mask = scan_c_int(msg.get("fmask"), 16)
        if mask is None or mask & ALL_TREATMENTS == 0:
            raise _BadRequest("EINVAL")
        wants_debug = mask & DEBUG_TREATMENTS and not client.filter_mask & DEBUG_TREATMENTS
        if wants_debug and client.uid not in (0, self.daemon_uid):
            raise _BadRequest("EPERM")
        client.filter_mask = mask
        return None

    def _setsignal(self, client, msg, resp):
        sig = scan_c_int(msg.get("signal"), 10)
        if sig is None:
            raise _BadRequest()
        if sig < 0 or sig in (9, 19) or sig >= 32:   # uncatchable or out of range
            raise _BadRequest("EINVAL")
        client.signal = sig
        return None

    def _nodelist(self, client, msg, resp):
        names = list(self.view.node_names())
        replies = []
        for i, name in enumerate(names):
            resp.set("node", name)
            resp.set("nodetype", self.view.node_type(name) or "unknown")
            resp.set("st", self.view.node_status(name) or "")
            resp.set("result", RESULT_OK if i == len(names) - 1 else RESULT_MORE)
            replies.append(resp.copy())
        return replies

    def _nodestatus(self, client, msg, resp):
        resp.set("st", self.view.node_status(self._node(msg)) or "")

    def _nodeweight(self, client, msg, resp):
        self._node(msg)
        resp.append("weight", str(DEFAULT_WEIGHT))

    def _nodesite(self, client, msg, resp):
        self._node(msg)
        resp.append("site", DEFAULT_SITE)

    def _nodetype(self, client, msg, resp):
        resp.set("nodetype", self.view.node_type(self._node(msg)))

    def _iflist(self, client, msg, resp):
        node = self._node(msg)
        links = list(self.view.link_names(node))
        if self.view.node_type(node) == "ping":
            if node not in links:
                raise _BadRequest("UhOh")
            resp.set("ifname", node)
            resp.set("st", self.view.link_status(node, node) or "")
            return None
        replies = []
        for i, link in enumerate(links):
            resp.set("ifname", link)
            resp.set("st", self.view.link_status(node, link) or "")
            resp.set("result", RESULT_OK if i == len(links) - 1 else RESULT_MORE)
            replies.append(resp.copy())
        return replies

    def _ifstatus(self, client, msg, resp):
        node = self._node(msg)
        link = msg.get("ifname")
        status = self.view.link_status(node, link) if isinstance(link, str) else None
        if status is None:
            raise _BadRequest("EINVAL")
        resp.set("st", status)

    def _clientstatus(self, client, msg, resp):
        raw_node, name = msg.get("node"), msg.get("cn")
        if name is None or msg.get("from_id") is None:
            raise _BadRequest("EINVAL")
        self._node(msg)
        resp.append("subt", CLIENT_STATUS_REPLY)
        if raw_node == self.view.local_node:
            online = self.find_client(client_id=name) is not None
        else:
            # The original asks an active remote node with a query-cstatus
            # message. Remote API clients are not supported, so a remote
            # client is never online.
            online = False
        resp.append("cs", "online" if online else "offline")

    def _numnodes(self, client, msg, resp):
        normal = sum(1 for n in self.view.node_names() if self.view.node_type(n) == "normal")
        resp.append("numnodes", str(normal))

    def _getparm(self, client, msg, resp):
        name = msg.get("pname")
        if name is None:
            raise _BadRequest("EINVAL")
        if name == "crm":   # the deprecated alias of "pacemaker"
            name = "pacemaker"
        value = self.view.parameter(name)
        if value is not None:
            resp.set("pvalue", value)

    def _getrsc(self, client, msg, resp):
        held = self.view.holding()
        if held is None:
            raise _BadRequest(NOT_MANAGED)
        resp.set("rsc_hold", held)

    def _getuuid(self, client, msg, resp):
        name = msg.get("queryname")
        if name is None:
            raise _BadRequest("no query node name found")
        uuid = self.view.node_uuid(name)
        if uuid is not None:
            resp.set("queryuuid", uuid, BINARY)

    def _getnodename(self, client, msg, resp):
        f = msg.field("queryuuid")
        if f is None or f.type != BINARY or len(f.value) != 16:
            raise _BadRequest("no query node name found")
        name = self.view.node_name_by_uuid(f.value)
        if name is not None:
            resp.set("queryname", name)

    def _rscmonitor(self, client, msg, resp):
        rows = list(self.view.monitors())
        replies = []
        for i, row in enumerate(rows):
            reply = resp.copy()
            for name, value in (("monitor", row.name), ("target", row.target), ("st", row.state.value),
                                ("failures", str(row.failures)), ("restarts", str(row.restarts)),
                                ("lastcheck", None if row.last_check is None else str(int(row.last_check))),
                                ("lastresult", row.last_result or None)):
                if value is not None:
                    reply.set(name, value)
            reply.set("result", RESULT_OK if i == len(rows) - 1 else RESULT_MORE)
            replies.append(reply)
        return replies or None

    def _set_sendqlen(self, client, msg, resp):
        return []   # acknowledged by nobody: the original never replies to it


# -- the socket ----------------------------------------------------------------
_UCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    return _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))


@dataclass(frozen=True)
class ApiLimits:
    """How much of the daemon a local user may hold through the socket (mode 0777).

    The original has no limit: idle connections from any user exhausted its descriptors
    until it could not run a resource script. Root is not limited (it can stop the
    daemon anyway); other users get ``per_user`` connections, all of them ``total``, and
    a connection must sign on within ``signon_timeout_s``."""
    total: int = 128
    per_user: int = 16
    signon_timeout_s: float = 10.0

    @classmethod
    def for_descriptors(cls, soft_limit: int) -> ApiLimits:
        """The defaults, with ``total`` at most a quarter of the descriptors: the rest is
        the daemon's own (media, scripts' pipes, logs)."""
        total = max(1, min(cls.total, soft_limit // 4))
        return cls(total=total, per_user=min(cls.per_user, total))


REFUSAL_LOG_INTERVAL_S = 60.0   # one line per user and reason in this time, with a count


class ApiServer:
    """A listening API socket; ``close()`` stops it and removes the socket file."""

    def __init__(self, path: str, handler: ApiHandler, msgfmt: str,
                 on_error: Callable[[str], None] | None, limits: ApiLimits = ApiLimits()) -> None:
        self.path = path
        self.handler = handler
        self.msgfmt = msgfmt
        self.on_error = on_error
        self.limits = limits
        self.server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()
        self._per_uid: dict[int, int] = {}       # open connections of non-root users
        self.refused = 0                          # connections closed at once for a limit
        self._quiet_until: dict[tuple[int, str], tuple[float, int]] = {}

    def connections_of(self, uid: int) -> int:
        return self._per_uid.get(uid, 0)

    def _limited(self, text: str, uid: int, reason: str) -> None:
        """Log ``text`` unless the same user and reason was logged within the interval;
        the next line says how many were left out."""
        now = time.monotonic()
        until, skipped = self._quiet_until.get((uid, reason), (0.0, 0))
        if now < until:
            self._quiet_until[(uid, reason)] = (until, skipped + 1)
            return
        more = f" ({skipped} more since the last report)" if skipped else ""
        self._quiet_until[(uid, reason)] = (now + REFUSAL_LOG_INTERVAL_S, 0)
        self._error(text + more)

    async def listen(self, mode: int) -> None:
        try:
            os.unlink(self.path)   # a socket left behind by a previous run
        except FileNotFoundError:
            pass
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)
        os.chmod(self.path, mode)   # any local process may connect; sign-on decides who may talk

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _error(self, text: str) -> None:
        if self.on_error is not None:
            self.on_error(text)

    def _admit(self, uid: int) -> str | None:
        """Why a new connection of ``uid`` is closed at once, or None (then it is counted)."""
        if uid == 0:
            return None
        if self._per_uid.get(uid, 0) >= self.limits.per_user:
            return f"too many API connections from uid {uid} (at most {self.limits.per_user})"
        if sum(self._per_uid.values()) >= self.limits.total:
            return f"too many API connections (at most {self.limits.total} from users other than root)"
        self._per_uid[uid] = self._per_uid.get(uid, 0) + 1
        return None

    def _release(self, uid: int) -> None:
        if uid != 0:
            self._per_uid[uid] -= 1
            if not self._per_uid[uid]:
                del self._per_uid[uid]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            client = ApiClient(*peer_credentials(writer.get_extra_info("socket")))
        except OSError:
            writer.close()
            return
        refusal = self._admit(client.peer_uid)
        if refusal is not None:
            self.refused += 1
            self._limited(refusal, client.peer_uid, "limit")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each connection's handler as a task
        self._connections.add(task)
        try:
            await self._converse(client, reader, writer)
        except (ConnectionError, WireError) as exc:
            # WireError here is a bad frame header: the stream cannot be resynchronised
            self._error(f"API client pid {client.peer_pid}: {exc}")
        except asyncio.TimeoutError:
            self._limited(f"API client pid {client.peer_pid} uid {client.peer_uid} did not sign on within "
                          f"{self.limits.signon_timeout_s:g} s: closed", client.peer_uid, "signon")
        except Exception as exc:  # one client's request must never cost the daemon anything more
            self._error(f"API client pid {client.peer_pid}: request failed: {type(exc).__name__}: {exc}")
        finally:
            self._connections.discard(task)
            self._release(client.peer_uid)
            self.handler.disconnect(client)
            writer.close()

    async def _converse(self, client: ApiClient, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        deframer = ApiDeframer()
        signon_by = time.monotonic() + self.limits.signon_timeout_s
        while client.remove_reason is None:
            if client.pid == 0:
                data = await asyncio.wait_for(reader.read(65536), max(0.0, signon_by - time.monotonic()))
            else:
                data = await reader.read(65536)
            if not data:
                break
            for body in deframer.feed(data):
                try:
                    msg = decode_unsigned(body)
                except WireError as exc:
                    self._error(f"API client pid {client.peer_pid}: undecodable message: {exc.reason}")
                    continue
                for reply in self.handler.handle(client, msg):
                    writer.write(api_frame(encode_api(reply, self.msgfmt)))
                await writer.drain()
                if client.remove_reason is not None:
                    break


async def start_api_server(path: str, handler: ApiHandler, *, msgfmt: str = "classic",
                           mode: int = 0o777,
                           on_error: Callable[[str], None] | None = None,
                           limits: ApiLimits = ApiLimits()) -> ApiServer:
    """Listen on ``path`` (replacing a stale socket) and serve ``handler``.

    The daemon calls this at comm-up: clients get "Can't connect" until then,
    as with the original. Replies are encoded in ``msgfmt`` (ha.cf), and
    ``on_error`` receives a line for the log about clients that misbehave.
    """
    server = ApiServer(path, handler, msgfmt, on_error, limits)
    await server.listen(mode)
    return server
