"""The metadata is in setup.cfg; this only puts the event and resource scripts
into the built package.

rc.d/ and resource.d/ stay at the top of the source tree (the layout of
/etc/ha.d that admins know); a wheel, and so every installed copy, carries them
inside heartbeat/, where heartbeat.tools.install.shipped_dir looks first.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

# heartbeat.tools.install.TREES' keys; tests/packaging/test_wheel.py checks the wheel has every file of each
SCRIPT_DIRS = ("rc.d", "resource.d")


class BuildPyWithScripts(build_py):
    def run(self):
        super().run()
        for name in SCRIPT_DIRS:
            self.copy_tree(name, os.path.join(self.build_lib, "heartbeat", name))


setup(cmdclass={"build_py": BuildPyWithScripts})
