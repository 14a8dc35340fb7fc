"""Filesystem: mount and unmount a file system (spec §15.4), and its resource.d wrapper.

``resource.d/Filesystem device dir [fstype [options]] start|stop|status`` (haresources
``Filesystem::device::dir::fstype::options``). Behaviour of resource-agents 4.12, the
agent the original runs on Debian (it differs from 2.1.4's in the stop escalation):

* start: refuses a mount point with mounts below it; already mounted is success; the type
  must be in ``/proc/filesystems``, else ``modprobe`` and up to 5 more looks 1 s apart;
  a block device must exist and gets ``fsck -p`` unless its type needs none; the mount
  point is created if missing; ``mount [-t type] [-o options] [-U|-L] device dir``.
  Without a type, mount(8) detects it.
* stop: every mount below the mount point (deepest first), then the other mounts of the
  same block device, then the mount point itself: ``umount`` (``-f`` for network file
  systems), and while it stays mounted, signal the users (``fuser -m``) with TERM, 1 s
  apart, for half the stop timeout, then with KILL for the other half (default timeout
  20 s: 10 + 10 tries).
* status (the wrapper's monitor): is the mount point in ``/proc/mounts``.

Like the original, every action first checks that modprobe, fuser, fsck, mount and
umount exist (a missing ``modprobe`` fails the start even for built-in types,
lab-findings §2 "Resource failure").
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time

from heartbeat.resources.agents.ocf import ERR_CONFIGURED, ERR_GENERIC, ERR_INSTALLED, NOT_RUNNING, SUCCESS, Agent, \
    AgentFailure, Wrapper
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Iterable, Mapping

REQUIRED = ("modprobe", "fuser", "fsck", "mount", "umount")
NOT_BLOCK = {"nfs4", "nfs", "efs", "smbfs", "cifs", "none", "glusterfs", "ceph", "tmpfs", "overlay", "overlayfs",
             "rozofs", "zfs", "cvfs", "lustre"}
NO_FSCK = {"ext4", "ext4dev", "ext3", "reiserfs", "reiser4", "nss", "xfs", "jfs", "vfat", "fat", "nfs4", "nfs", "efs",
           "cifs", "smbfs", "ocfs2", "gfs2", "none", "lustre", "glusterfs", "ceph", "tmpfs", "overlay", "overlayfs",
           "rozofs", "zfs", "cvfs"}
FORCED_UMOUNT = {"nfs4", "nfs", "efs", "cifs", "smbfs"}
TRUE_WORDS = {"yes", "true", "1", "on"}
MODULE_TRIES = 5
DEFAULT_STOP_TIMEOUT_MS = 20000
FAST_STOP_SECONDS = 6


@record
class Mount:
    device: str
    directory: str
    fstype: str


def _unescape(field: str) -> str:
    # /proc/mounts writes blanks, tabs, newlines and backslashes as octal escapes
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) >= 3:
            mounts.append(Mount(_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return mounts


def submounts(directory: str, mounts: Iterable[Mount]) -> list[str]:
    """Mount points below ``directory``, deepest (reverse sorted) first."""
    return sorted({m.directory for m in mounts if m.directory.startswith(directory.rstrip("/") + "/")}, reverse=True)


def split_device(device: str) -> tuple[list[str], str]:
    """``-U uuid`` / ``--label=x`` style devices: (mount options, the name)."""
    m = re.fullmatch(r"(--uuid|--label)(?:=|\s+)(.*)", device) or re.fullmatch(r"(-U|-L)\s*(.*)", device)
    return ([m.group(1)], m.group(2)) if m else ([], device)


def option_words(options: str) -> set[str]:
    return set(re.split(r"[^A-Za-z0-9_]+", options)) - {""}


class System:
    """The machine the agent acts on; tests replace it."""

    def mounts(self) -> list[Mount]:
        with open("/proc/mounts") as f:
            return parse_mounts(f.read())

    def filesystems(self) -> str:
        with open("/proc/filesystems") as f:
            return f.read()

    def run(self, argv: list[str]) -> int:
        # the commands' own output goes where the agent's goes (ResourceManager's debug log)
        return subprocess.call(argv, stdin=subprocess.DEVNULL)

    def output(self, argv: list[str]) -> str:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        return done.stdout

    def which(self, name: str, path: str) -> str | None:
        return shutil.which(name, path=path)

    def is_block(self, path: str) -> bool:
        try:
            return stat.S_ISBLK(os.stat(path).st_mode)
        except OSError:
            return False

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def realpath(self, path: str) -> str:
        return os.path.realpath(path) if os.path.exists(path) else path

    def kill(self, pid: int, sig: str) -> None:
        subprocess.call(["kill", "-s", sig, str(pid)], stdin=subprocess.DEVNULL)

    def users_safe(self, directory: str) -> list[int]:
        """Processes with a file, directory or mapping below ``directory`` (force_unmount=safe),
        found without fuser, which may hang on a dead NFS server."""
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            base = f"/proc/{entry}"
            links = [f"{base}/cwd", f"{base}/root", f"{base}/exe"]
            try:
                links += [f"{base}/fd/{fd}" for fd in os.listdir(f"{base}/fd")]
                with open(f"{base}/maps") as f:
                    if f" {directory}/" in f.read():
                        pids.add(int(entry))
            except OSError:
                pass
            for link in links:
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target == directory or target.startswith(directory + "/"):
                    pids.add(int(entry))
        return sorted(pids)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Filesystem(Agent):
    TYPE = "Filesystem"
    system = System()

    def setup(self, op: str) -> None:
        """What the original does before any action: device kind, mount point, binaries."""
        sysm = self.system
        self.fstype = self.param("fstype")
        self.options = self.param("options")
        if not self.param("device"):
            raise AgentFailure(ERR_CONFIGURED, "Please set OCF_RESKEY_device to the device to be managed",
                               exit_reason=True)
        self.device_opt: list[str] = []
        self.device = self.param("device")
        self.blockdevice = False
        if self.fstype not in NOT_BLOCK and "loop" not in option_words(self.options):
            self.device_opt, self.device = split_device(self.device)
            if not self.device_opt:
                self.blockdevice = self._is_block_device(op)
        directory = self.param("directory")
        if not directory:
            if op == "start" or not self.blockdevice:
                raise AgentFailure(ERR_CONFIGURED, "Please specify the directory", exit_reason=True)
            self.mountpoint = self.canonical = ""
        else:
            self.mountpoint = directory.rstrip("/") or "/"
            self.canonical = sysm.realpath(self.mountpoint)
        for name in REQUIRED:
            if sysm.which(name, self.search_path) is None:
                raise AgentFailure(ERR_INSTALLED, f"Setup problem: couldn't find command: {name}", exit_reason=True)
        if op != "monitor":
            self.log.ocf_log("info", f"Running {op} for {self.device} on {self.mountpoint}")

    def _is_block_device(self, op: str) -> bool:
        """Whether a device given by path is a block device (anything but a directory); one
        missing is warned about except at start, which fails on it later."""
        sysm = self.system
        if self.device == "/dev/null":
            return True
        if not sysm.is_block(self.device) and not sysm.is_dir(self.device) and op != "start":
            self.log.ocf_log("warn", f"Couldn't find device [{self.device}]. Expected /dev/??? to exist")
        return not sysm.is_dir(self.device)

    # --- status -------------------------------------------------------------------------------

    def mounted(self) -> bool:
        return any(m.directory == self.canonical for m in self.system.mounts())

    def monitor(self) -> int:
        self.setup("monitor")
        return SUCCESS if self.mounted() else NOT_RUNNING

    # --- start --------------------------------------------------------------------------------

    def start(self) -> int:
        self.setup("start")
        below = re.compile(re.escape(self.canonical) + r"/\w")
        if any(below.match(m.directory) for m in self.system.mounts()):
            raise AgentFailure(ERR_CONFIGURED, f"There is one or more mounts mounted under {self.mountpoint}.")
        if self.mounted():
            self.log.ocf_log("info", f"Filesystem {self.mountpoint} is already mounted.")
            return SUCCESS
        self.require_fstype()
        if self.blockdevice:
            self._check_device()
        self._make_mountpoint()
        self.flushbufs()
        self._mount()
        return SUCCESS

    def _check_device(self) -> None:
        """The block device exists, and fsck passes where it is needed."""
        sysm = self.system
        if self.device != "/dev/null" and not sysm.is_block(self.device):
            raise AgentFailure(ERR_INSTALLED, f"Couldn't find device [{self.device}]. Expected /dev/??? to exist",
                               exit_reason=True)
        if self.fsck_needed():
            self.log.ocf_log("info", f"Starting filesystem check on {self.device}")
            typed = ["-t", self.fstype] if self.fstype else []
            if sysm.run(["fsck", *typed, "-p", self.device]) >= 4:
                raise AgentFailure(ERR_GENERIC, f"Couldn't successfully fsck filesystem for {self.device}",
                                   exit_reason=True)

    def _make_mountpoint(self) -> None:
        sysm = self.system
        if sysm.is_dir(self.mountpoint):
            return
        try:
            sysm.makedirs(self.mountpoint)
        except OSError as e:
            self.log.ocf_log("err", f"mkdir: cannot create directory '{self.mountpoint}': {e.strerror}")
        if not sysm.is_dir(self.mountpoint):
            raise AgentFailure(ERR_INSTALLED, f"Couldn't find directory  [{self.mountpoint}] to use as a mount point",
                               exit_reason=True)

    def _mount(self) -> None:
        sysm = self.system
        typed = ["-t", self.fstype] if self.fstype and self.fstype != "none" else []
        options = ["-o", self.options] if self.options else []
        ok = sysm.run(["mount", *typed, *options, *self.device_opt, self.device, self.mountpoint]) == 0
        if ok and self.fstype == "none" and "bind" in option_words(self.options) and self.options != "bind":
            # a bind mount ignores its other options until it is remounted with them
            ok = sysm.run(["mount", "-o", self.options.replace("bind", "remount"), self.mountpoint]) == 0
        if not ok:
            raise AgentFailure(ERR_GENERIC, f"Couldn't mount device [{self.device}] as {self.mountpoint}",
                               exit_reason=True)

    def require_fstype(self) -> None:
        if not self.fstype or self.fstype == "none":
            return
        support = self.fstype
        if support.startswith("fuse.") or support in ("glusterfs", "rozofs"):
            support = "fuse"
        elif support == "efs":
            support = "nfs4"
        if support != self.fstype:
            self.log.ocf_log("info", f'Checking support for {self.fstype} as "{support}"')
        if self.supported(support):
            return
        if self.system.run(["modprobe", support]) != 0:
            raise AgentFailure(ERR_INSTALLED, f"Couldn't find filesystem {support} in /proc/filesystems and failed "
                                              "to load kernel module", exit_reason=True)
        for _ in range(MODULE_TRIES):
            if self.supported(support):
                return
            self.log.ocf_log("debug", f"Unable to find support for {support} in /proc/filesystems after modprobe, "
                                      "trying again")
            self.system.sleep(1)
        raise AgentFailure(ERR_INSTALLED, f"Couldn't find filesystem {support} in /proc/filesystems",
                           exit_reason=True)

    def supported(self, fstype: str) -> bool:
        return any(line.split()[-1:] == [fstype] for line in self.system.filesystems().splitlines())

    def fsck_needed(self) -> bool:
        mode = self.param("run_fsck", "auto")
        if mode == "force":
            return True
        if mode == "no":
            return False
        if mode != "auto":
            self.log.ocf_log("warn", f"Invalid parameter value for fsck: '{mode}'; setting to 'auto'")
        return self.fstype not in NO_FSCK

    def flushbufs(self) -> None:
        if self.blockdevice and self.system.which("blockdev", self.search_path):
            self.system.run(["blockdev", "--flushbufs", self.device])

    # --- stop ---------------------------------------------------------------------------------

    @property
    def force_unmount(self) -> str:
        value = self.param("force_unmount", "true")
        return "true" if value.lower() in TRUE_WORDS else value

    def stop_timeout(self) -> int:
        if self.param("fast_stop", "no").lower() in TRUE_WORDS:
            return FAST_STOP_SECONDS
        return int(self.param("CRM_meta_timeout", str(DEFAULT_STOP_TIMEOUT_MS))) // 1000

    def stop(self) -> int:
        self.setup("stop")
        if not self.mounted():
            return SUCCESS
        mounts = self.system.mounts()
        if not self.blockdevice and self.fstype not in NOT_BLOCK:
            found = [m.device for m in mounts if m.directory == self.canonical]
            self.blockdevice = bool(found) and self.system.is_block(found[0])
            if self.blockdevice:
                self.device = found[0]
        rc = SUCCESS
        for target in submounts(self.canonical, mounts) + self.bind_mounts(mounts) + [self.canonical]:
            self.log.ocf_log("info", f"Trying to unmount {target}")
            rc = self.unmount(target, self.stop_timeout())
            if rc != SUCCESS:
                self.exit_reason(f"Couldn't unmount {target}, giving up!")
        self.flushbufs()
        return rc

    def bind_mounts(self, mounts: list[Mount]) -> list[str]:
        """Other mount points of the same block device (they would keep it busy)."""
        if "bind" in option_words(self.options):
            return []
        devices = [m.device for m in mounts if m.directory == self.canonical]
        if not devices or not self.system.is_block(devices[0]):
            return []
        return sorted({m.directory for m in mounts if m.device == devices[0] and m.directory != self.canonical},
                      reverse=True)

    def unmount(self, target: str, timeout: int) -> int:
        force = ["-f"] if self.fstype in FORCED_UMOUNT else []
        for sig in ("TERM", "KILL"):
            for _ in range(timeout // 2):
                self.system.run(["umount", *force, target])
                if not any(m.directory == target for m in self.system.mounts()):
                    self.log.ocf_log("info", f"unmounted {target} successfully")
                    return SUCCESS
                self.exit_reason(f"Couldn't unmount {target}; trying cleanup with {sig}")
                self.signal_users(target, sig)
                self.system.sleep(1)
        return ERR_GENERIC

    def signal_users(self, target: str, sig: str) -> None:
        mode = self.force_unmount
        if mode == "true":
            pids = [int(p) for p in re.findall(r"\d+", self.system.output(["fuser", "-m", target]))]
        elif mode == "safe":
            pids = self.system.users_safe(target)
        else:
            pids = []
        if not pids:
            self.log.ocf_log("info", f"No processes on {target} were signalled. force_unmount is set to '{mode}'")
            return
        for pid in pids:
            lines = self.system.output(["ps", "-f", str(pid)]).splitlines()
            self.log.ocf_log("info", f"sending signal {sig} to: {lines[-1] if lines else ''}")
            self.system.kill(pid, sig)


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/Filesystem device dir [fstype [options]] OP``: every argument but the
    last non-empty one is taken in turn as device, directory, fstype, options."""
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    wrapper = Wrapper(Filesystem, argv[0], "usage: $0 <device> <directory> [<fstype> [<options>]]",
                      environ=env, stdout=stdout)
    if len(argv) < 4:
        return wrapper.usage()
    args = argv[1:]
    params: dict[str, str] = {}
    for name in ("device", "directory", "fstype", "options"):
        if len(args) > 1 and args[1] != "":
            params[name] = args.pop(0)
    return wrapper.run(params, f"Filesystem_{params.get('device', '')}", args[0])
