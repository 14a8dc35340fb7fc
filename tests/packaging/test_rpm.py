"""`make rpm`: a noarch package that replaces heartbeat-2.1.4 on EL hosts.

Built from a copy of this tree, then queried (`rpm -qpl`, `-qpR`, provides,
obsoletes, file flags, the %pre scriptlet) and installed into scratch roots with
`rpm --root`: fresh, and over a stand-in for EL's heartbeat-2.1.4 package that
owns the same paths. Scriptlets do not run there (a scratch root has no shell);
the user and group creation is run on its own against recording stand-ins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat import __version__
from heartbeat.tools.install import EL_HELPERS, EL_LIBDIRS, REPO

from .tree import add_example_config, check_config, clean_env, copy_source, run

pytestmark = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild missing (`make deps` installs rpm)")

ADMIN_FILES = ("ha.cf", "authkeys", "haresources")
PKGDIR = "usr/share/pyheartbeat"

# what EL's heartbeat-2.1.4 package owns of the paths we take over (a few suffice)
OLD_SPEC = """\
Name: heartbeat
Version: 2.1.4
Release: 6
Summary: stand-in for EL's heartbeat-2.1.4 package
License: GPLv2
BuildArch: noarch
%description
Stand-in owning some of heartbeat-2.1.4's paths.
%install
mkdir -p %{buildroot}/usr/lib64/heartbeat %{buildroot}/etc/init.d %{buildroot}/etc/ha.d
echo 2.1.4 > %{buildroot}/usr/lib64/heartbeat/heartbeat
echo 2.1.4 > %{buildroot}/etc/init.d/heartbeat
echo 2.1.4 > %{buildroot}/etc/ha.d/harc
%files
%dir /etc/ha.d
/etc/ha.d/harc
/etc/init.d/heartbeat
/usr/lib64/heartbeat
"""


def rpm(root: Path, *args) -> subprocess.CompletedProcess:
    return run(["rpm", "--root", root, *args])


def query(package: Path, *args) -> list[str]:
    return run(["rpm", "-qp", *args, package]).stdout.splitlines()


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("rpm")
    source = copy_source(tmp / "src")
    run(["make", "-C", source, "rpm"], env=clean_env())
    (tmp / "old.spec").write_text(OLD_SPEC)
    run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {tmp / 'old'}", tmp / "old.spec"])
    return {"new": source / f"dist/pyheartbeat-{__version__}-1.noarch.rpm",
            "old": tmp / "old/RPMS/noarch/heartbeat-2.1.4-6.noarch.rpm"}


def admin_config(root: Path) -> dict[str, bytes]:
    """The admin's /etc/ha.d (ha.d-examples made checkable), before any package."""
    (root / "etc/ha.d/resource.d").mkdir(parents=True)
    ha_dir = add_example_config(root)
    return {name: (ha_dir / name).read_bytes() for name in ADMIN_FILES}


def unchanged(root: Path, config: dict[str, bytes]) -> bool:
    ha_dir = root / "etc/ha.d"
    leftovers = [p.name for p in ha_dir.iterdir() if p.suffix in (".rpmnew", ".rpmsave", ".rpmorig")]
    return not leftovers and all((ha_dir / name).read_bytes() == data for name, data in config.items())


def check_from_root(root: Path) -> None:
    """The config check of the package's own copy, run from the scratch root: the
    launchers' path line names /usr/share/pyheartbeat, which lives under root here.
    No byte code: %preun, which removes what %post compiles, does not run here."""
    env = dict(clean_env(), PYTHONPATH=str(root / PKGDIR), PYTHONDONTWRITEBYTECODE="1")
    where = run([sys.executable, "-c", "import heartbeat; print(heartbeat.__file__)"], cwd="/", env=env).stdout
    assert where.startswith(str(root / PKGDIR))
    check_config(root, root / "etc/ha.d", (sys.executable,), env)


