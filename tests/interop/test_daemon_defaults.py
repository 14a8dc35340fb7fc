"""`heartbeat -D` and `-D -W` print the defaults table exactly as Debian's 3.0.6 daemon does."""

import subprocess

import pytest

from heartbeat.daemon.main import main
from tests.conftest import REAL_DAEMON

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("flags", [["-D"], ["-D", "-W"]])
def test_defaults_table_is_the_real_daemons(flags, capsys):
    real = subprocess.run([str(REAL_DAEMON), *flags], capture_output=True, text=True, timeout=10)
    assert main(["heartbeat", *flags]) == real.returncode == 0
    assert capsys.readouterr().out == real.stdout
