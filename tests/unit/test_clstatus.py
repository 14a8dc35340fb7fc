"""cl_status end to end: the real asyncio API server with a fake view, over a Unix socket."""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from heartbeat.tools import clstatus
from heartbeat.daemon.apiserver import ApiHandler, AuthRule, start_api_server
from heartbeat.tools.clstatus import HELP, GnuGetopt, main
from tests.unit.test_apiserver import VERSION, FakeView

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ERROR_LINE = re.compile(r"^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ cl_status: \[\d+\]: ERROR: (.*)$")


class Daemon:
    """The API server running in a thread of its own, as the daemon would run it."""

    def __init__(self, path: str, view: FakeView, auth=None, msgfmt: str = "classic") -> None:
        self.path = path
        self.view = view
        auth = {"anon": AuthRule(uids=frozenset({os.geteuid()}))} if auth is None else auth
        self.handler = ApiHandler(view, auth)
        self.msgfmt = msgfmt
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Daemon:
        self.thread.start()
        start = start_api_server(self.path, self.handler, msgfmt=self.msgfmt)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(5)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def sockdir():
    with tempfile.TemporaryDirectory() as tmp:
        yield tmp


@pytest.fixture
def daemon(sockdir):
    with Daemon(os.path.join(sockdir, "register"), FakeView()) as d:
        yield d


def run(target, *args, timeout=5.0, environ=None):
    """cl_status against a Daemon (or a bare socket path): (exit code, stdout, stderr)."""
    path = target.path if isinstance(target, Daemon) else target
    out, err = io.StringIO(), io.StringIO()
    rc = main(["cl_status", *args], socket_path=path, timeout=timeout,
              stdout=out, stderr=err, environ=environ or {})
    if isinstance(target, Daemon):
        # Every run in this process signs on with the same pid: let the server
        # finish with this connection, or the next sign-on is a duplicate.
        for _ in range(500):
            if not target.handler.clients:
                break
            time.sleep(0.01)
    return rc, out.getvalue(), err.getvalue()


def errors(err: str) -> list[str]:
    """The texts of the cl_log error lines; other stderr lines verbatim."""
    lines = []
    for line in err.splitlines():
        m = ERROR_LINE.match(line)
        lines.append(m.group(1) if m else line)
    return lines


# -- without a daemon ------------------------------------------------------------------
def test_help_and_bad_sub_commands(sockdir):
    path = os.path.join(sockdir, "register")
    assert run(path) == (0, HELP, "")
    assert run(path, "-h") == (0, HELP, "")
    rc, out, err = run(path, "-h", "x")
    assert (rc, out, errors(err)) == (11, "", ["-h: invalid sub-command."])
    rc, out, err = run(path, "listnode")
    assert (rc, out, errors(err)) == (11, "", ["listnode: invalid sub-command."])
    assert ERROR_LINE.match(err.splitlines()[0])
    assert HELP.startswith("Usage: cl_status <sub-command> [<options>] [<parameters>]\n")


def test_stopped_daemon(sockdir):
    path = os.path.join(sockdir, "register")
    assert run(path, "hbstatus") == (1, "Heartbeat is stopped on this machine.\n", "")
    rc, out, err = run(path, "hbstatus", "-v")
    assert (rc, out) == (1, "Heartbeat is stopped on this machine.\n"
                            "(hb_api_signon: Can't initiate connection to heartbeat)\n")
    rc, out, err = run(path, "nodestatus")   # sign-on comes before argument checks
    assert (rc, out) == (1, "")
    assert errors(err) == ["Cannot signon with heartbeat",
                           "REASON: hb_api_signon: Can't initiate connection to heartbeat"]


def test_daemon_that_refuses_us(sockdir):
    with Daemon(os.path.join(sockdir, "register"), FakeView(), auth={"anon": AuthRule()}) as d:
        assert run(d, "hbstatus") == (
            0, "Heartbeat is apparently running on this machine, but refuses my connection\n", "")
        rc, out, _ = run(d, "hbstatus", "-v")
        assert out.endswith("refuses my connection\n(client failed authorization)\n")
        rc, out, err = run(d, "listnodes")
        assert (rc, errors(err)) == (1, ["Cannot signon with heartbeat", "REASON: client failed authorization"])


def test_timeout_when_the_daemon_never_answers(sockdir):
    path = os.path.join(sockdir, "register")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)   # connections queue up; nobody ever reads them
    try:
        assert run(path, "hbstatus", timeout=0.2) == (12, "", "")
        assert run(path, "listnodes", timeout=0.2) == (12, "", "")
    finally:
        listener.close()


# -- against the server ----------------------------------------------------------------
def test_hbstatus(daemon):
    assert run(daemon, "hbstatus") == (0, "Heartbeat is running on this machine.\n", "")
    assert daemon.handler.clients == []   # cl_status signed off


