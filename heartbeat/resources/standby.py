"""hb_standby and hb_takeover: an admin hands resources to the other node or asks for
them (spec §10, §14.7).

``hb_standby [all|foreign|local|failback]`` logs ``Going standby [<set>].`` and sends
``t=ask_resources rsc_hold=<set> info=me``; ``failback`` means ``foreign``.
``hb_takeover [...]`` sends ``t=hb_takeover rsc_hold=<set>`` (``failback`` as is); the
other node's rc.d/hb_takeover then runs ``hb_standby`` with the mirrored set. Both
return at once: the daemon carries out the protocol.

Argument errors print the original's lines: the complaint and ``usage:`` on stdout, the
synopsis on stderr, exit status 1.

Difference: with no daemon reading the FIFO the command fails with an error (exit 1)
instead of hanging.
"""

from __future__ import annotations

import sys

from heartbeat.resources.scriptenv import invocation, send_clustermsg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping

SETS = ("all", "foreign", "local", "failback")


def _usage(prog: str) -> int:
    sys.stdout.write("usage:\n")
    sys.stdout.flush()
    sys.stderr.write(f"{prog} [{'|'.join(SETS)}]\n")
    return 1


def _resource_set(argv: list[str]) -> str | int:
    """The requested set, or the exit status after an argument error."""
    prog = argv[0]
    if len(argv) > 2:
        sys.stdout.write(f"{prog}: too many arguments\n")
        return _usage(prog)
    wanted = argv[1] if len(argv) == 2 else "all"
    if wanted in SETS:
        return wanted
    # `--help` and an empty word only get the synopsis (the original's tests skip them)
    if wanted not in ("--help", ""):
        sys.stdout.write(f"{prog}: wrong resources({wanted}).\n")
    return _usage(prog)


def hb_standby_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, _, env, log = invocation(argv, environ, fixed_ha_dir=True)
    wanted = _resource_set(argv)
    if isinstance(wanted, int):
        return wanted
    wanted = "foreign" if wanted == "failback" else wanted
    log.log(f"Going standby [{wanted}].")
    return send_clustermsg(env, [("t", "ask_resources"), ("rsc_hold", wanted), ("info", "me")])


def hb_takeover_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv, _, env, _ = invocation(argv, environ, fixed_ha_dir=True)
    wanted = _resource_set(argv)
    if isinstance(wanted, int):
        return wanted
    return send_clustermsg(env, [("t", "hb_takeover"), ("rsc_hold", wanted)])
