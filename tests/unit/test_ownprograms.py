"""Our launchers run in a forked child: which files count as ours, and what the child sees."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from heartbeat.resources import ownprograms
from heartbeat.tools.install import LAUNCHERS, REPO, launcher_text
from heartbeat.resources.ownprograms import PACKAGE_ROOT, EntryPoint

PATH_LINE = f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r})\n"


def write(tmp_path: Path, text: str, name: str = "prog") -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def with_shebang(source: Path, python: str = sys.executable) -> str:
    return f"#!{python}\n" + source.read_text().split("\n", 1)[1]


@pytest.mark.parametrize("target", sorted(set(LAUNCHERS.values())))
def test_every_launcher_as_installed_is_ours(tmp_path, target):
    module, function = target.split(":")
    found = ownprograms.entry_point(write(tmp_path, launcher_text(target, sys.executable)))
    assert found == EntryPoint(module, function)


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "resource.d").iterdir()))
def test_every_agent_as_installed_is_ours_with_or_without_a_path_line(tmp_path, script):
    text = with_shebang(REPO / "resource.d" / script)
    found = ownprograms.entry_point(write(tmp_path, text))
    assert found is not None
    assert found.module.startswith("heartbeat.resources.agents.") and found.function == "legacy_main"
    first, rest = text.split("\n", 1)
    assert ownprograms.entry_point(write(tmp_path, f"{first} -S\n{PATH_LINE}{rest}", "with-path")) == found


IPADDR = with_shebang(REPO / "resource.d" / "IPaddr")


@pytest.mark.parametrize("text", [
    IPADDR.replace(sys.executable, "/usr/bin/python3.9"),                            # another interpreter
    IPADDR.replace(sys.executable, f"{sys.executable} -E"),                          # other options
    IPADDR.replace("exit_now(legacy_main())", "import os\nexit_now(legacy_main())"),  # edited by hand
    IPADDR + "print('after')\n",                                                     # code after the call
    IPADDR.replace("exit_now(legacy_main())", "exit_now(legacy_main(), 1)"),
    IPADDR.replace("from heartbeat.resources.agents.ocf import exit_now", "from mylib import exit_now"),
    IPADDR.replace("\nfrom heartbeat", "\nimport sys; sys.path.insert(0, '/srv/other')\nfrom heartbeat", 1),
    IPADDR.replace("exit_now(legacy_main())", "exit_now(undefined())"),
    IPADDR.replace('"""', '"""x\n', 1),                                             # a docstring of many lines
    "#!/bin/sh\nexec /usr/sbin/IPaddr \"$@\"\n",
    IPADDR + "#" * ownprograms.MAX_LAUNCHER,
    "",
])
def test_anything_else_runs_as_a_program(tmp_path, text):
    assert ownprograms.entry_point(write(tmp_path, text)) is None


def test_a_binary_or_missing_file_runs_as_a_program(tmp_path):
    path = tmp_path / "binary"
    path.write_bytes(b"#!" + sys.executable.encode() + b"\n\xff\xfe")
    assert ownprograms.entry_point(str(path)) is None
    assert ownprograms.entry_point(str(tmp_path / "missing")) is None


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """A launcher path whose entry point is the probe module (not a heartbeat one, so patched in)."""
    path = write(tmp_path, "#!/bin/sh\n")
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setattr(ownprograms, "entry_point",
                        lambda p: EntryPoint("tests.unit.ownprogram_probe", "main") if p == path else None)
    return path


def test_the_child_has_the_programs_argv_environment_streams_and_status_and_no_other_files(probe, tmp_path):
    err = os.open(tmp_path / "stderr", os.O_WRONLY | os.O_CREAT)
    (tmp_path / "stdin").write_text("input")
    stdin = os.open(tmp_path / "stdin", os.O_RDONLY)
    stdout = os.open(tmp_path / "stdout", os.O_WRONLY | os.O_CREAT)
    os.environ["PROBE_PARENT_ONLY"] = "1"
    # handlers of ours (the daemon's event loop installs some) are not the program's; ignored stays ignored
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)}
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, lambda *_: None)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        pid = ownprograms.start([probe, "a b", "start"], {"PROBE": "x", "PROBE_RC": "7"}, stdin=stdin,
                                stdout=stdout, stderr=err)
        status = ownprograms.wait(pid)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        del os.environ["PROBE_PARENT_ONLY"]
        for fd in (err, stdin, stdout):
            os.close(fd)
    out = (tmp_path / "stdout").read_text()
    seen = json.loads(out)
    assert status == 7
    assert seen["argv"] == [probe, "a b", "start"] and seen["env"] == "x" and not seen["other_env"]
    assert seen["pid"] != os.getpid() and seen["ppid"] == os.getpid()
    assert seen["fds"] == [0, 1, 2, 3]  # 3: the listing's own
    assert seen["signals"] == [True] * 5
    assert (seen["comm"], seen["stdin"]) == ("prog", "input")
    assert (tmp_path / "stderr").read_text() == "to stderr\n"


@pytest.mark.parametrize("function, status, stderr", [("exits_with_text", 1, "failed: text\n"),
                                                      ("raises", 1, "RuntimeError: boom")])
def test_exits_and_exceptions_end_the_child_as_they_end_an_interpreter(monkeypatch, tmp_path, function, status, stderr):
    path = write(tmp_path, "#!/bin/sh\n")
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setattr(ownprograms, "entry_point", lambda p: EntryPoint("tests.unit.ownprogram_probe", function))
    err = os.open(tmp_path / "stderr", os.O_WRONLY | os.O_CREAT)
    try:
        assert ownprograms.run([path], {}, stderr=err) == (status, b"")
    finally:
        os.close(err)
    assert stderr in (tmp_path / "stderr").read_text()


def test_a_program_that_is_not_ours_is_left_to_the_caller(tmp_path):
    assert ownprograms.run([write(tmp_path, "#!/bin/sh\necho hi\n")], {}, capture=True) is None