LISTNODES_V = (
    "\n192.0.2.1\tping\t(nodetype: ping)\n\t192.0.2.1\tup\n"
    "\nnode2\tdead\t(nodetype: normal)\n\teth1\tup\n\teth0\tdead\n"
    "\nnode1\tactive\t(nodetype: normal)\n\teth1\tup\n\teth0\tup\n")


def test_hbstatus_verbose(daemon):
    assert run(daemon, "hbstatus", "-v") == (
        0, f'version:\t{VERSION}\nmanaged by:\t"haresources"\n' + LISTNODES_V, "")
    rc, out, _ = run(daemon, "hbstatus", "-v", "-m")
    assert out.startswith(f'Heartbeat version {VERSION}\nResources controlled by "haresources"\n'
                          "The nodes are as follow:\n\n192.0.2.1\tping\t(nodetype: ping)\n"
                          "\tthis node has the following heartbeat links:\n\t192.0.2.1\tup\n")
    daemon.view.params["pacemaker"] = "respawn"
    rc, out, _ = run(daemon, "hbstatus", "-v")
    assert out.startswith(f"version:\t{VERSION}\nmanaged by:\tpacemaker\t(respawn)\n")


def test_listnodes(daemon):
    # the original library walks the replies last first
    assert run(daemon, "listnodes") == (0, "192.0.2.1\nnode2\nnode1\n", "")
    assert run(daemon, "listnodes", "-m")[1] == "The nodes are as follow:\n192.0.2.1\nnode2\nnode1\n"
    assert run(daemon, "listnodes", "-p")[1] == "192.0.2.1\n"
    assert run(daemon, "listnodes", "-n")[1] == "node2\nnode1\n"
    assert run(daemon, "listnodes", "-np")[1] == "192.0.2.1\nnode2\nnode1\n"
    assert run(daemon, "listnodes", "-v") == (0, LISTNODES_V, "")
    rc, out, err = run(daemon, "listnodes", "-m", "-x")
    assert (rc, out) == (11, "")
    assert errors(err) == ["listnodes: invalid option -- 'x'", "Error: getopt returnedcharacter code ?."]


@pytest.mark.parametrize("args, rc, out", [
    (["nodestatus", "node1"], 0, "active\n"),
    (["nodestatus", "node2"], 1, "dead\n"),
    (["nodestatus", "192.0.2.1"], 0, "ping\n"),
    (["nodestatus", "-m", "node2"], 1, "The cluster node node2 is dead\n"),
    (["nodestatus", "node2", "-m"], 1, "The cluster node node2 is dead\n"),
    (["nodetype", "192.0.2.1"], 0, "ping\n"),
    (["nodetype", "-m", "node1"], 0, "The node node1's type: normal\n"),
    (["nodeweight", "node1"], 0, "100\n"),
    (["nodeweight", "-m", "node1"], 0, "The weight of the cluster node node1 is 100\n"),
    (["nodesite", "node1"], 0, "\n"),
    (["nodesite", "-m", "node1"], 0, "The site of the cluster node node1 is \n"),
    (["listhblinks", "node2"], 0, "\teth1\n\teth0\n"),
    (["listhblinks", "-v", "node2"], 0, "\teth1\tup\n\teth0\tdead\n"),
    (["listhblinks", "-m", "node2"], 0, "\tthis node has the following heartbeat links:\n\teth1\n\teth0\n"),
    (["hblinkstatus", "node2", "eth0"], 1, "dead\n"),
    (["hblinkstatus", "node2", "eth1"], 0, "up\n"),
    (["hblinkstatus", "-m", "node2", "eth1"], 0, "The node node2's heartbeat link eth1 is up\n"),
    (["clientstatus", "node1", "ipfail"], 1, "offline\n"),
    (["clientstatus", "-m", "node2", "ipfail"], 1, "offline\n"),
    (["clientstatus", "node1", str(os.getpid())], 0, "online\n"),   # cl_status itself, signed on
    (["rscstatus"], 0, "all\n"),
    (["rscstatus", "-m"], 0, "This node is holding all resources.\n"),
    (["hbparameter", "-p", "keepalive"], 0, "1\n"),
    (["hbparameter", "-pdeadtime"], 0, "10\n"),
    (["hbparameter", "-m", "-p", "auto_failback"], 0, "Heartbeat parameter auto_failback's value: on\n"),
    (["hbparameter", "-p", "hbversion"], 0, VERSION + "\n"),
    (["test"], 0, " ".join(["Dead time: 10000\n", "keeplive time: 1000\n", "mynodeid: node1\n", "rsc: all\n"])),
])
def test_queries(daemon, args, rc, out):
    assert run(daemon, *args) == (rc, out, "")


