"""Which resource and event script names may be looked up: a rule of haresources (checked
when the file is read) and of the scripts that run them (harc, ResourceManager)."""

from __future__ import annotations

import re

# A script name is a file looked up in resource.d, then in the init directory. It must
# stay inside them (no '/', no '..'), must not read as an option (leading '-') and holds
# nothing a shell would interpret if a script ever used it unquoted.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@,-]*")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` may be looked up as a resource or event script."""
    return _PLAIN_NAME.fullmatch(name) is not None


def script_name_problem(token: str, script: str) -> str | None:
    """Why the script name of ``token`` cannot be looked up, or None."""
    if is_plain_name(script):
        return None
    return f"resource [{token}]: script name [{script}] is not a plain file name"
