"""The links between nodes: every ha.cf medium line opened as a :class:`Medium`.

``open_media`` opens them in file order, logging what 3.0.6 logs; the daemon
then hands every serialized message to ``send`` of each medium and gets every
datagram read back through ``receive(link name, bytes)``.
"""

from __future__ import annotations

import os

from heartbeat.core.auth import Authenticator
from heartbeat.config.hacf import Bcast, HaCf, Mcast, Ping, PingGroup, Serial, Ucast
from heartbeat.config.hacf import Medium as MediumConfig
from heartbeat.daemon.log import DaemonLog
from heartbeat.daemon.media.base import PLUGIN_PREFIX, Medium, MediumError, Receive, WriteErrors
from heartbeat.daemon.media.ping import open_ping
from heartbeat.daemon.media.serial import open_serial
from heartbeat.daemon.media.udp import open_bcast, open_mcast, open_ucast

__all__ = ["Medium", "MediumError", "WriteErrors", "open_media", "open_medium"]

# the medium type names 3.0.6 prints ("write failure on ucast eth0")
KINDS = {Bcast: "bcast", Mcast: "mcast", Ucast: "ucast", Ping: "ping", PingGroup: "ping_group", Serial: "serial"}


async def open_medium(config: HaCf, medium: MediumConfig, authenticator: Authenticator, log: DaemonLog,
                      receive: Receive, pid: int) -> Medium:
    port = config.udpport
    if isinstance(medium, Bcast):
        return await open_bcast(medium.iface, port, log, receive)
    if isinstance(medium, Mcast):
        return await open_mcast(medium.iface, medium.group, medium.port, medium.ttl, medium.loop, log, receive)
    if isinstance(medium, Ucast):
        return await open_ucast(medium.iface, medium.peer, port, log, receive)
    if isinstance(medium, Ping):
        return open_ping("ping", medium.host, (medium.host,), authenticator, log, receive, pid)
    if isinstance(medium, PingGroup):
        return open_ping("ping_group", medium.name, medium.hosts, authenticator, log, receive, pid)
    if isinstance(medium, Serial):
        return open_serial(medium.device, config.baud, authenticator, log, receive)
    raise TypeError(f"not a medium: {medium!r}")


async def open_media(config: HaCf, authenticator: Authenticator, log: DaemonLog, receive: Receive,
                     *, pid: int | None = None) -> list[Medium]:
    """Every medium of ``config``; on a failure the ones opened are closed and MediumError raised.

    ``pid`` (default: this process) becomes the ICMP identifier of the ping media,
    as the pid of the process that read ha.cf does in 3.0.6.
    """
    pid = os.getpid() if pid is None else pid
    opened: list[Medium] = []
    try:
        for medium in config.media:
            opened.append(await open_medium(config, medium, authenticator, log, receive, pid))
    except (MediumError, OSError) as e:
        for m in opened:
            m.close()
        text = str(e) if isinstance(e, MediumError) else f"{medium.link}: {e.strerror or e}"
        log.error(PLUGIN_PREFIX + text)
        log.error(f"make_io_childpair: cannot open {KINDS[type(medium)]} {medium.link}")
        raise MediumError(text) from e
    return opened
