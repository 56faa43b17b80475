"""The system's processes as the operating system sees them: which node each one runs, its CPU.

A ROS node's process is recognised by the remapping arguments the launcher
gives it (``-r __node:=NAME -r __ns:=NAMESPACE``), the same way ``ros2 node``
tools would name it; respawned processes of one node are told apart by pid.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

import psutil

from sentinel_scenarios.event_log import CpuRecord


def node_name(cmdline: Sequence[str]) -> str | None:
    """The fully qualified node name a command line starts, or None for other processes."""
    name, namespace = None, '/'
    for argument in cmdline:
        if argument.startswith('__node:='):
            name = argument.split(':=', 1)[1]
        elif argument.startswith('__ns:='):
            namespace = argument.split(':=', 1)[1]
    if name is None:
        return None
    return f'{namespace.rstrip("/")}/{name}'


def _descendants(roots: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in roots:
        try:
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def node_processes(roots: Sequence[int]) -> dict[str, psutil.Process]:
    """The live process of each node among the descendants of ``roots`` (and the roots)."""
    nodes = {}
    for process in _descendants(roots):
        try:
            name = node_name(process.cmdline())
            if name is not None and process.status() != psutil.STATUS_ZOMBIE:
                nodes[name] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return nodes


def kill_node(roots: Sequence[int], node: str) -> int:
    """SIGKILL the process running ``node``; returns its pid. Raises LookupError if none runs."""
    process = node_processes(roots).get(node)
    if process is None:
        raise LookupError(f'no running process of {node}')
    os.kill(process.pid, signal.SIGKILL)
    return process.pid


class CpuMeter:
    """CPU time per node process since :meth:`start`, sampled now and then.

    Counting from the start of the measured part leaves out the nodes' start-up
    (imports, model loading), which would otherwise dominate a short run. A
    killed process's CPU after its last sample is lost, so sample often enough
    for the figures' purpose (which node costs what), not for accounting.
    """

    def __init__(self) -> None:
        self._latest: dict[int, CpuRecord] = {}
        self._baseline: dict[int, float] = {}

    def start(self, roots: Sequence[int]) -> None:
        """Count from now on."""
        self.sample(roots)
        self._baseline = {pid: record.cpu for pid, record in self._latest.items()}

    def sample(self, roots: Sequence[int]) -> None:
        for node, process in node_processes(roots).items():
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self._latest[process.pid] = CpuRecord(node, process.pid, times.user + times.system)

    def records(self) -> list[CpuRecord]:
        return [CpuRecord(r.node, r.pid, r.cpu - self._baseline.get(r.pid, 0.0))
                for r in self._latest.values()]
