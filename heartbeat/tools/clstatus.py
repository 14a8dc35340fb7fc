"""``cl_status``: ask the local heartbeat daemon about the cluster over its API socket.

Output, error lines and exit codes are those of heartbeat 3.0.6's cl_status
(config-and-resources §13): 0 OK, 1 a "normal" failure (daemon stopped, node
or link down, parameter unset), 2/3 client joining/leaving, 11 bad usage,
12 no answer within the global timeout (5 s), 13 an unexpected failure.

The client half of the API protocol (the original's libhbclient) lives here
too, as ``ApiSession``, because cl_status is its only user in this package.

Environment: ``HA_APISOCK`` overrides the socket path (default
``/var/run/heartbeat/register``); ``HA_logfacility`` / ``HA_LOGFACILITY``
name a syslog facility to log errors to besides stderr; ``POSIXLY_CORRECT``
stops option parsing at the first operand, as with GNU getopt.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import syslog
import time

from heartbeat.core.apiwire import (CLIENT_STATUS_REPLY, DEFAULT_SOCKET, MONITOR_REQUEST, REQUEST, RESPONSE,
                               RESULT_MORE, RESULT_OK, scan_c_int)
from heartbeat.core.codec import ApiDeframer, WireError, api_frame, decode_unsigned, encode_api
from heartbeat.logformat import facility_number, format_line
from heartbeat.core.message import Message
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Iterator

SOCKET_ENV = "HA_APISOCK"
DEFAULT_TIMEOUT = 5.0            # seconds for the whole run, like the original's alarm(5)
DEFAULT_CLIENT_TIMEOUT_MS = 500  # clientstatus waits this long for the answer by default

OK, NORMAL_FAIL, PARAMETER_ERROR, TIMEOUT, UNKNOWN_ERROR = 0, 1, 11, 12, 13
# cl_status words a missing operand two ways, and misspells on purpose: kept as it prints them
NOT_ENOUGH, NO_ENOUGH = "Not enough parameters.", "No enough parameter."
BAD_NODE = "Error. May be due to incorrect node name"
# the complaint after a bad option: the sub-commands that take only -m word it without "code"
BAD_OPTION, BAD_SIMPLE_OPTION = "Error: getopt returnedcharacter code {}.", "Error: getopt returnedcharacter {}."

HELP = """\
Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link
hbstatus
\tIndicate if heartbeat is running on the local system.
\tOptions:
\t\t-v\tverbose: also add "listnodes -v" output
listnodes [<option>]
\tList the nodes in the cluster.
\tOptions:
\t\t-p\tlist only 'ping' type nodes
\t\t-n\tlist only 'normal' type nodes
\t\t-v\tverbose: also list type and status,
\t\t\tthen add "listhblinks -v" output
listhblinks <node-name>
\tList the network interfaces used as hearbeat links.
\tOptions:
\t\t-v\tverbose: list link status as well
nodestatus <node-name>
\tList the node status.
nodeweight <node-name>
\tList the node weight.
nodesite <node-name>
\tList the node site.
nodetype <node-name>
\tList the nodes of a given type.
rscstatus
\tShow the status of cluster resources.
hbparameter -p <parameter-name>
\tRetrieve the value of a cluster parameter.
\tAs for the valid parameter names, please refer to the man page.
rscmonitor
\tShow pyheartbeat's resource monitors (pyheartbeat.cf): state,
\tfailed checks, restarts within the window, last check.
"""


class Timeout(Exception):
    """The global deadline passed: cl_status exits 12 at once."""


class BadUsage(Exception):
    """A usage error, already told on stderr: the sub-command ends with exit code 11."""


# -- option parsing --------------------------------------------------------------
class GnuGetopt:
    """getopt(3) as glibc does it: options may follow operands (they are permuted
    to the front) unless POSIXLY_CORRECT is set; ``--`` ends the options.

    Iterating yields ``(option, argument)`` and ``("?", None)`` for an error,
    whose message is written to ``err`` when it is reached, as glibc prints it.
    ``args[0]`` plays argv[0]: cl_status passes the sub-command there, so the
    messages read ``nodestatus: invalid option -- 'x'``. ``operands`` is
    complete once iteration has ended.
    """

    def __init__(self, args: list[str], optstring: str, err: TextIO, *, posixly_correct: bool = False) -> None:
        self.prog = args[0]
        self.args = args[1:]
        self.optstring = optstring
        self.err = err
        self.posixly_correct = posixly_correct
        self.operands: list[str] = []

    def _takes_argument(self, ch: str) -> bool | None:
        i = self.optstring.find(ch)
        if ch == ":" or i < 0:
            return None
        return self.optstring[i + 1:i + 2] == ":"

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        i = 0
        while i < len(self.args):
            arg = self.args[i]
            i += 1
            if arg == "--":
                self.operands.extend(self.args[i:])
                return
            if not arg.startswith("-") or arg == "-":
                self.operands.append(arg)
                if self.posixly_correct:
                    self.operands.extend(self.args[i:])
                    return
                continue
            j = 1
            while j < len(arg):
                ch = arg[j]
                j += 1
                wants = self._takes_argument(ch)
                if wants is None:
                    print(f"{self.prog}: invalid option -- '{ch}'", file=self.err)
                    yield "?", None
                elif not wants:
                    yield ch, None
                elif j < len(arg):
                    yield ch, arg[j:]
                    break
                elif i < len(self.args):
                    i += 1
                    yield ch, self.args[i - 1]
                else:
                    print(f"{self.prog}: option requires an argument -- '{ch}'", file=self.err)
                    yield "?", None


# -- the client library ------------------------------------------------------------
@record
class NodeEntry:
    name: str
    status: str | None
    type: str | None


@record
class MonitorEntry:
    name: str
    target: str
    state: str
    failures: int
    restarts: int
    last_check: int | None   # wall time, seconds
    last_result: str


@record
class LinkEntry:
    name: str
    status: str | None


class ApiSession:
    """A casual API client: sign-on, queries, sign-off.

    Like the original library it keeps the reasons of the last failed call
    (``errmsg``), which cl_status prints after ``REASON:``.
    """

    def __init__(self, path: str, deadline: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.deadline = deadline
        self.clock = clock
        self.pid = os.getpid()
        self.client_id = str(self.pid)
        self.node = os.uname().nodename.lower()   # until the daemon tells its own name
        self.signed_on = False
        self.deadtime_ms = 0
        self.keepalive_ms = 0
        self.logfacility = -1
        self.hbversion: str | None = None
        self.pacemaker: str | None = None
        self._log: list[str] = []
        self._sock: socket.socket | None = None
        self._deframer = ApiDeframer()
        self._pending: list[bytes] = []

    # -- the reason buffer ---------------------------------------------------
    def clear_log(self) -> None:
        self._log.clear()

    def log(self, text: str) -> None:
        self._log.append(text)

    def errmsg(self) -> str:
        return "\n".join(self._log)

    # -- transport -----------------------------------------------------------
    def _connected(self) -> socket.socket:
        """The socket signon opened; before it and after close, talking fails as on a closed one."""
        if self._sock is None:
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        return self._sock

    def _remaining(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise Timeout()
        return left

    def _send(self, msg: Message, what: str = "Can't send message to IPC Channel") -> bool:
        try:
            sock = self._connected()
            sock.settimeout(self._remaining())
            sock.sendall(api_frame(encode_api(msg, "classic")))
        except socket.timeout:
            raise Timeout() from None
        except OSError as exc:
            self.log(f"{what}: {os.strerror(exc.errno or 0)}")
            return False
        return True

    def _receive(self, timeout: float | None = None) -> Message | None:
        """The next message; None at end of stream, or when ``timeout`` seconds
        pass first (the global deadline passing raises Timeout instead)."""
        while True:
            while not self._pending:
                remaining = self._remaining()
                limited = timeout is not None and timeout < remaining
                try:
                    sock = self._connected()
                    sock.settimeout(timeout if limited else remaining)
                    data = sock.recv(65536)
                except socket.timeout:
                    if limited:
                        return None
                    raise Timeout() from None
                except OSError:   # also a zero timeout finding nothing to read
                    return None
                if not data:
                    return None
                try:
                    self._pending.extend(self._deframer.feed(data))
                except WireError:
                    return None
            try:
                return decode_unsigned(self._pending.pop(0))
            except WireError as exc:
                self.log(f"read_api_msg: Cannot read reply from IPC channel: {exc.reason}")

    def _read_api_msg(self) -> Message | None:
        """The next API reply; other messages (cluster traffic) are passed over."""
        while True:
            msg = self._receive()
            if msg is None or msg.type == RESPONSE:
                return msg

    def _request(self, reqtype: str, **fields: str) -> Message:
        msg = Message.of(t=REQUEST, reqtype=reqtype, dest=self.node, pid=str(self.pid),
                         from_id=self.client_id)
        for name, value in fields.items():
            msg.append(name, value)
        return msg

    def _ready(self) -> bool:
        """How every query starts: forget the last call's reasons, and refuse
        (with a reason) before sign-on."""
        self.clear_log()
        if not self.signed_on:
            self.log("not signed on")
            return False
        return True

    def _start(self, reqtype: str, **fields: str) -> bool:
        """Begin a query: ready, then the request sent; False (reason logged) if not."""
        return self._ready() and self._send(self._request(reqtype, **fields))

    def _reply(self, reqtype: str, **fields: str) -> Message | None:
        """A single-reply query's reply; None when it could not be asked or read."""
        if not self._start(reqtype, **fields):
            return None
        return self._read_api_msg()

    def _ask(self, reqtype: str, value_field: str, **fields: str) -> str | None:
        """A single-reply query: the reply's ``value_field`` when the result is OK."""
        reply = self._reply(reqtype, **fields)
        if reply is None or reply.get("result") != RESULT_OK:
            return None
        value = reply.get(value_field)
        return value if isinstance(value, str) else None

    # -- sign-on and sign-off ------------------------------------------------
    def signon(self) -> bool:
        self.clear_log()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._remaining())
            sock.connect(self.path)
        except socket.timeout:
            sock.close()
            raise Timeout() from None
        except OSError:
            sock.close()
            self.log("hb_api_signon: Can't initiate connection to heartbeat")
            return False
        self._sock = sock
        request = self._request("signon", uid=str(os.geteuid()), gid=str(os.getegid()))
        if not self._send(request, "can't send message to IPC"):
            return False
        reply = self._read_api_msg()
        if reply is None or reply.get("result") is None:
            return False
        ok = reply.get("result") == RESULT_OK
        if not ok and reply.get("info") is not None:
            self.log(reply.get("info"))
        # a refusal still carries the timings: callers tell "refused" from "not running" by them
        deadtime = _scan_hex(reply.get("deadtime"))
        if deadtime is None:
            self.log("hb_api_signon: Can't get deadtime ")
            return False
        self.deadtime_ms = deadtime
        keepalive = _scan_hex(reply.get("keepalive"))
        if keepalive is None:
            self.log("hb_api_signon: Can't get keepalive time ")
            return False
        self.keepalive_ms = keepalive
        node = reply.get("node")
        if not isinstance(node, str):
            self.log("hb_api_signon: Can't get local node name")
            return False
        self.node = node
        facility = _scan_dec(reply.get("logfacility"))
        self.logfacility = -1 if facility is None else facility
        self.hbversion = reply.get("hbversion")
        self.pacemaker = reply.get("pacemaker")
        self.signed_on = ok
        return ok

    def signoff(self) -> None:
        if self.signed_on:
            self._send(self._request("signoff"), "can't send message to IPC")
        self.signed_on = False
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- queries ---------------------------------------------------------------
    def _walk(self, reqtype: str, accept: Callable[[Message], bool], explain: Callable[[Message], None],
              **fields: str) -> bool:
        """A multi-part query: feed its replies to ``accept`` up to the final one.

        True when all went well; else False, after ``explain`` was given the reply
        that ended the walk (an empty message when the stream ended) to log why,
        or without it when the query could not be sent."""
        if not self._start(reqtype, **fields):
            return False
        while True:
            reply = self._read_api_msg()
            if reply is None:
                reply = Message()
            result = reply.get("result")
            if result not in (RESULT_OK, RESULT_MORE) or not accept(reply):
                explain(reply)
                return False
            if result == RESULT_OK:
                return True

    def _log_info(self, reply: Message) -> None:
        """The daemon's own words on a failed query, when it gave any."""
        if reply.get("info") is not None:
            self.log(reply.get("info"))

    def nodelist(self) -> list[NodeEntry] | None:
        """Every node, in the order the original library walks them (last reply first)."""
        nodes: list[NodeEntry] = []

        def accept(reply: Message) -> bool:
            name = reply.get("node")
            if not isinstance(name, str):
                return False
            nodes.insert(0, NodeEntry(name, reply.get("st"), reply.get("nodetype")))
            return True

        def explain(failed: Message) -> None:
            result = failed.get("result")
            if not len(failed):
                self.log("General read_api_msg() failure")
            elif result is None:
                self.log("API reply missing result field.")
            elif result not in (RESULT_OK, RESULT_MORE):
                self.log(f"Unexpected API result value: [{result}]")
            else:
                self.log("No nodename in API reply")

        return nodes if self._walk("nodelist", accept, explain) else None

    def iflist(self, host: str) -> list[LinkEntry] | None:
        """The node's links, in the original library's order (last reply first, no duplicates)."""
        links: list[LinkEntry] = []

        def accept(reply: Message) -> bool:
            name = reply.get("ifname")
            if not isinstance(name, str):
                return False
            if all(link.name != name for link in links):
                links.insert(0, LinkEntry(name, reply.get("st")))
            return True

        return links if self._walk("iflist", accept, self._log_info, node=host) else None

    def node_status(self, host: str) -> str | None:
        return self._ask("nodestatus", "st", node=host)

    def node_type(self, host: str) -> str | None:
        return self._ask("nodetype", "nodetype", node=host)

    def node_site(self, host: str) -> str | None:
        return self._ask("nodesite", "site", node=host)

    def node_weight(self, host: str) -> int:
        weight = self._ask("nodeweight", "weight", node=host)
        return -1 if weight is None else (_scan_dec(weight) or 0)

    def if_status(self, host: str, link: str) -> str | None:
        return self._ask("ifstatus", "st", node=host, ifname=link)

    def parameter(self, name: str) -> str | None:
        # the sign-on reply already told these two
        told = {"hbversion": self.hbversion, "pacemaker": self.pacemaker}.get(name)
        if told is not None:
            self.clear_log()   # an answer like any other: the last call's reasons are forgotten
            return told
        return self._ask("getparm", "pvalue", pname=name)

    def resources(self) -> str | None:
        reply = self._reply("getrsc")
        if reply is None:
            return None
        if reply.get("result") == RESULT_OK and isinstance(reply.get("rsc_hold"), str):
            return reply.get("rsc_hold")
        self._log_info(reply)
        return None

    def monitors(self) -> list[MonitorEntry] | None:
        """pyheartbeat's resource monitors, in the daemon's order; None on failure."""
        rows: list[MonitorEntry] = []

        def accept(reply: Message) -> bool:
            name = reply.get("monitor")
            if not isinstance(name, str):
                # the final reply of a daemon without monitors names none
                return reply.get("result") == RESULT_OK
            def text(field: str) -> str:
                value = reply.get(field)
                return value if isinstance(value, str) else ""
            rows.append(MonitorEntry(name, text("target"), text("st"), _scan_dec(reply.get("failures")) or 0,
                                     _scan_dec(reply.get("restarts")) or 0, _scan_dec(reply.get("lastcheck")),
                                     text("lastresult")))
            return True

        def explain(failed: Message) -> None:
            if failed.get("info") is not None:
                self._log_info(failed)
            elif failed.get("result") not in (RESULT_OK, RESULT_MORE, None):
                self.log(f"Unexpected API result value: [{failed.get('result')}] "
                         "(a daemon without resource monitoring?)")

        return rows if self._walk(MONITOR_REQUEST, accept, explain) else None

    def client_status(self, host: str, client: str, timeout_ms: int) -> str | None:
        if not self._ready():
            return None
        if host == "":
            self.log("client status : bad nodename")
            return None
        if not self._send(self._request("clientstatus", node=host, cn=client)):
            return None
        # The answer may come later from another node, so wait at most
        # timeout_ms for a message that is (or carries) a respond-cstatus.
        end = self.clock() + timeout_ms / 1000.0 if timeout_ms >= 0 else None
        while True:
            wait = None if end is None else max(0.0, end - self.clock())
            msg = self._receive(wait)
            if msg is None:
                self.log("No timely response.")
                return None
            if CLIENT_STATUS_REPLY in (msg.type, msg.get("subt")):
                break
        status = msg.get("cs")
        if msg.get("result") == RESULT_OK and isinstance(status, str):
            return status
        self.log(f"received wrong type of msg: {os.strerror(0)}")
        return None


