"""The API server under a flood from another user: needs root, to become nobody in a child."""

import asyncio
import os
import shutil
import signal
import socket
import tempfile

from heartbeat.daemon.apiserver import ApiHandler, ApiLimits, AuthRule, start_api_server
from tests.unit.test_apiserver import FakeView, _exchange, request, signon_request


NOBODY = 65534


def _idle_connections_as_nobody(path: str, count: int, ready_w: int, stop_r: int) -> None:
    """In a forked child: become nobody, open ``count`` connections, say how many
    succeeded, hold them until told to stop."""
    try:
        signal.alarm(60)                  # the default action ends this child if anything hangs
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        held, opened = [], 0
        for _ in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)   # blocking: a full backlog waits
            try:
                s.connect(path)
                opened += 1
            except OSError:
                s.close()
                continue
            held.append(s)
        os.write(ready_w, str(opened).encode())
        os.read(stop_r, 1)
    finally:
        os._exit(0)


def test_idle_connections_of_one_user_cannot_exhaust_the_server(tmp_path):
    """Row 7: 1,000 idle connections from nobody are capped per user, closed when they
    do not sign on in time, and root still gets in."""
    async def scenario(tmp):
        path = os.path.join(tmp, "register")
        me = (os.getpid(), os.getuid(), os.getgid())
        handler = ApiHandler(FakeView(), {"anon": AuthRule(uids=frozenset({me[1]}))})
        errors = []
        limits = ApiLimits(total=40, per_user=8, signon_timeout_s=1.0)
        server = await start_api_server(path, handler, on_error=errors.append, limits=limits)
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        child = os.fork()
        if child == 0:
            _idle_connections_as_nobody(path, 1000, ready_w, stop_r)
        try:
            loop = asyncio.get_running_loop()
            opened = int(await asyncio.wait_for(loop.run_in_executor(None, os.read, ready_r, 16), 60))
            assert opened == 1000
            for _ in range(100):                              # bounded: until they are all handled
                await asyncio.sleep(0.05)
                if server.connections_of(NOBODY) <= limits.per_user and server.refused:
                    break
            assert server.connections_of(NOBODY) <= limits.per_user
            got, _tail = await _exchange(path, [signon_request(pid=me[0], uid=me[1], gid=me[2]),
                                                request("nodelist", pid=me[0]), request("signoff", pid=me[0])], 4)
            assert [m.get("result") for m in got] == ["OK", "ok/more", "ok/more", "OK"]
            for _ in range(100):                              # the sign-on timeout closes the rest
                await asyncio.sleep(0.05)
                if server.connections_of(NOBODY) == 0:
                    break
            assert server.connections_of(NOBODY) == 0
        finally:
            os.write(stop_w, b"x")
            os.waitpid(child, 0)
            for fd in (ready_r, ready_w, stop_r, stop_w):
                os.close(fd)
            await server.close()
        assert any("too many API connections from uid 65534" in e for e in errors)
        assert any("did not sign on within" in e for e in errors)
        assert len(errors) < 20                               # refusals are logged, not flooded

    tmp = tempfile.mkdtemp()
    try:
        os.chmod(tmp, 0o755)                                  # nobody must reach the socket
        asyncio.run(scenario(tmp))
    finally:
        shutil.rmtree(tmp)
