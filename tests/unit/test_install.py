"""heartbeat.tools.install: the layout, the EL additions, the init script's headers."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import heartbeat.tools.install as install_module
from heartbeat.tools.install import (EL_HELPERS, EL_LIBDIRS, LAUNCHERS, REPO, RESOURCE_D, SYMLINKS, TREES, install,
                                     resource_d_text, shipped_dir, write_resource_d)


def test_resource_d_is_what_the_table_generates():
    """resource.d/ holds exactly RESOURCE_D's launchers, unedited: a change goes to the
    table, then `python3 -m heartbeat.tools.install --write-resource-d`."""
    shipped = {p.name: p for p in (REPO / "resource.d").iterdir()}
    assert sorted(shipped) == sorted(RESOURCE_D)
    for name, path in shipped.items():
        assert path.read_text() == resource_d_text(name), f"resource.d/{name}: run --write-resource-d"
        assert os.access(path, os.X_OK), path


def test_write_resource_d_writes_every_launcher_executable(tmp_path):
    written = write_resource_d(tmp_path)
    assert sorted(p.name for p in written) == sorted(RESOURCE_D)
    for path in written:
        assert path.read_text() == resource_d_text(path.name) and os.access(path, os.X_OK)
    target, _usage = RESOURCE_D["IPaddr"]
    module, func = target.split(":")
    assert (tmp_path / "IPaddr").read_text().splitlines()[2:] == [
        f"from {module} import {func}", "from heartbeat.resources.agents.ocf import exit_now", "",
        f"exit_now({func}())"]


def test_every_shipped_script_is_laid_out_executable_with_the_installing_python(tmp_path):
    install(tmp_path, "/usr/bin/python3")
    for src_dir, dest_dir in TREES.items():
        for src in shipped_dir(src_dir).iterdir():
            dest = tmp_path / dest_dir / src.name
            assert os.access(dest, os.X_OK), dest
            if b"python" in src.read_bytes().split(b"\n", 1)[0]:
                assert dest.read_text().startswith("#!/usr/bin/python3\n"), dest
    for dest in LAUNCHERS:
        assert (tmp_path / dest).read_text().startswith("#!/usr/bin/python3\n")
    assert not (tmp_path / "usr/lib64").exists()
    assert {str(p.relative_to(tmp_path)) for p in (tmp_path / "usr/lib/heartbeat").iterdir()} == {
        dest for dest in SYMLINKS if dest.startswith("usr/lib/")}


def test_scripts_come_from_inside_the_package_when_built_and_from_the_checkout_otherwise(tmp_path, monkeypatch):
    package, checkout = tmp_path / "site/heartbeat", tmp_path / "checkout"
    (package / "rc.d").mkdir(parents=True)
    (checkout / "rc.d").mkdir(parents=True)
    (checkout / "resource.d").mkdir()
    monkeypatch.setattr(install_module, "PACKAGE", package)
    monkeypatch.setattr(install_module, "REPO", checkout)
    assert shipped_dir("rc.d") == package / "rc.d"
    assert shipped_dir("resource.d") == checkout / "resource.d"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        shipped_dir("nowhere")


def test_el_layout_links_every_helper_where_2_1_4_kept_it(tmp_path):
    install(tmp_path, "/usr/bin/python3", el=True)
    assert set(EL_HELPERS) == {"heartbeat", "findif", "send_arp", "ResourceManager", "mach_down",
                               "req_resource", "hb_standby", "hb_takeover"}
    for libdir in EL_LIBDIRS:
        for name, target in EL_HELPERS.items():
            assert os.readlink(tmp_path / libdir / name) == target
            assert (tmp_path / target.lstrip("/")).is_file()
    assert (tmp_path / "usr/lib/systemd/system/heartbeat.service").is_file()
    assert not (tmp_path / "lib").exists()


def test_package_path_reaches_launchers_and_resource_scripts(tmp_path):
    # staged with this checkout's path, run by an interpreter that has no
    # pyheartbeat installed: -I keeps site-packages' editable installs and
    # PYTHONPATH out, so only the inserted path can provide the package
    install(tmp_path, f"{sys.executable} -I", package_path=REPO)
    for script in ("etc/ha.d/resource.d/IPaddr", "etc/ha.d/resource.d/Delay"):
        done = subprocess.run([tmp_path / script], cwd="/", capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and done.stdout.startswith("usage: "), done.stderr
    done = subprocess.run([tmp_path / "usr/libexec/heartbeat/heartbeat", "-V"], cwd="/",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "pyheartbeat" in done.stdout, done.stderr


def test_the_init_script_has_the_headers_chkconfig_and_insserv_read(tmp_path):
    install(tmp_path, "/usr/bin/python3")
    text = (tmp_path / "etc/init.d/heartbeat").read_text()
    # chkconfig: runlevels ("-": off until `chkconfig heartbeat on`), start and stop priorities
    # as 2.1.4's; chkconfig also wants a description
    assert re.search(r"^# chkconfig: - 75 05$", text, re.M)
    assert re.search(r"^# description: \S", text, re.M)
    lsb = re.search(r"^### BEGIN INIT INFO\n((?:#.*\n)+?)### END INIT INFO$", text, re.M)
    fields = dict(re.match(r"# ([A-Za-z-]+):\s*(.*)", line).groups() for line in lsb.group(1).splitlines()
                  if re.match(r"# [A-Za-z-]+:", line))
    assert fields["Provides"] == "heartbeat" and "$network" in fields["Required-Start"]
    # the header sits in comments before any code runs
    assert text.index("### END INIT INFO") < text.index("import sys")
