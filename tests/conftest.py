"""Suite-wide pytest configuration.

Three tiers: tests/unit needs neither root nor the original (run by `make unit`);
tests/netns needs root and builds namespaces; tests/interop runs the original
(Debian's 3.0.6, heartbeat 2.1.3, Pacemaker's tools). Tests under tests/netns/ get the
`netns` marker and are skipped, with the reason, when not run as root (interop modules
that build labs carry the marker themselves); `interop` tests also need Debian's heartbeat.
"""

import os
from pathlib import Path

import pytest

NETNS_TESTS = Path(__file__).resolve().parent / "netns"
REAL_DAEMON = Path("/usr/libexec/heartbeat/heartbeat")


def real_daemon_installed() -> bool:
    # `make install --root /` puts our launcher (a script) there instead
    try:
        with open(REAL_DAEMON, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the markers added here
def pytest_collection_modifyitems(config, items):
    for item in items:
        if NETNS_TESTS in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.netns)
        if item.get_closest_marker("netns") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root: builds network, mount and PID namespaces"))
        elif item.get_closest_marker("interop") and not real_daemon_installed():
            item.add_marker(pytest.mark.skip(reason=f"Debian's heartbeat 3.0.6 is not installed ({REAL_DAEMON})"))
