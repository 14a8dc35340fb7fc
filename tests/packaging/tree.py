"""What the packaging tests share: a copy of this source tree, a throw-away venv,
and the example /etc/ha.d made checkable inside an installed root.

The venv sees the host's site-packages (the daemon's three libraries are there,
so nothing is downloaded), but pyheartbeat itself is always installed into the
venv, and every check runs from `/` with `-I`-clean environments, so the code
that runs is the installed copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from heartbeat.tools.install import REPO

EXAMPLES = REPO / "ha.d-examples"
# not part of a source tree: build output, caches, local venvs, git's own files
IGNORED = shutil.ignore_patterns(".git", "build", "dist", ".venv*", "__pycache__", "*.egg-info",
                                 ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")


def run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    """A command that must succeed; its output in the failure message."""
    kwargs.setdefault("timeout", 300)
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def clean_env() -> dict[str, str]:
    """The environment without anything that would point Python at this checkout."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}


def copy_source(destination: Path) -> Path:
    shutil.copytree(REPO, destination, ignore=IGNORED, symlinks=True)
    return destination


def make_venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", "--system-site-packages", path])
    return path / "bin" / "python"


def site_packages(python: Path) -> Path:
    out = run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd="/")
    return Path(out.stdout.strip())


def add_example_config(root: Path) -> Path:
    """ha.d-examples in root/etc/ha.d, as an admin installs them (authkeys 600), on node1;
    the web server's init script the example names is a stand-in."""
    ha_dir = root / "etc/ha.d"
    for name in ("ha.cf", "authkeys", "haresources"):
        shutil.copy(EXAMPLES / name, ha_dir / name)
    os.chmod(ha_dir / "authkeys", 0o600)
    (ha_dir / "nodeinfo").write_text("node1\n")
    httpd = ha_dir / "resource.d/httpd"
    httpd.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(httpd, 0o755)
    return ha_dir


def check_config(root: Path, ha_dir: Path, interpreter: tuple = (), env: dict | None = None) -> str:
    """`heartbeat -c` of the installed tree against ha_dir, from `/`: its stdout."""
    command = [*interpreter, root / "usr/libexec/heartbeat/heartbeat", "-c", ha_dir]
    done = run(command, cwd="/", env=env or clean_env(), timeout=60)
    assert "configuration OK: 2 nodes, 2 media, 1 resource groups" in done.stdout
    return done.stdout
