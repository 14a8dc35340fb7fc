"""Filesystem: wrapper arguments, start checks, mount command lines, the stop escalation and
its log lines, against a fake system (no mount is touched)."""

import io
import os

import pytest

from heartbeat.resources.agents import filesystem
from heartbeat.resources.agents.filesystem import Filesystem, Mount, parse_mounts, split_device, submounts


class FakeSystem:
    def __init__(self):
        self.table = [Mount("/dev/sda1", "/", "ext4")]
        self.commands = []
        self.blocks = {"/dev/loop7", "/dev/sdb1"}
        self.dirs = {"/srv/data", "/srv"}
        self.missing = set()
        self.types = "nodev\ttmpfs\n\text4\n\text2\n"
        self.busy = 0  # umount attempts that fail before one succeeds
        self.users = [4242]
        self.fsck_rc = 0
        self.mount_rc = 0
        self.slept = 0

    def mounts(self):
        return list(self.table)

    def filesystems(self):
        return self.types

    def run(self, argv):
        self.commands.append(argv)
        if argv[0] == "mount" and self.mount_rc == 0 and "remount" not in " ".join(argv):
            fstype = argv[argv.index("-t") + 1] if "-t" in argv else "auto"
            self.table.append(Mount(argv[-2], argv[-1], fstype))
        if argv[0] == "umount":
            if self.busy:
                self.busy -= 1
                return 32
            self.table = [m for m in self.table if m.directory != argv[-1]]
        if argv[0] == "fsck":
            return self.fsck_rc
        if argv[0] == "mount":
            return self.mount_rc
        return 0

    def output(self, argv):
        self.commands.append(argv)
        if argv[0] == "fuser":
            return " ".join(str(p) for p in self.users)
        return "UID PID PPID C STIME TTY STAT TIME CMD\nroot 4242 1 0 06:00 ? S 0:00 sleep 600\n"

    def which(self, name, path):
        return None if name in self.missing else f"/usr/bin/{name}"

    def is_block(self, path):
        return path in self.blocks

    def is_dir(self, path):
        return path in self.dirs

    def makedirs(self, path):
        self.dirs.add(path)

    def realpath(self, path):
        return path

    def kill(self, pid, sig):
        self.commands.append(["kill", "-s", sig, str(pid)])

    def users_safe(self, directory):
        return self.users

    def sleep(self, seconds):
        self.slept += seconds


@pytest.fixture
def sysm(monkeypatch):
    fake = FakeSystem()
    monkeypatch.setattr(Filesystem, "system", fake)
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    return fake


@pytest.fixture
def env(tmp_path):
    return {"HA_LOGFILE": str(tmp_path / "ha-log"), "HA_LOGFACILITY": "none", "HA_DEBUGLOG": str(tmp_path / "ha-debug"),
            "HA_DATEFMT": "%Y/%m/%d_%T ", "PATH": "/usr/bin"}


def run(env, *args):
    out = io.StringIO()
    rc = filesystem.legacy_main(["/etc/ha.d/resource.d/Filesystem", *args], env, out)
    return rc, out.getvalue()


def messages(env):
    try:
        with open(env["HA_LOGFILE"]) as f:
            return [line.split(":    ", 1)[1] for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


def commands(sysm, name):
    return [c for c in sysm.commands if c[0] == name]


def test_parse_mounts_unescapes_octal():
    assert parse_mounts("/dev/sda1 / ext4 rw 0 0\nsrv\\040x /srv/a\\040b tmpfs rw 0 0\n") == [
        Mount("/dev/sda1", "/", "ext4"), Mount("srv x", "/srv/a b", "tmpfs")]


def test_submounts_deepest_first():
    mounts = [Mount("a", "/srv/data", "x"), Mount("b", "/srv/data/a", "x"), Mount("c", "/srv/data/a/b", "x"),
              Mount("d", "/srv/database", "x")]
    assert submounts("/srv/data", mounts) == ["/srv/data/a/b", "/srv/data/a"]


def test_label_and_uuid_devices():
    assert split_device("-L data") == (["-L"], "data")
    assert split_device("-Uabcd") == (["-U"], "abcd")
    assert split_device("--label=data") == (["--label"], "data")
    assert split_device("/dev/sdb1") == ([], "/dev/sdb1")


def test_start_an_ext4_block_device(sysm, env):
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "start") == (0, "INFO:  Success\n")
    assert commands(sysm, "mount") == [["mount", "-t", "ext4", "/dev/sdb1", "/srv/data"]]
    assert commands(sysm, "fsck") == []  # ext4 needs none
    assert commands(sysm, "blockdev") == [["blockdev", "--flushbufs", "/dev/sdb1"]]
    assert messages(env) == ["INFO: Running start for /dev/sdb1 on /srv/data", "INFO:  Success"]
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "status") == (0, "INFO:  Running OK\n")


