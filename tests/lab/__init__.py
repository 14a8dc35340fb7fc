"""Namespace lab for pyheartbeat's integration tests; see README.md."""

from .capture import Capture, Frame
from .lab import CommandError, Lab, Node, Process, Switch, mac_for, wait_for

__all__ = ["Capture", "CommandError", "Frame", "Lab", "Node", "Process", "Switch", "mac_for", "wait_for"]
