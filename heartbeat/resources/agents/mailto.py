"""MailTo: mail a notice when a group moves (spec §15.5), and its resource.d wrapper.

``resource.d/MailTo email [subject] start|stop|status`` (haresources
``MailTo::root::Web server``). resource-agents 4.12's MailTo: start mails "<subject>
Takeover in progress at <date> on <node>", stop (always, running or not) "<subject>
Migrating resource away at <date> from <node>", through ``mail -s``; the result of mail is
ignored; status answers from a tracking file. The mail program is ``$MAILCMD`` (``mail``)
and must exist, as the original checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from heartbeat.resources.agents.ocf import ERR_CONFIGURED, ERR_GENERIC, ERR_INSTALLED, NOT_RUNNING, SUCCESS, Agent, \
    AgentFailure, Wrapper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Mapping

DEFAULT_SUBJECT = "Resource Group"
AGENT_PATH = "/usr/lib/ocf/resource.d//heartbeat/MailTo"  # the $0 the original's mail body quotes


def date_text(when: float) -> str:
    """`date` in the C locale: ``Wed Dec  2 06:25:50 UTC 2026``."""
    t = time.localtime(when)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S %Z %Y", t)


def subject_line(subject: str) -> str:
    """A subject of fewer than two characters is replaced; blanks are squeezed (`echo $@`)."""
    words = subject.split()
    return " ".join(words) if len(subject) >= 2 else DEFAULT_SUBJECT


class MailTo(Agent):
    TYPE = "MailTo"
    clock = staticmethod(time.time)

    @property
    def state(self) -> str:
        return f"MailTo_{self.instance}"

    def monitor(self) -> int:
        if self.pseudo_running(self.state):
            self.say("running")
            return SUCCESS
        self.say("stopped")
        return NOT_RUNNING

    def notify(self, what: str, action: str) -> None:
        email = self.param("email")
        if not email:
            raise AgentFailure(ERR_CONFIGURED, "At least 1 Email address has to be given!", exit_reason=True)
        program = self.env.get("MAILCMD") or "mail"
        path = self.search_path
        found = shutil.which(program, path=path)
        if found is None:
            raise AgentFailure(ERR_INSTALLED, f"Setup problem: couldn't find command: {program}", exit_reason=True)
        subject = f"{subject_line(self.param('subject', DEFAULT_SUBJECT))} {what} at {date_text(self.clock())} " \
                  f"{'on' if action == 'start' else 'from'} {os.uname().nodename}"
        body = f"        {subject}\n \n        Command line was:\n        {AGENT_PATH} {action}\n"
        # the mail program's failure goes unnoticed, as in the original
        subprocess.run([found, "-s", subject, email], input=body.encode(),
                       env={**os.environ, "PATH": path})

    def start(self) -> int:
        self.notify("Takeover in progress", "start")
        return SUCCESS if self.pseudo_start(self.state) else ERR_GENERIC

    def stop(self) -> int:
        self.notify("Migrating resource away", "stop")
        return SUCCESS if self.pseudo_stop(self.state) else ERR_GENERIC


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/MailTo email [subject] OP``."""
    argv = sys.argv if argv is None else argv
    out = stdout or sys.stdout
    wrapper = Wrapper(MailTo, argv[0], "Usage: $0 <email> [<subject>]", environ=environ, stdout=out)
    args = argv[1:]
    if len(args) < 2:
        out.write("At least 1 Email address has to be given!\n")
        return wrapper.usage()
    if len(args) > 3:
        out.write(f"Additional parameters found: {len(args)} but max. 3 are allowed!\n")
        return wrapper.usage()
    params = dict(zip(("email", "subject"), args[:-1]))
    return wrapper.run(params, "MailTo", args[-1])