def test_ext2_gets_fsck_and_options_reach_mount(sysm, env):
    assert run(env, "/dev/sdb1", "/srv/data/", "ext2", "noatime,ro", "start")[0] == 0
    assert commands(sysm, "fsck") == [["fsck", "-t", "ext2", "-p", "/dev/sdb1"]]
    assert commands(sysm, "mount") == [["mount", "-t", "ext2", "-o", "noatime,ro", "/dev/sdb1", "/srv/data"]]
    assert "INFO: Starting filesystem check on /dev/sdb1" in messages(env)


def test_no_fstype_leaves_detection_to_mount_and_checks_the_device(sysm, env):
    assert run(env, "/dev/sdb1", "/srv/data", "start")[0] == 0
    assert commands(sysm, "fsck") == [["fsck", "-p", "/dev/sdb1"]]
    assert commands(sysm, "mount") == [["mount", "/dev/sdb1", "/srv/data"]]


def test_failed_fsck_stops_the_start(sysm, env):
    sysm.fsck_rc = 4
    assert run(env, "/dev/sdb1", "/srv/data", "ext2", "start") == (1, "ERROR:  Generic error\n")
    assert commands(sysm, "mount") == []
    assert "ERROR: Couldn't successfully fsck filesystem for /dev/sdb1" in messages(env)


def test_tmpfs_is_no_block_device_and_the_mount_point_is_created(sysm, env, capfd):
    assert run(env, "tmpfs", "/srv/new", "tmpfs", "size=1m", "start")[0] == 0
    assert commands(sysm, "mount") == [["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/srv/new"]]
    assert commands(sysm, "fsck") == [] and commands(sysm, "blockdev") == []
    assert "/srv/new" in sysm.dirs


def test_already_mounted(sysm, env):
    sysm.table.append(Mount("/dev/sdb1", "/srv/data", "ext4"))
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "start")[0] == 0
    assert commands(sysm, "mount") == []
    assert "INFO: Filesystem /srv/data is already mounted." in messages(env)


def test_mounts_below_the_mount_point_refuse_the_start(sysm, env):
    sysm.table.append(Mount("x", "/srv/data/inner", "tmpfs"))
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "start")[0] == 6
    assert commands(sysm, "mount") == []
    assert "ERROR: There is one or more mounts mounted under /srv/data." in messages(env)


def test_unknown_fstype_tries_modprobe(sysm, env, capfd):
    assert run(env, "/dev/sdb1", "/srv/data", "xfs", "start")[0] == 5
    assert commands(sysm, "modprobe") == [["modprobe", "xfs"]]
    assert commands(sysm, "mount") == []
    assert sysm.slept == 5
    assert messages(env)[-2] == "ERROR: Couldn't find filesystem xfs in /proc/filesystems"
    assert "ocf-exit-reason:Couldn't find filesystem xfs in /proc/filesystems" in capfd.readouterr().err


def test_missing_modprobe_fails_even_a_built_in_type(sysm, env):
    sysm.missing.add("modprobe")
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "start") == (5, "ERROR:  Program is not installed\n")
    assert messages(env)[0] == "ERROR: Setup problem: couldn't find command: modprobe"
    assert sysm.commands == []


def test_missing_device(sysm, env):
    assert run(env, "/dev/sdz9", "/srv/data", "ext4", "start")[0] == 5
    assert "ERROR: Couldn't find device [/dev/sdz9]. Expected /dev/??? to exist" in messages(env)
    assert commands(sysm, "mount") == []


def test_failed_mount(sysm, env):
    sysm.mount_rc = 32
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "start")[0] == 1
    assert "ERROR: Couldn't mount device [/dev/sdb1] as /srv/data" in messages(env)