def _scan_hex(text) -> int | None:
    return scan_c_int(text, 16)


def _scan_dec(text) -> int | None:
    return scan_c_int(text, 10)


def _c_str(value: str | None) -> str:
    """What printf("%s") shows for a string that may be NULL."""
    return "(null)" if value is None else value


def _is_true_false(value: str | None) -> bool | None:
    """cluster-glue's boolean words; None for anything else."""
    if value is None:
        return None
    v = value.lower()
    if v in ("true", "on", "yes", "y", "1"):
        return True
    if v in ("false", "off", "no", "n", "0"):
        return False
    return None


# -- the command -------------------------------------------------------------------
class ClStatus:
    """One cl_status run: the sub-commands and their output."""

    # sub-command -> (option letters for getopt, needs a successful sign-on)
    COMMANDS: dict[str, tuple[str, bool]] = {
        "hbstatus": ("mv", False),
        "listnodes": ("mpnv", True),
        "nodestatus": ("m", True),
        "nodeweight": ("m", True),
        "nodesite": ("m", True),
        "nodetype": ("m", True),
        "listhblinks": ("mv", True),
        "hblinkstatus": ("m", True),
        "clientstatus": ("m", True),
        "rscstatus": ("m", True),
        "hbparameter": ("mp:", True),
        "rscmonitor": ("m", True),
        "test": ("", True),
    }

    def __init__(self, session: ApiSession, out: TextIO, err: TextIO, *,
                 environ: dict[str, str], clock: Callable[[], float] = time.time) -> None:
        self.hb = session
        self.out = out
        self.err = err
        self.environ = environ
        self.clock = clock
        self.human = False
        self._facility = self._syslog_facility()

    # -- output --------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def error(self, text: str) -> None:
        """An error line as the original's cl_log writes it to stderr (and syslog if asked)."""
        line = format_line("ERROR", text, when=self.clock(), pid=os.getpid(),
                           host=os.uname().nodename, entity="cl_status")
        print(line, file=self.err, flush=True)
        if self._facility >= 0:
            syslog.openlog("cl_status", syslog.LOG_PID, self._facility << 3)
            syslog.syslog(syslog.LOG_ERR, f"ERROR: {text}")

    def _syslog_facility(self) -> int:
        name = self.environ.get("HA_logfacility") or self.environ.get("HA_LOGFACILITY") or "none"
        try:
            return facility_number(name)
        except KeyError:
            return -1

    def reason(self) -> None:
        self.error(f"REASON: {self.hb.errmsg()}")

    def failed(self, text: str, rc: int = UNKNOWN_ERROR) -> int:
        """A query that failed: the error, the library's reasons, and the exit code."""
        self.error(text)
        self.reason()
        return rc

    def getopt(self, args: list[str], optstring: str) -> GnuGetopt:
        return GnuGetopt(args, optstring, self.err,
                         posixly_correct="POSIXLY_CORRECT" in self.environ)

    def options(self, args: list[str], optstring: str, complaint: str | None = BAD_OPTION,
                ) -> tuple[dict[str, str | None], list[str]]:
        """A sub-command's options and operands. -m turns on human output; the other
        options come back with their arguments (the last one given wins).

        A bad option, which getopt has told of, is also complained of in the
        sub-command's own words and ends it (BadUsage); with no ``complaint`` it
        is passed over, as hbstatus does."""
        opts = self.getopt(args, optstring)
        given: dict[str, str | None] = {}
        for ch, arg in opts:
            if ch == "m":
                self.human = True
            elif ch != "?":
                given[ch] = arg
            elif complaint is not None:
                self.error(complaint.format(ch))
                raise BadUsage()
        return given, opts.operands

    def operands(self, args: list[str], optstring: str, count: int = 0, missing: str = NO_ENOUGH) -> list[str]:
        """The operands of a sub-command whose only option is -m; fewer than
        ``count`` of them is a usage error, worded ``missing``."""
        _, operands = self.options(args, optstring, BAD_SIMPLE_OPTION)
        if len(operands) < count:
            print(missing, file=self.err)
            raise BadUsage()
        return operands

    # -- dispatch --------------------------------------------------------------
    def run(self, args: list[str]) -> int:
        """``args`` = argv without the program name; args[0] is the sub-command."""
        name = args[0]
        if name not in self.COMMANDS:
            self.error(f"{name}: invalid sub-command.")
            return PARAMETER_ERROR
        optstring, needs_signon = self.COMMANDS[name]
        try:
            if not self.hb.signon() and needs_signon:
                return self.failed("Cannot signon with heartbeat", NORMAL_FAIL)
            return getattr(self, f"cmd_{name}")(args, optstring)
        except BadUsage:
            return PARAMETER_ERROR
        finally:
            self.hb.signoff()

    # -- sub-commands ----------------------------------------------------------
    def cmd_hbstatus(self, args: list[str], optstring: str) -> int:
        # unknown options are reported by getopt and otherwise ignored, as in the original
        verbose = "v" in self.options(args, optstring, complaint=None)[0]
        if not self.hb.signed_on:
            reason = self.hb.errmsg()
            if self.hb.deadtime_ms == 0:
                self.say("Heartbeat is stopped on this machine.")
                rc = NORMAL_FAIL
            else:
                self.say("Heartbeat is apparently running on this machine, but refuses my connection")
                rc = OK
            if verbose and reason:
                self.say(f"({reason})")
            return rc
        if not verbose:
            self.say("Heartbeat is running on this machine.")
            return OK
        version = self.hb.parameter("hbversion")
        pacemaker, enabled = self.pacemaker_enabled()
        if self.human:
            self.say(f"Heartbeat version {version}" if version is not None
                     else "Heartbeat is running on this machine.")
            self.say("Resources controlled by Pacemaker." if enabled
                     else 'Resources controlled by "haresources"')
        else:
            self.say(f"version:\t{version if version is not None else 'unknown'}")
            self.say(f"managed by:\tpacemaker\t({_c_str(pacemaker)})" if enabled
                     else 'managed by:\t"haresources"')
        # The original then shows CCM membership when a CCM runs; v1 clusters have none.
        self.list_nodes(normal_only=False, ping_only=False, verbose=True)
        return OK

    def pacemaker_enabled(self) -> tuple[str | None, bool]:
        value = self.hb.parameter("pacemaker")
        if value is None:
            value = self.hb.parameter("crm")   # an older daemon's name for it
        flag = _is_true_false(value)
        # anything that is not a boolean word (e.g. "respawn") means Pacemaker runs
        return value, True if flag is None else flag

    def cmd_listnodes(self, args: list[str], optstring: str) -> int:
        given, _ = self.options(args, optstring)
        return self.list_nodes(normal_only="n" in given, ping_only="p" in given, verbose="v" in given)

    def list_nodes(self, *, normal_only: bool, ping_only: bool, verbose: bool) -> int:
        nodes = self.hb.nodelist()
        if nodes is None:
            return self.failed("Cannot start node walk.")
        if normal_only and ping_only:
            normal_only = ping_only = False
        if self.human:
            self.say("The nodes are as follow:")
        for node in nodes:
            if (normal_only or ping_only) and self._node_kind(node) != ("normal" if normal_only else "ping"):
                continue
            if verbose:
                status = node.status if node.status is not None else self.hb.node_status(node.name)
                self.say(f"\n{node.name}\t{_c_str(status)}\t(nodetype: {_c_str(self._node_kind(node))})")
                self.list_links(node.name, verbose=True)
            else:
                self.say(node.name)
        return OK

    def _node_kind(self, node: NodeEntry) -> str | None:
        """The node's type, asked of the daemon (at each use) when the node list did not carry it."""
        return node.type if node.type is not None else self.hb.node_type(node.name)

    def list_links(self, host: str, *, verbose: bool) -> int:
        links = self.hb.iflist(host)
        if links is None:
            return self.failed("Cannot start heartbeat link interface walk.")
        if self.human:
            self.say("\tthis node has the following heartbeat links:")
        for link in links:
            if verbose:
                status = link.status if link.status is not None else self.hb.if_status(host, link.name)
                self.say(f"\t{link.name}\t{_c_str(status)}")
            else:
                self.say(f"\t{link.name}")
        return OK

    def cmd_listhblinks(self, args: list[str], optstring: str) -> int:
        given, operands = self.options(args, optstring)
        if not operands:
            print(NO_ENOUGH, file=self.err)
            raise BadUsage()
        return self.list_links(operands[0], verbose="v" in given)

    def node_query(self, args: list[str], optstring: str, missing: str, lookup, unknown: str, human: str):
        """What the one-node queries share: -m, the node operand, the lookup and the
        answer; the value said. Each query keeps its own wording of the errors, as
        cl_status has them; an unknown node is a usage error."""
        node = self.operands(args, optstring, 1, missing)[0]
        value = lookup(node)
        if value is None:
            print(unknown, file=self.err)
            raise BadUsage()
        self.say(human.format(node=node, value=value) if self.human else str(value))
        return value

    def cmd_nodestatus(self, args: list[str], optstring: str) -> int:
        status = self.node_query(args, optstring, NOT_ENOUGH, self.hb.node_status, BAD_NODE,
                                 "The cluster node {node} is {value}")
        return OK if status in ("active", "up", "ping") else NORMAL_FAIL

    def cmd_nodeweight(self, args: list[str], optstring: str) -> int:
        def weight(node: str) -> int | None:
            value = self.hb.node_weight(node)
            return None if value == -1 else value
        self.node_query(args, optstring, NOT_ENOUGH, weight, "Error. Maybe due to incorrect node name.",
                        "The weight of the cluster node {node} is {value}")
        return OK

    def cmd_nodesite(self, args: list[str], optstring: str) -> int:
        self.node_query(args, optstring, NOT_ENOUGH, self.hb.node_site, BAD_NODE,
                        "The site of the cluster node {node} is {value}")
        return OK

    def cmd_nodetype(self, args: list[str], optstring: str) -> int:
        self.node_query(args, optstring, NO_ENOUGH, self.hb.node_type, BAD_NODE,
                        "The node {node}'s type: {value}")
        return OK

    def cmd_hblinkstatus(self, args: list[str], optstring: str) -> int:
        node, link = self.operands(args, optstring, 2)[:2]
        status = self.hb.if_status(node, link)
        if status is None:
            return self.failed("Cannot get heartbeat link status")
        self.say(f"The node {node}'s heartbeat link {link} is {status}" if self.human else status)
        return OK if status == "up" else NORMAL_FAIL

    def cmd_clientstatus(self, args: list[str], optstring: str) -> int:
        operands = self.operands(args, optstring, 2)
        node, client = operands[0], operands[1]
        timeout_ms = DEFAULT_CLIENT_TIMEOUT_MS
        if len(operands) > 2:
            timeout_ms = _scan_dec(operands[2]) or 0   # atoi: junk reads as 0
        status = self.hb.client_status(node, client, timeout_ms)
        if status is None:
            return self.failed(f"Cannot get heartbeat client {client}'s status")
        self.say(status)   # the same with or without -m
        return {"online": OK, "offline": NORMAL_FAIL, "join": 2, "leave": 3}.get(status, UNKNOWN_ERROR)

    def cmd_rscstatus(self, args: list[str], optstring: str) -> int:
        self.operands(args, optstring)
        if self.pacemaker_enabled()[1]:
            self.error("Cannot get cluster resource status of a pacemaker cluster; try crm_mon")
            return NORMAL_FAIL
        held = self.hb.resources()
        if held is None:
            return self.failed("Cannot get cluster resource status")
        self.say(f"This node is holding {held} resources." if self.human else held)
        return OK

    def cmd_rscmonitor(self, args: list[str], optstring: str) -> int:
        """One line per monitor: tab-separated name, state, failed checks, restarts within
        the window, last check, its result and the monitored resource; -m: sentences."""
        self.operands(args, optstring)
        rows = self.hb.monitors()
        if rows is None:
            return self.failed("Cannot get resource monitor status")
        if not rows and self.human:
            self.say("No resource monitors (none in pyheartbeat.cf, or resources not managed).")
        for r in rows:
            when = "-" if r.last_check is None else time.strftime("%Y/%m/%d_%H:%M:%S", time.localtime(r.last_check))
            if self.human:
                self.say(f"Resource monitor {r.name} ({r.target}): {r.state}, {r.failures} failed checks, "
                         f"{r.restarts} restarts within the window, last check {when}"
                         + (f": {r.last_result}" if r.last_result else ""))
            else:
                self.say("\t".join((r.name, r.state, str(r.failures), str(r.restarts), when,
                                    r.last_result or "-", r.target)))
        return OK

    def cmd_hbparameter(self, args: list[str], optstring: str) -> int:
        name = self.options(args, optstring)[0].get("p")
        if name is None:
            self.error("parameter name required")
            raise BadUsage()
        value = self.hb.parameter(name)
        if value is None:
            return self.failed(f"Cannot get parameter {name}'s value", NORMAL_FAIL)
        self.say(f"Heartbeat parameter {name}'s value: {value}" if self.human else value)
        return OK

    def cmd_test(self, args: list[str], optstring: str) -> int:
        """The original's undocumented self-test sub-command."""
        held = self.hb.resources()
        self.say(f"Dead time: {self.hb.deadtime_ms}\n keeplive time: {self.hb.keepalive_ms}\n"
                 f" mynodeid: {self.hb.node}\n rsc: {_c_str(held)}")
        return OK


def main(argv: list[str] | None = None, *, socket_path: str | None = None,
         timeout: float = DEFAULT_TIMEOUT, stdout: TextIO | None = None,
         stderr: TextIO | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = dict(os.environ) if environ is None else environ
    if len(argv) == 1 or (len(argv) == 2 and argv[1] == "-h"):
        out.write(HELP)
        return OK
    path = socket_path or env.get(SOCKET_ENV) or DEFAULT_SOCKET
    session = ApiSession(path, time.monotonic() + timeout)
    try:
        return ClStatus(session, out, err, environ=env).run(argv[1:])
    except Timeout:
        return TIMEOUT
    finally:
        session.close()
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
