"""Our own Python programs run in a forked copy of the caller instead of a fresh interpreter.

A failover is a chain of programs (mach_down, ResourceManager, the agents), and a
fresh interpreter costs each of them tens of milliseconds of CPU before its first
line runs. When the program to run is one of our launchers, as installed and
unmodified, the caller forks and the child calls the launcher's entry point
itself: the child is a process of its own (its own pid in its log lines), with
the program's arguments, environment, standard streams, exit status and no other
open files, as the program would have; only the interpreter start is skipped.

A launcher counts as ours when it is run by this very interpreter (``-S`` allowed) and its code
is nothing but the shape our launchers have: a one-line docstring, ``import
sys``, a ``sys.path`` line naming the directory this package is imported from,
``from heartbeat... import NAME`` lines and a last line ``sys.exit(F())`` or
``exit_now(F())``. Anything else (an admin's own script, one that replaces ours,
a shell or LSB script, ours edited by hand) runs as a program, as before.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from importlib import import_module

from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_LAUNCHER = 4096  # bytes; ours are a few hundred
# the heartbeat package's directory, and where it is imported from (this file is
# heartbeat/resources/ownprograms.py)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_ROOT = os.path.dirname(PACKAGE_DIR)

_DOCSTRING = re.compile(r'"""[^"\\]*"""')
_PATH_LINE = re.compile(r"(?:import sys; )?sys\.path\.(?:insert\(0, |append\()(?P<q>['\"])(?P<path>[^'\"\\]+)(?P=q)\)")
_IMPORT = re.compile(r"from (?P<module>heartbeat(?:\.\w+)+) import (?P<name>\w+)")
_CALL = re.compile(r"(?P<outer>sys\.exit|exit_now)\((?P<name>\w+)\(\)\)")


@record
class EntryPoint:
    module: str
    function: str


# interpreter options that change only where modules come from, which the path line settles
PATH_OPTIONS = {"-S", "-s"}


def _interpreter(first_line: str) -> str | None:
    words = first_line[2:].split() if first_line.startswith("#!") else []
    return words[0] if words and set(words[1:]) <= PATH_OPTIONS else None


def entry_point(path: str) -> EntryPoint | None:
    """What to call for the launcher at ``path``, or None if it must run as a program."""
    lines = _launcher_lines(path)
    if lines is None:
        return None
    body = _launcher_body(lines[1:])
    if body is None:
        return None
    imported, call = body
    if call is None or call["name"] not in imported:
        return None
    if call["outer"] == "exit_now" and imported.get("exit_now") != "heartbeat.resources.agents.ocf":
        return None
    return EntryPoint(imported[call["name"]], call["name"])


def _launcher_lines(path: str) -> list[str] | None:
    """The stripped lines of a small ASCII file run by this very interpreter, else None."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_LAUNCHER + 1)
        text = data.decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.strip() for line in text.splitlines()]
    if len(data) > MAX_LAUNCHER or not lines:
        return None
    interpreter = _interpreter(lines[0])
    if interpreter is None or os.path.realpath(interpreter) != os.path.realpath(sys.executable):
        return None
    return lines


def _launcher_body(lines: list[str]) -> tuple[dict[str, str], re.Match[str] | None] | None:
    """The names the lines after the #! import (name -> module) and their last-line call,
    or None as soon as a line is not of our launchers' shape."""
    imported: dict[str, str] = {}
    call = None
    for line in lines:
        if call is not None:
            if line:
                return None  # nothing may follow the call
            continue
        if not line or line == "import sys" or _DOCSTRING.fullmatch(line):
            continue
        path_line = _PATH_LINE.fullmatch(line)
        if path_line:
            if os.path.realpath(path_line["path"]) != os.path.realpath(PACKAGE_ROOT):
                return None  # it would import another copy of the package
            continue
        found = _IMPORT.fullmatch(line)
        if found:
            imported[found["name"]] = found["module"]
            continue
        call = _CALL.fullmatch(line)
        if call is None:
            return None
    return imported, call


def shipped_path(relative: str, package: str = PACKAGE_DIR, root: str = PACKAGE_ROOT) -> str | None:
    """Where one of the files we ship (``rc.d/status``, ``data/shellfuncs``) is: inside the
    package once built (wheel, RPM), else at the top of the source tree (a checkout keeps
    rc.d/ and resource.d/ there); None if neither has it."""
    for base in (package, root):
        path = os.path.join(base, relative)
        if os.path.exists(path):
            return path
    return None


def same_as_shipped(path: str, relative: str) -> bool:
    """Whether the file at ``path`` is, byte for byte, the one we ship as ``relative``:
    an admin's edit or replacement is not ours, whatever its name."""
    shipped = shipped_path(relative)
    if shipped is None:
        return False
    try:
        with open(shipped, "rb") as f:
            ours = f.read()
        with open(path, "rb") as f:
            return f.read(len(ours) + 1) == ours  # one byte more: a longer file differs
    except OSError:
        return False


def _exit_code(code: object) -> int:
    """What the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _text_stream(fd: int, like, mode: str, errors: str | None = None, line_buffering: bool = False):
    """A fresh stream on ``fd`` as an interpreter starts with: whatever the caller had made of
    its own (a capture, a replaced object) stays the caller's."""
    encoding = getattr(like, "encoding", None) or "utf-8"
    return open(fd, mode, buffering=1 if line_buffering or os.isatty(fd) else -1, encoding=encoding,
                errors=errors or getattr(like, "errors", None) or "strict", closefd=False)


def _fresh_signals() -> None:
    """Signal dispositions as an exec and an interpreter start leave them: handlers the
    caller installed (the daemon's event loop has some) back to the default, ignored
    signals still ignored, and the interpreter's own SIGINT, SIGPIPE and SIGXFSZ."""
    if hasattr(signal, "set_wakeup_fd"):
        signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        if callable(signal.getsignal(sig)):
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _name_process(path: str) -> None:
    """The command name (ps, top, pidof) the kernel gives a program started from ``path``."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(os.path.basename(path)[:15])
    except OSError:
        pass


def _child(entry: EntryPoint, argv: list[str], env: Mapping[str, str], stdin: int | None, stdout: int | None,
           stderr: int | None) -> None:
    code: object = 1
    try:
        for fd, target in ((0, stdin), (1, stdout), (2, stderr)):
            if target is not None:
                os.dup2(target, fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _fresh_signals()
        _name_process(argv[0])
        sys.stdout = _text_stream(1, sys.__stdout__, "w")
        sys.stderr = _text_stream(2, sys.__stderr__, "w", errors="backslashreplace", line_buffering=True)
        sys.argv = list(argv)
        os.environ.clear()
        os.environ.update(env)
        code = getattr(import_module(entry.module), entry.function)()
    except SystemExit as e:
        code = e.code
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        status = _exit_code(code)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


def _preload(entry: EntryPoint) -> None:
    """Import the program's module here, before the fork: the next program of the same
    module this process starts (an agent's start after its status, in a takeover) finds
    it loaded instead of importing it again. A module that fails to import is left to
    the child, which reports it as an interpreter would."""
    try:
        import_module(entry.module)
    except Exception:
        pass


def start(argv: list[str], env: Mapping[str, str], *, stdin: int | None = None, stdout: int | None = None,
          stderr: int | None = None) -> int | None:
    """Fork a child running ``argv`` in-process if ``argv[0]`` is one of our launchers;
    its pid, or None when it must run as a program. ``stdin``/``stdout``/``stderr``:
    descriptors for the child's streams (default: ours). Call it from the main thread."""
    entry = entry_point(argv[0]) if os.access(argv[0], os.X_OK) else None
    if entry is None:
        return None
    _preload(entry)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write our buffered output once more
    pid = os.fork()
    if pid == 0:
        _child(entry, argv, env, stdin, stdout, stderr)
    return pid


def wait(pid: int) -> int:
    """The child's exit status as ``subprocess`` reports it: negative for a signal."""
    while True:
        try:
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except InterruptedError:
            continue


def run(argv: list[str], env: Mapping[str, str], *, capture: bool = False,
        stderr: int | None = None) -> tuple[int, bytes] | None:
    """``subprocess.run`` for one of our launchers: (exit status as subprocess reports it,
    the child's stdout if ``capture``), or None when ``argv[0]`` must run as a program."""
    read, write = os.pipe() if capture else (None, None)
    try:
        pid = start(argv, env, stdout=write, stderr=stderr)
    finally:
        if write is not None:
            os.close(write)
    if pid is None:
        if read is not None:
            os.close(read)
        return None
    output = b""
    if read is not None:
        with os.fdopen(read, "rb") as f:
            output = f.read()
    return wait(pid), output
