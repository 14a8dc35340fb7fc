"""Lay pyheartbeat's files out where heartbeat keeps its own, under a root.

``python3 -m heartbeat.tools.install --root /`` (or the ``pyheartbeat-install`` command)
installs in place of heartbeat-2.1.4/3.0.6; ``--root DIR`` stages the same tree
under DIR (packaging, and the namespace tests, which bind-mount a staged tree into
each node); ``--el`` adds what 2.1.4's RPM had on Red Hat-family hosts.

Everything comes from the installed package (its data files: rc.d/, resource.d/,
data/), never from a checkout: root must not run code that whoever owns a
source tree can change. rc.d/ and resource.d/ live at the top of the source
tree, beside the package; the build copies them into it (setup.py), so
``shipped_dir`` finds them inside an installed package and beside it in a
checkout. Commands are small launchers that run a module of this
package with the Python that performs the install, so they work whatever PATH a
script is run with; the Python scripts among the data files get their ``#!``
line rewritten to the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from heartbeat.resources.ownprograms import shipped_path

PACKAGE = Path(__file__).resolve().parent.parent   # heartbeat/, this file being heartbeat/tools/install.py
REPO = PACKAGE.parent   # where the package is imported from: the checkout, in the tests

# destination path -> "module:function" run by a generated launcher
LAUNCHERS: dict[str, str] = {
    "usr/libexec/heartbeat/heartbeat": "heartbeat.daemon.command:main",
    "usr/libexec/heartbeat/findif": "heartbeat.resources.agents.findif:main",
    "usr/libexec/heartbeat/send_arp": "heartbeat.resources.agents.sendarp:main",
    "usr/share/heartbeat/ResourceManager": "heartbeat.resources.resourcemanager:main",
    "usr/share/heartbeat/mach_down": "heartbeat.resources.machdown:main",
    "usr/share/heartbeat/req_resource": "heartbeat.resources.reqresource:main",
    "usr/share/heartbeat/hb_standby": "heartbeat.resources.standby:hb_standby_main",
    "usr/share/heartbeat/hb_takeover": "heartbeat.resources.standby:hb_takeover_main",
    "etc/ha.d/harc": "heartbeat.resources.harc:main",
    "etc/init.d/heartbeat": "heartbeat.tools.initscript:main",
    "usr/bin/cl_status": "heartbeat.tools.clstatus:main",
    "usr/sbin/hb2pcs": "heartbeat.tools.hb2pcs.cli:main",
}

# resource.d/ name -> ("module:function", its usage): the agents' launchers, which
# ResourceManager runs. They are files of the source tree (the build ships resource.d/
# like rc.d/), written from this table by ``--write-resource-d``; a unit test keeps the
# two equal. They end in exit_now, not sys.exit: a failover waits for each agent's exit,
# and the interpreter's teardown would only add to it.
RESOURCE_D: dict[str, tuple[str, str]] = {
    "Delay": ("heartbeat.resources.agents.delay:legacy_main", "Delay [startdelay [stopdelay]] start|stop|status"),
    "Filesystem": ("heartbeat.resources.agents.filesystem:legacy_main",
                   "Filesystem device dir [fstype [options]] start|stop|status"),
    "IPaddr": ("heartbeat.resources.agents.ipaddr:legacy_main",
               "IPaddr ip[/mask[/nic[/broadcast]]] start|stop|status|monitor"),
    "IPaddr2": ("heartbeat.resources.agents.ipaddr2:legacy_main",
                "IPaddr2 ip[/bits[/nic[:label][/broadcast]]] start|stop|status|monitor"),
    "IPsrcaddr": ("heartbeat.resources.agents.ipsrcaddr:legacy_main", "IPsrcaddr ip start|stop|status"),
    "MailTo": ("heartbeat.resources.agents.mailto:legacy_main", "MailTo email [subject] start|stop|status"),
    "SendArp": ("heartbeat.resources.agents.sendarp_resource:legacy_main", "SendArp ip/nic start|stop|status"),
}

# script directory (see shipped_dir) -> destination directory; every regular file
# is copied, Python scripts with their interpreter line rewritten
TREES: dict[str, str] = {
    "rc.d": "etc/ha.d/rc.d",
    "resource.d": "etc/ha.d/resource.d",
}

# single data files: source (relative to the package) -> destination, mode
FILES: dict[str, tuple[str, int]] = {
    "data/shellfuncs": ("etc/ha.d/shellfuncs", 0o644),
    "data/heartbeat.service": ("lib/systemd/system/heartbeat.service", 0o644),
}

# compatibility names some 2.1.4 installs and admin habits rely on
SYMLINKS: dict[str, str] = {
    "usr/lib/heartbeat/heartbeat": "/usr/libexec/heartbeat/heartbeat",
    "usr/sbin/hb_standby": "/usr/share/heartbeat/hb_standby",
    "usr/sbin/hb_takeover": "/usr/share/heartbeat/hb_takeover",
}

# --el: 2.1.4's RPM kept the daemon, its helpers and the noarch commands in
# %{_libdir}/heartbeat, so admins' scripts on EL call them there (lib64 on
# 64-bit hosts, lib on 32-bit ones); and EL's unit directory is under /usr
EL_LIBDIRS = ("usr/lib/heartbeat", "usr/lib64/heartbeat")
EL_HELPERS = {name: f"/{dest}" for dest in LAUNCHERS for name in [dest.rsplit("/", 1)[1]]
              if dest.startswith(("usr/libexec/heartbeat/", "usr/share/heartbeat/"))}
EL_UNIT_DIR = "usr/lib/systemd/system"

# the init script's header: chkconfig (off until the admin enables it, as the
# EL packages of 2.1.4 ship it) and LSB (insserv, update-rc.d, systemd's generator)
INIT_HEADER = """\
# heartbeat     Start high-availability services (pyheartbeat)
#
# chkconfig: - 75 05
# description: Heartbeat v1 cluster messaging and resource takeover (haresources)
# processname: heartbeat
# pidfile: /var/run/heartbeat.pid
# config: /etc/ha.d/ha.cf
#
### BEGIN INIT INFO
# Provides:          heartbeat
# Required-Start:    $network $remote_fs $syslog $time
# Required-Stop:     $network $remote_fs $syslog $time
# Default-Start:
# Default-Stop:      0 1 6
# Short-Description: Start and stop heartbeat
# Description:       Heartbeat v1 cluster messaging and resource takeover (haresources)
### END INIT INFO
"""
HEADERS: dict[str, str] = {"etc/init.d/heartbeat": INIT_HEADER}

# directories the daemon and the scripts expect, with their modes
DIRECTORIES: dict[str, int] = {
    "var/lib/heartbeat": 0o755,
    "var/lib/heartbeat/cores": 0o755,
    "etc/ha.d/conf": 0o755,
}


def shipped_dir(name: str) -> Path:
    """One of TREES' directories: inside the package once built (wheel, RPM), at
    the top of the source tree in a checkout."""
    found = shipped_path(name, str(PACKAGE), str(REPO))
    if found is not None and os.path.isdir(found):
        return Path(found)
    raise FileNotFoundError(f"{name}/ is neither in {PACKAGE} nor in {REPO}")


def launcher_text(target: str, python: str, header: str = "") -> str:
    module, func = target.split(":")
    return (f"#!{python}\n"
            f"{header}"
            f"import sys\n"
            f"from {module} import {func}\n"
            f"sys.exit({func}())\n")


def resource_d_text(name: str) -> str:
    """resource.d/``name`` as the source tree holds it (``#!`` rewritten at install)."""
    target, usage = RESOURCE_D[name]
    module, func = target.split(":")
    return (f"#!/usr/bin/env python3\n"
            f'"""{usage} ({module})."""\n'
            f"from {module} import {func}\n"
            f"from heartbeat.resources.agents.ocf import exit_now\n"
            f"\n"
            f"exit_now({func}())\n")


def write_resource_d(directory: Path) -> list[Path]:
    """(Re)write the launchers of RESOURCE_D into ``directory`` (the checkout's resource.d/)."""
    written = []
    for name in RESOURCE_D:
        _write(directory / name, resource_d_text(name).encode(), 0o755)
        written.append(directory / name)
    return written


def _path_line(path: Path) -> str:
    return f"import sys; sys.path.insert(0, {str(path)!r})\n"


def _with_path(text: str, path: Path) -> str:
    """A Python script that imports this package from ``path`` first."""
    first, rest = text.split("\n", 1)
    return f"{first}\n{_path_line(path)}{rest}"


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".pyhb-new")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _copy_script(src: Path, dst: Path, python: str, package_path: Path | None) -> None:
    # every file of rc.d/ and resource.d/ is a command (a wheel may not keep the x bit)
    data = src.read_bytes()
    if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
        text = f"#!{python}\n" + data.decode().split("\n", 1)[1]
        data = (_with_path(text, package_path) if package_path else text).encode()
    _write(dst, data, 0o755)


