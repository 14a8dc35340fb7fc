"""pyheartbeat: a drop-in replacement for Linux-HA Heartbeat in v1 (haresources) mode."""

__version__ = "0.1.0"

# The version admins and peers see (log banner, API `hbversion`, `heartbeat -V`):
# the protocol and behaviour we reproduce, with our own identity where the
# original printed its source-control id.
COMPAT_VERSION = "3.0.6"
VERSION_STRING = f"{COMPAT_VERSION} (pyheartbeat {__version__})"