@pytest.mark.parametrize("args", [["/dev/sdb1", "start"], ["/dev/sdb1"], []])
def test_wrapper_needs_device_directory_and_op(sysm, env, args):
    assert run(env, *args) == (1, "usage: /etc/ha.d/resource.d/Filesystem <device> <directory> [<fstype> [<options>]] "
                                  "(start|stop|status|usage|meta-data)\n")
    assert sysm.commands == []


def test_status_of_unmounted_is_stopped_and_not_logged_as_running(sysm, env):
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "status") == (7, "INFO:  Resource is stopped\n")
    assert messages(env) == ["INFO:  Resource is stopped"]  # monitor logs no "Running ..." line


def test_stop_when_not_mounted(sysm, env):
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop") == (0, "INFO:  Success\n")
    assert commands(sysm, "umount") == []


def test_stop_unmounts_submounts_first(sysm, env):
    sysm.table += [Mount("/dev/sdb1", "/srv/data", "ext4"), Mount("t", "/srv/data/a", "tmpfs"),
                   Mount("t", "/srv/data/a/b", "tmpfs")]
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop")[0] == 0
    assert commands(sysm, "umount") == [["umount", "/srv/data/a/b"], ["umount", "/srv/data/a"], ["umount", "/srv/data"]]
    assert messages(env)[1:3] == ["INFO: Trying to unmount /srv/data/a/b", "INFO: unmounted /srv/data/a/b successfully"]


def test_busy_mount_escalates_term_then_kill(sysm, env, capfd):
    sysm.table.append(Mount("/dev/sdb1", "/srv/data", "ext4"))
    sysm.busy = 11
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop")[0] == 0
    kills = [c[2] for c in sysm.commands if c[0] == "kill"]
    assert kills == ["TERM"] * 10 + ["KILL"]
    assert sysm.slept == 11
    log = messages(env)
    assert log.count("ERROR: Couldn't unmount /srv/data; trying cleanup with TERM") == 10
    assert "INFO: sending signal KILL to: root 4242 1 0 06:00 ? S 0:00 sleep 600" in log
    assert log[-2:] == ["INFO: unmounted /srv/data successfully", "INFO:  Success"]
    assert ["fuser", "-m", "/srv/data"] in sysm.commands


def test_stop_gives_up_after_the_timeout(sysm, env):
    sysm.table.append(Mount("/dev/sdb1", "/srv/data", "ext4"))
    sysm.busy = 100
    env["OCF_RESKEY_fast_stop"] = "yes"  # 6 s: 3 tries with TERM, 3 with KILL
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop") == (1, "ERROR:  Generic error\n")
    assert len(commands(sysm, "umount")) == 6
    assert "ERROR: Couldn't unmount /srv/data, giving up!" in messages(env)


def test_no_users_to_signal(sysm, env):
    sysm.table.append(Mount("srv", "/srv/data", "nfs"))
    sysm.busy, sysm.users = 1, []
    assert run(env, "srv:/export", "/srv/data", "nfs", "stop")[0] == 0
    assert commands(sysm, "umount")[0] == ["umount", "-f", "/srv/data"]  # network file systems get -f
    assert "INFO: No processes on /srv/data were signalled. force_unmount is set to 'true'" in messages(env)


def test_force_unmount_off_signals_nobody(sysm, env):
    sysm.table.append(Mount("/dev/sdb1", "/srv/data", "ext4"))
    sysm.busy = 1
    env["OCF_RESKEY_force_unmount"] = "false"
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop")[0] == 0
    assert commands(sysm, "fuser") == [] and commands(sysm, "kill") == []


def test_safe_user_search_finds_a_process_working_below_the_directory(tmp_path):
    import subprocess
    (tmp_path / "inner").mkdir()
    user = subprocess.Popen(["sleep", "30"], cwd=tmp_path / "inner")
    try:
        found = filesystem.System().users_safe(str(tmp_path))
        assert user.pid in found
        assert os.getpid() not in found
    finally:
        user.kill()
        user.wait()


def test_force_unmount_safe_finds_users_without_fuser(sysm, env):
    sysm.table.append(Mount("/dev/sdb1", "/srv/data", "ext4"))
    sysm.busy = 1
    env["OCF_RESKEY_force_unmount"] = "safe"
    assert run(env, "/dev/sdb1", "/srv/data", "ext4", "stop")[0] == 0
    assert commands(sysm, "fuser") == [] and commands(sysm, "kill") == [["kill", "-s", "TERM", "4242"]]
