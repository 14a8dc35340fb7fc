"""The sdist and the wheel: everything an install needs is inside, commands are
console scripts, and a wheel installed into a venv lays out a working node
without this checkout."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from heartbeat import __version__
from heartbeat.tools.install import FILES, LAUNCHERS, TREES, shipped_dir

from .tree import add_example_config, check_config, clean_env, copy_source, make_venv, run, site_packages

CONSOLE_SCRIPTS = {"pyheartbeat-install", "heartbeat", "cl_status", "hb_standby", "hb_takeover", "hb2pcs"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist, then the wheel built from the unpacked sdist (so the sdist is complete)."""
    tmp = tmp_path_factory.mktemp("dist")
    source = copy_source(tmp / "src")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", source], cwd=tmp)
    return tmp / "dist"


def scripts() -> set[str]:
    """rc.d/* and resource.d/* as the source tree has them: at its top level."""
    return {f"{d}/{p.name}" for d in TREES for p in shipped_dir(d).iterdir() if p.is_file()}


def data_files() -> set[str]:
    return {f"heartbeat/{src}" for src in FILES}


def test_the_wheel_holds_the_data_files_and_console_scripts(dist):
    wheel = zipfile.ZipFile(dist / f"pyheartbeat-{__version__}-py3-none-any.whl")
    names = set(wheel.namelist())
    # the scripts inside the package, where an installed copy looks for them
    assert {f"heartbeat/{name}" for name in scripts()} | data_files() <= names
    modules = {target.split(":")[0].replace(".", "/") + ".py" for target in LAUNCHERS.values()}
    assert modules <= names
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(f"pyheartbeat-{__version__}.dist-info/entry_points.txt").decode())
    assert set(entry_points["console_scripts"]) == CONSOLE_SCRIPTS
    metadata = wheel.read(f"pyheartbeat-{__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.9" in metadata
    # nothing beyond the standard library unless asked for (the `test` extra)
    requires = {re.split(r"[<>=!~ ]", line.split(": ", 1)[1])[0] for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert requires == set()


def test_the_sdist_holds_what_rpmbuild_and_the_examples_need(dist):
    with tarfile.open(dist / f"pyheartbeat-{__version__}.tar.gz") as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert scripts() | data_files() <= names
    assert {"setup.py", "packaging/pyheartbeat.spec", "ha.d-examples/ha.cf", "Makefile", "README.md"} <= names


def test_pip_install_then_the_install_step_lays_out_a_working_node(dist, tmp_path):
    python = make_venv(tmp_path / "venv")
    wheel = dist / f"pyheartbeat-{__version__}-py3-none-any.whl"
    run([python, "-m", "pip", "install", "-q", "--no-index", "--ignore-installed", "--no-deps", wheel], cwd="/")
    run([python, "-m", "pip", "check"], cwd="/", env=clean_env())   # its three libraries are there
    imported = run([python, "-I", "-c", "import heartbeat; print(heartbeat.__file__)"], cwd="/").stdout
    assert Path(imported.strip()).parent.parent == site_packages(python)
    root = tmp_path / "root"
    run([tmp_path / "venv/bin/pyheartbeat-install", "--root", root], cwd="/", env=clean_env())
    for dest in LAUNCHERS:
        assert (root / dest).read_text().startswith(f"#!{python}\n"), dest
    assert (root / "etc/ha.d/resource.d/IPaddr").read_text().startswith(f"#!{python}\n")
    check_config(root, add_example_config(root))
    # a resource script imports the installed package: its usage, not an ImportError
    usage = subprocess.run([root / "etc/ha.d/resource.d/IPaddr"], cwd="/", env=clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 1 and usage.stdout.startswith("usage: "), usage.stderr
