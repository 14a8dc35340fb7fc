"""What the agents share: OCF exit codes, their log, and the legacy ``resource.d`` wrapper.

The original's ``resource.d/IPaddr`` (and friends) map the haresources arguments to
``OCF_RESKEY_*`` and run the OCF agent; ``status`` becomes the agent's ``monitor``, and
the agent's exit code becomes a message that is both logged and printed, with two blanks
after the colon (spec §15.1). ResourceManager judges ``status`` by that text.

Tags: the agent's own lines read ``IPaddr(IPaddr_192.0.2.100)[pid]``; the wrapper's
result lines carry the OCF agent's path,
``/usr/lib/ocf/resource.d//heartbeat/IPaddr(IPaddr_192.0.2.100)[pid]`` (3.0.6), and
``IPaddr[pid]`` in 2.1.4 style. Both run in one process here, so they share a pid.
"""

from __future__ import annotations

import os
import sys

from heartbeat.resources.scriptenv import STYLE_214, ScriptLog, log_style, with_defaults

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import NoReturn, TextIO
    from collections.abc import Mapping

SUCCESS = 0
ERR_GENERIC = 1
ERR_ARGS = 2
ERR_UNIMPLEMENTED = 3
ERR_PERM = 4
ERR_INSTALLED = 5
ERR_CONFIGURED = 6
NOT_RUNNING = 7

# agent rc -> what the wrapper logs and prints ("INFO:  Running OK" for monitor/status)
RESULTS: dict[int, str] = {
    SUCCESS: "INFO:  Success",
    ERR_GENERIC: "ERROR:  Generic error",
    ERR_ARGS: "ERROR:  Illegal argument",
    ERR_UNIMPLEMENTED: "ERROR:  Function unimplemented",
    ERR_PERM: "ERROR:  User had insufficient privilege",
    ERR_INSTALLED: "ERROR:  Program is not installed",
    ERR_CONFIGURED: "ERROR:  Program is not configured",
    NOT_RUNNING: "INFO:  Resource is stopped",
}
RUNNING_OK = "INFO:  Running OK"
LEGAL_ACTIONS = "(start|stop|status|usage|meta-data)"


