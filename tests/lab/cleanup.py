"""Remove what dead lab runs left behind: ``python3 -m tests.lab.cleanup``.

Only namespaces and state directories named ``pyhb<pid>x<n>...`` whose owner
pid is gone are removed, with the processes inside them (by PID).
"""

import os
import sys

from .teardown import remove_leftovers


def main() -> int:
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    return 1 if remove_leftovers() else 0


if __name__ == "__main__":
    sys.exit(main())