def test_file_list_is_2_1_4_s_layout_plus_ours(packages):
    files = set(query(packages["new"], "-l"))
    helpers = {f"/{libdir}/{name}" for libdir in EL_LIBDIRS for name in EL_HELPERS}
    assert helpers <= files
    assert {"/etc/init.d/heartbeat", "/usr/lib/systemd/system/heartbeat.service", "/etc/ha.d/harc",
            "/etc/ha.d/shellfuncs", "/etc/ha.d/rc.d/ip-request", "/etc/ha.d/resource.d/IPaddr",
            "/usr/share/heartbeat/ResourceManager", "/usr/bin/cl_status", "/var/lib/heartbeat/cores/hacluster",
            f"/{PKGDIR}/heartbeat/daemon/main.py"} <= files
    flags = dict(line.rsplit(" ", 1) for line in query(packages["new"], "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]"))
    # owned, never written nor removed: config, noreplace, ghost
    assert all(flags[f"/etc/ha.d/{name}"] == "cng" for name in ADMIN_FILES)
    assert query(packages["new"], "--qf", "%{ARCH}\n") == ["noarch"]


def test_dependencies_replace_heartbeat_2_1_4(packages):
    requires = set(query(packages["new"], "-R"))
    assert "python3 >= 3.9" in requires
    # netlink, ARP and ICMP are the standard library's sockets: no EPEL package is needed
    assert not {r for r in requires if r.startswith("python3-")}
    assert "heartbeat = 2.1.4-99" in query(packages["new"], "--provides")
    assert query(packages["new"], "--obsoletes") == ["heartbeat < 2.1.4-99"]


def test_fresh_install_check_and_erase_leave_the_admin_s_files(packages, tmp_path):
    root = tmp_path / "root"
    config = admin_config(root)
    rpm(root, "--nodeps", "--noscripts", "-i", packages["new"])
    assert unchanged(root, config)
    check_from_root(root)
    rpm(root, "--nodeps", "--noscripts", "-e", "pyheartbeat")
    assert unchanged(root, config)
    assert not (root / "usr/libexec/heartbeat/heartbeat").exists() and not (root / PKGDIR).exists()


def test_upgrade_replaces_heartbeat_in_one_transaction_and_it_can_come_back(packages, tmp_path):
    root = tmp_path / "root"
    config = admin_config(root)
    rpm(root, "--nodeps", "--noscripts", "-i", packages["old"])
    rpm(root, "--nodeps", "--noscripts", "-U", packages["new"])
    installed = subprocess.run(["rpm", "--root", str(root), "-q", "heartbeat", "pyheartbeat"],
                               capture_output=True, text=True, timeout=60).stdout
    assert installed.split() == ["package", "heartbeat", "is", "not", "installed",
                                 f"pyheartbeat-{__version__}-1.noarch"]
    assert os.readlink(root / "usr/lib64/heartbeat/heartbeat") == "/usr/libexec/heartbeat/heartbeat"
    assert unchanged(root, config)
    check_from_root(root)
    # rolling back: ours out, the old package in, the admin's files as they were
    rpm(root, "--nodeps", "--noscripts", "-e", "pyheartbeat")
    rpm(root, "--nodeps", "--noscripts", "-i", packages["old"])
    assert (root / "usr/lib64/heartbeat/heartbeat").read_text() == "2.1.4\n"
    assert unchanged(root, config)


@pytest.mark.parametrize("present, calls", [
    (False, ["groupadd -r haclient",
             "useradd -r -g haclient -d /var/lib/heartbeat/cores/hacluster -s /sbin/nologin -c heartbeat user "
             "hacluster"]),
    (True, []),
])
def test_pre_creates_hacluster_and_haclient_as_2_1_4_does(packages, tmp_path, present, calls):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for name in ("groupadd", "useradd"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
    (bin_dir / "getent").write_text(f"#!/bin/sh\nexit {0 if present else 2}\n")
    for program in bin_dir.iterdir():
        program.chmod(0o755)
    script = "\n".join(query(packages["new"], "--qf", "%{PREIN}\n"))
    run(["/bin/sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert (log.read_text().splitlines() if log.exists() else []) == calls


def test_spec_version_is_the_package_s():
    spec = (REPO / "packaging/pyheartbeat.spec").read_text()
    assert f"\nVersion:        {__version__}\n" in spec
