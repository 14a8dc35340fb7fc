"""`make install` copies the code (issue 8 row 14: it was an editable install, so
root ran code from the checkout, which whoever owns the checkout can change), and
installs nothing the daemon does not need."""

from __future__ import annotations

import shutil
import subprocess

from heartbeat.tools.install import REPO

from .tree import add_example_config, check_config, clean_env, copy_source, make_venv, run, site_packages


def test_make_install_copies_the_code_so_the_checkout_can_go(tmp_path):
    source = copy_source(tmp_path / "checkout")
    python = make_venv(tmp_path / "venv")
    before = {p.name for p in site_packages(python).iterdir()}
    root = tmp_path / "root"
    # no build isolation: setuptools and wheel come from the host, nothing is downloaded
    run(["make", "-C", source, "install", f"PYTHON={python}", f"DESTDIR={root}",
         "PIP_INSTALL_FLAGS=--no-build-isolation"], env=clean_env())
    added = {p.name for p in site_packages(python).iterdir()} - before
    # the package itself and nothing else: no test tools, no editable-install hooks
    assert {name.split("-")[0] for name in added} == {"heartbeat", "pyheartbeat"}, added
    assert not [name for name in added if name.endswith(".pth") or "editable" in name]
    # whoever owned the checkout can no longer change what root runs: it is gone
    shutil.rmtree(source)
    check_config(root, add_example_config(root))


def test_make_install_runs_no_package_manager_and_no_test_install():
    dry = subprocess.run(["make", "-n", "install"], cwd=str(REPO),
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    for word in ("apt-get", "dpkg", "pytest", "hypothesis", " -e ", "--editable"):
        assert word not in dry.stdout, word