def _symlink(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def install(root: Path, python: str = sys.executable, package_path: Path | None = None,
            el: bool = False) -> list[Path]:
    """Install under ``root``; return the files written.

    ``package_path`` is a directory every Python script imports the package from
    first: the RPM's private copy, or a checkout staged for the tests. ``el`` adds
    the EL layout.
    """
    written: list[Path] = []
    source = package_path
    for dest, target in LAUNCHERS.items():
        text = launcher_text(target, python, HEADERS.get(dest, "") + (_path_line(source) if source else ""))
        _write(root / dest, text.encode(), 0o755)
        written.append(root / dest)
    for src_dir, dest_dir in TREES.items():
        for script in sorted(shipped_dir(src_dir).iterdir()):
            if script.is_file() and not script.name.startswith("."):
                _copy_script(script, root / dest_dir / script.name, python, source)
                written.append(root / dest_dir / script.name)
    for src, (dest, mode) in FILES.items():
        if el and dest.startswith("lib/systemd/system/"):
            dest = f"{EL_UNIT_DIR}/{dest.rsplit('/', 1)[1]}"
        _write(root / dest, (PACKAGE / src).read_bytes(), mode)
        written.append(root / dest)
    links = dict(SYMLINKS)
    if el:
        links.update({f"{libdir}/{name}": target for libdir in EL_LIBDIRS for name, target in EL_HELPERS.items()})
    for dest, target in links.items():
        _symlink(root / dest, target)
        written.append(root / dest)
    for dest, mode in DIRECTORIES.items():
        (root / dest).mkdir(parents=True, exist_ok=True)
        os.chmod(root / dest, mode)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m heartbeat.tools.install", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/", help="install under this directory (default /)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the launchers")
    parser.add_argument("--package-path", nargs="?", const=str(REPO), metavar="DIR",
                        help="make the scripts import the package from DIR first "
                             "(default: from where it is imported now)")
    parser.add_argument("--el", action="store_true",
                        help="Red Hat-family layout: helpers also in /usr/lib{,64}/heartbeat, unit in /usr/lib/systemd")
    parser.add_argument("--write-resource-d", action="store_true",
                        help=f"only regenerate the agents' launchers in {REPO / 'resource.d'} from RESOURCE_D")
    args = parser.parse_args(argv)
    if args.write_resource_d:
        for path in write_resource_d(REPO / "resource.d"):
            print(path)
        return 0
    root = Path(args.root)
    if root == Path("/") and shutil.which("dpkg") and os.path.exists("/var/lib/dpkg/info/heartbeat.list"):
        print("note: replacing files of the installed Debian heartbeat package", file=sys.stderr)
    package_path = Path(args.package_path) if args.package_path else None
    for path in install(root, args.python, package_path, args.el):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