def exit_now(rc: int) -> NoReturn:
    """End a ``resource.d`` script with ``rc`` once its output is flushed, skipping the
    interpreter's teardown: freeing every module costs CPU time that ResourceManager,
    waiting for the exit before the next resource, would wait for.
    Nothing else is left to do: agents write their logs unbuffered and close their files."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(rc & 0xFF)


class AgentFailure(Exception):
    """Ends an action with ``rc`` after ``message`` was logged as an error (if any);
    ``exit_reason`` reports it the way ocf_exit_reason does."""

    def __init__(self, rc: int, message: str = "", exit_reason: bool = False):
        super().__init__(message)
        self.rc, self.message, self.exit_reason = rc, message, exit_reason


class Agent:
    """One OCF agent run: its parameters (``OCF_RESKEY_*`` without the prefix), environment,
    log and stdout. Subclasses define ``TYPE`` and the actions start, stop and monitor."""

    TYPE = ""

    def __init__(self, params: Mapping[str, str], env: Mapping[str, str], instance: str,
                 stdout: TextIO, log: ScriptLog | None = None):
        self.params = dict(params)
        self.env = env
        self.instance = instance
        self.stdout = stdout
        self.log = log or ScriptLog(env, self.TYPE, instance)

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name) or default

    def probe(self, action: str) -> bool:
        """ocf_is_probe: a monitor with interval 0, which ocf-shellfuncs makes the default,
        so every legacy status is a probe."""
        return action == "monitor" and self.params.get("CRM_meta_interval", "0") == "0"

    @property
    def search_path(self) -> str:
        """Where the commands an agent needs are looked for (check_binary)."""
        return self.env.get("PATH") or os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")

    @property
    def rsctmp(self) -> str:
        return self.env.get("HA_RSCTMP") or "/run/resource-agents"

    def pseudo_state(self, name: str) -> str:
        """ha_pseudo_resource's tracking file: agents with nothing to look at remember
        "started" as a file in $HA_RSCTMP."""
        return os.path.join(self.rsctmp, name)

    def pseudo_start(self, name: str) -> bool:
        try:
            os.makedirs(self.rsctmp, exist_ok=True)
            open(self.pseudo_state(name), "a").close()
        except OSError:
            return False
        return True

    def pseudo_stop(self, name: str) -> bool:
        try:
            os.unlink(self.pseudo_state(name))
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def pseudo_running(self, name: str) -> bool:
        return os.path.isfile(self.pseudo_state(name))

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def exit_reason(self, message: str) -> None:
        """ocf_exit_reason: a ``ocf-exit-reason:`` line on stderr for the cluster manager,
        and an ERROR line in the log."""
        prefix = self.env.get("OCF_EXIT_REASON_PREFIX") or "ocf-exit-reason:"
        sys.stderr.write(f"{prefix}{message}\n")
        sys.stderr.flush()
        self.log.log(f"ERROR: {message}")

    def run(self, action: str) -> int:
        try:
            return getattr(self, action)()
        except AgentFailure as e:
            if e.message and e.exit_reason:
                self.exit_reason(e.message)
            elif e.message:
                self.log.ocf_log("err", e.message)
            return e.rc


def wrapper_log(env: Mapping[str, str], argv0: str, ocf_type: str, instance: str) -> ScriptLog:
    if log_style(env) == STYLE_214:
        return ScriptLog(env, os.path.basename(argv0), instance)
    root = env.get("OCF_ROOT") or "/usr/lib/ocf"
    return ScriptLog(env, f"{root}/resource.d//heartbeat/{ocf_type}", instance)


class Wrapper:
    """The legacy wrapper around one agent class: argument mapping is the caller's job."""

    def __init__(self, agent: type[Agent], argv0: str, usage: str, usage_exits: bool = True,
                 environ: Mapping[str, str] | None = None, stdout: TextIO | None = None):
        self.agent = agent
        self.argv0 = argv0
        self.usage_line = usage.replace("$0", argv0) + " " + LEGAL_ACTIONS
        # IPaddr2's usage() only prints; the others' exits 1
        self.usage_exits = usage_exits
        self.env = with_defaults(os.environ if environ is None else environ)
        self.stdout = stdout or sys.stdout

    def usage(self) -> int:
        self.stdout.write(self.usage_line + "\n")
        self.stdout.flush()
        return 1

    def run(self, params: Mapping[str, str], instance: str, op: str) -> int:
        """``params`` are what the wrapper maps from its arguments; other ``OCF_RESKEY_*``
        of the environment reach the agent too, as they do the original's."""
        log = wrapper_log(self.env, self.argv0, self.agent.TYPE, instance)
        prefix = "OCF_RESKEY_"
        params = {**{k[len(prefix):]: v for k, v in self.env.items() if k.startswith(prefix)}, **params}

        def log_and_print(text: str) -> None:
            log.log(text)
            self.stdout.write(text + "\n")
            self.stdout.flush()

        if not op:
            log_and_print("ERROR: No action specfied.")
            self.usage()
            return 1
        if op in ("start", "stop", "monitor", "status"):
            agent = self.agent(params, self.env, instance, self.stdout)
            rc = agent.run("monitor" if op == "status" else op)
        elif op in ("usage", "help"):
            self.usage()
            if self.usage_exits:
                return 1
            rc = SUCCESS
        else:
            log_and_print(f"ERROR: Unknown operation: {op}")
            self.usage()
            return 1
        if rc == SUCCESS and op in ("monitor", "status"):
            log_and_print(RUNNING_OK)
        elif rc in RESULTS:
            log_and_print(RESULTS[rc])
        else:
            log_and_print(f"ERROR:  Unknown error: {rc}")
            return 1
        return rc
