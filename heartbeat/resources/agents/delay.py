"""Delay: a pseudo resource that only waits (spec §15.5), and its resource.d wrapper.

``resource.d/Delay [start [stop]] start|stop|status`` (haresources ``Delay::5::2``).
resource-agents 4.12's Delay: the wrapper defaults the start delay to 10 s, the agent
the stop delay to 30 s and, quirk included, sleeps a monitor delay of 30 s on every
``status`` before answering from its tracking file.
"""

from __future__ import annotations

import os
import re
import sys
import time

from heartbeat.resources.agents.ocf import ERR_ARGS, ERR_PERM, NOT_RUNNING, SUCCESS, Agent, AgentFailure, Wrapper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Mapping

DEFAULTS = {"startdelay": "20", "stopdelay": "30", "mondelay": "30"}
WRAPPER_START_DELAY = "10"


def valid_number(text: str) -> bool:
    """What the original's two greps accept: digits and at most one dot (empty included)."""
    return bool(re.fullmatch(r"[0-9.]*", text)) and text.count(".") <= 1


class Delay(Agent):
    TYPE = "Delay"
    sleep = staticmethod(time.sleep)

    def delay(self, name: str) -> str:
        return self.params.get(name, DEFAULTS[name])

    @property
    def state(self) -> str:
        return f"Delay_{self.instance}"

    def validate(self) -> None:
        if not all(valid_number(self.delay(name)) for name in DEFAULTS):
            raise AgentFailure(ERR_ARGS, "Some of the instance parameters are invalid", exit_reason=True)

    def wait(self, name: str) -> None:
        seconds = self.delay(name)
        if seconds:
            self.sleep(float(seconds))

    def change(self, to_running: bool, unchanged: str, step: Callable[[str], bool], wait: str) -> int:
        if self.pseudo_running(self.state) == to_running:
            self.log.ocf_log("info", unchanged)
            return SUCCESS
        self.validate()
        ok = step(self.state)
        self.wait(wait)
        return SUCCESS if ok else ERR_PERM

    def start(self) -> int:
        return self.change(True, "Delay already running.", self.pseudo_start, "startdelay")

    def stop(self) -> int:
        return self.change(False, "Delay already stopped.", self.pseudo_stop, "stopdelay")

    def monitor(self) -> int:
        self.validate()
        self.wait("mondelay")
        if self.pseudo_running(self.state):
            self.log.ocf_log("info", "Delay is running OK")
            return SUCCESS
        self.log.ocf_log("info", "Delay is stopped")
        return NOT_RUNNING


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/Delay [startdelay [stopdelay]] OP``."""
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    wrapper = Wrapper(Delay, argv[0], "usage: $0 [delay [stopdelay]]", environ=env, stdout=stdout)
    args = argv[1:]
    if not 1 <= len(args) <= 3:
        return wrapper.usage()
    params = dict(zip(("startdelay", "stopdelay"), args[:-1]))
    params["startdelay"] = params.get("startdelay") or env.get("OCF_RESKEY_startdelay") or WRAPPER_START_DELAY
    return wrapper.run(params, f"Delay_{params['startdelay']}", args[-1])