@pytest.mark.parametrize("args, err", [
    (["nodestatus"], ["Not enough parameters."]),
    (["nodestatus", "nosuch"], ["Error. May be due to incorrect node name"]),
    (["nodestatus", "-x", "node1"], ["nodestatus: invalid option -- 'x'", "Error: getopt returnedcharacter ?."]),
    (["nodeweight"], ["Not enough parameters."]),
    (["nodeweight", "nosuch"], ["Error. Maybe due to incorrect node name."]),
    (["nodesite"], ["Not enough parameters."]),
    (["nodesite", "nosuch"], ["Error. May be due to incorrect node name"]),
    (["nodetype"], ["No enough parameter."]),
    (["nodetype", "nosuch"], ["Error. May be due to incorrect node name"]),
    (["listhblinks"], ["No enough parameter."]),
    (["hblinkstatus", "node1"], ["No enough parameter."]),
    (["clientstatus", "node1"], ["No enough parameter."]),
    (["hbparameter"], ["parameter name required"]),
    (["hbparameter", "-p"], ["hbparameter: option requires an argument -- 'p'",
                             "Error: getopt returnedcharacter code ?."]),
    (["rscstatus", "-v"], ["rscstatus: invalid option -- 'v'", "Error: getopt returnedcharacter ?."]),
])
def test_usage_errors(daemon, args, err):
    rc, out, stderr = run(daemon, *args)
    assert (rc, out, errors(stderr)) == (11, "", err)


@pytest.mark.parametrize("args, rc, err", [
    (["listhblinks", "nosuch"], 13, ["Cannot start heartbeat link interface walk.", "REASON: EINVAL"]),
    (["hblinkstatus", "node1", "eth9"], 13, ["Cannot get heartbeat link status", "REASON: "]),
    (["clientstatus", "nosuch", "x", "50"], 13, ["Cannot get heartbeat client x's status",
                                                  "REASON: No timely response."]),
    (["hbparameter", "-p", "nosuch"], 1, ["Cannot get parameter nosuch's value", "REASON: "]),
])
def test_query_failures(daemon, args, rc, err):
    result = run(daemon, *args)
    assert (result[0], result[1], errors(result[2])) == (rc, "", err)


def test_rscstatus_without_resource_management_or_with_pacemaker(daemon):
    daemon.view.held = None
    rc, out, err = run(daemon, "rscstatus")
    assert (rc, out, errors(err)) == (13, "", [
        "Cannot get cluster resource status",
        "REASON: Resource is managed by crm. Use crm tool to query resource"])
    daemon.view.params["pacemaker"] = "on"
    rc, out, err = run(daemon, "rscstatus")
    assert (rc, errors(err)) == (1, ["Cannot get cluster resource status of a pacemaker cluster; try crm_mon"])


def test_transition_and_hbstatus_options_are_lenient(daemon):
    daemon.view.held = "transition"
    assert run(daemon, "rscstatus")[:2] == (0, "transition\n")
    rc, out, err = run(daemon, "hbstatus", "-z")   # reported, then ignored
    assert (rc, out, err) == (0, "Heartbeat is running on this machine.\n", "hbstatus: invalid option -- 'z'\n")


def test_netstring_replies_and_the_socket_env_var(sockdir):
    path = os.path.join(sockdir, "register")
    with Daemon(path, FakeView(), msgfmt="netstring"):
        out, err = io.StringIO(), io.StringIO()
        rc = main(["cl_status", "nodestatus", "node1"], stdout=out, stderr=err,
                  environ={clstatus.SOCKET_ENV: path})
        assert (rc, out.getvalue(), err.getvalue()) == (0, "active\n", "")


def test_posixly_correct_stops_at_the_first_operand(daemon):
    rc, out, err = run(daemon, "nodestatus", "node2", "-m", environ={"POSIXLY_CORRECT": "1"})
    assert (rc, out) == (1, "dead\n")


def test_gnu_getopt_permutes_and_honours_double_dash():
    err = io.StringIO()
    opts = GnuGetopt(["hbparameter", "x", "-mp", "name", "--", "-v"], "mp:", err)
    assert list(opts) == [("m", None), ("p", "name")]
    assert opts.operands == ["x", "-v"]
    opts = GnuGetopt(["listnodes", "-", "-:"], "mpnv", err)
    assert list(opts) == [("?", None)] and opts.operands == ["-"]
    assert err.getvalue() == "listnodes: invalid option -- ':'\n"


def test_command_line_exit_code_and_output():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HA_APISOCK=os.path.join(tmp, "register"), PYTHONPATH=REPO)
        done = subprocess.run([sys.executable, "-m", "heartbeat.tools.clstatus", "hbstatus"], env=env,
                              capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (1, "Heartbeat is stopped on this machine.\n")
