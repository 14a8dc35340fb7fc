"""Lay pyheartbeat's files out where heartbeat keeps its own, under a root.

``python3 -m heartbeat.install --root /`` installs in place of heartbeat-2.1.4/3.0.6;
``--root DIR`` stages the same tree under DIR (packaging, and the namespace tests,
which bind-mount a staged tree into each node).

Commands are small launchers that run a module of this package with the Python
that performs the install, so they work whatever PATH a script is run with.
Executable files shipped in the repository (rc.d/, resource.d/) get their
``#!`` line rewritten to the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent

# destination path -> "module:function" run by a generated launcher
LAUNCHERS: dict[str, str] = {
    "usr/libexec/heartbeat/heartbeat": "heartbeat.daemon:main",
    "usr/libexec/heartbeat/findif": "heartbeat.agents.findif:main",
    "usr/libexec/heartbeat/send_arp": "heartbeat.agents.sendarp:main",
    "usr/share/heartbeat/ResourceManager": "heartbeat.resourcemanager:main",
    "usr/share/heartbeat/mach_down": "heartbeat.machdown:main",
    "usr/share/heartbeat/req_resource": "heartbeat.reqresource:main",
    "usr/share/heartbeat/hb_standby": "heartbeat.standby:hb_standby_main",
    "usr/share/heartbeat/hb_takeover": "heartbeat.standby:hb_takeover_main",
    "etc/ha.d/harc": "heartbeat.harc:main",
    "etc/init.d/heartbeat": "heartbeat.initscript:main",
    "usr/bin/cl_status": "heartbeat.clstatus:main",
    "usr/share/heartbeat/hb2pcs": "heartbeat.hb2pcs.cli:main",
}

# repository directory -> destination directory; every regular file is copied,
# executables with their interpreter line rewritten
TREES: dict[str, str] = {
    "rc.d": "etc/ha.d/rc.d",
    "resource.d": "etc/ha.d/resource.d",
}

# single data files: source (relative to the repository) -> destination, mode
FILES: dict[str, tuple[str, int]] = {
    "heartbeat/shell/shellfuncs": ("etc/ha.d/shellfuncs", 0o644),
    "heartbeat/shell/heartbeat.service": ("lib/systemd/system/heartbeat.service", 0o644),
}

# compatibility names some 2.1.4 installs and admin habits rely on
SYMLINKS: dict[str, str] = {
    "usr/lib/heartbeat/heartbeat": "/usr/libexec/heartbeat/heartbeat",
    "usr/sbin/hb_standby": "/usr/share/heartbeat/hb_standby",
    "usr/sbin/hb_takeover": "/usr/share/heartbeat/hb_takeover",
}

# directories the daemon and the scripts expect, with their modes
DIRECTORIES: dict[str, int] = {
    "var/lib/heartbeat": 0o755,
    "var/lib/heartbeat/cores": 0o755,
    "etc/ha.d/conf": 0o755,
}


def launcher_text(target: str, python: str) -> str:
    module, func = target.split(":")
    return (f"#!{python}\n"
            f"import sys\n"
            f"from {module} import {func}\n"
            f"sys.exit({func}())\n")


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".pyhb-new")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _copy_executable(src: Path, dst: Path, python: str) -> None:
    data = src.read_bytes()
    if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
        data = f"#!{python}".encode() + b"\n" + data.split(b"\n", 1)[1]
    _write(dst, data, 0o755 if os.access(src, os.X_OK) else 0o644)


def install(root: Path, python: str = sys.executable, package_path: bool = False) -> list[Path]:
    """Install under ``root``; return the files written.

    ``package_path`` makes launchers import this checkout even when the
    package is not installed in ``python``'s site-packages (the tests use it).
    """
    written: list[Path] = []
    prefix = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" if package_path else ""
    for dest, target in LAUNCHERS.items():
        text = launcher_text(target, python)
        if prefix:
            first, rest = text.split("\n", 1)
            text = f"{first}\n{prefix}{rest}"
        _write(root / dest, text.encode(), 0o755)
        written.append(root / dest)
    for src_dir, dest_dir in TREES.items():
        for src in sorted((REPO / src_dir).iterdir()):
            if src.is_file() and not src.name.startswith("."):
                _copy_executable(src, root / dest_dir / src.name, python)
                written.append(root / dest_dir / src.name)
    for src, (dest, mode) in FILES.items():
        _write(root / dest, (REPO / src).read_bytes(), mode)
        written.append(root / dest)
    for dest, target in SYMLINKS.items():
        link = root / dest
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        written.append(link)
    for dest, mode in DIRECTORIES.items():
        (root / dest).mkdir(parents=True, exist_ok=True)
        os.chmod(root / dest, mode)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m heartbeat.install", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/", help="install under this directory (default /)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the launchers")
    parser.add_argument("--package-path", action="store_true",
                        help="make launchers import this checkout (for staging without pip install)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if root == Path("/") and shutil.which("dpkg") and os.path.exists("/var/lib/dpkg/info/heartbeat.list"):
        print("note: replacing files of the installed Debian heartbeat package", file=sys.stderr)
    for path in install(root, args.python, args.package_path):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
