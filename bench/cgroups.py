"""CPU and memory limits for the processes a benchmark starts (cgroup v1, as root).

One `Limits` is a folder under the cpu controller (and under the memory and cpuacct
controllers when they are writable), each a child of this process's own cgroup there. Only processes
that call `join()` (a server's preexec hook, in the child before exec) are moved into it;
their children inherit it. `remove()` deletes the folders once they are empty.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000


class NoCpuController(RuntimeError):
    """The machine offers no writable cgroup v1 cpu controller to this process."""


def v1_mount(controller: str, mountinfo: str | None = None) -> Path | None:
    """Where the cgroup v1 hierarchy holding `controller` is mounted, if anywhere."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    for line in text.splitlines():
        fields, _, tail = line.partition(" - ")
        parts = tail.split()
        if len(parts) >= 3 and parts[0] == "cgroup" and controller in parts[2].split(","):
            return Path(fields.split()[4])
    return None


def own_path(controller: str, proc_cgroup: str | None = None) -> str:
    """This process's cgroup path in the v1 hierarchy holding `controller` ("/" if none)."""
    text = proc_cgroup if proc_cgroup is not None else Path("/proc/self/cgroup").read_text()
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return "/"


def _make(controller: str, name: str) -> Path | None:
    mount = v1_mount(controller)
    if mount is None:
        return None
    folder = mount / own_path(controller).lstrip("/") / name
    folder.mkdir(exist_ok=controller == "cpuacct" and mount == v1_mount("cpu"))
    return folder


@dataclass
class Limits:
    """A cpu cgroup and, where allowed, a memory cgroup for the processes that join."""

    cpu: Path
    memory: Path | None
    memory_note: str = ""
    cpuacct: Path | None = None

    @classmethod
    def create(cls, name: str) -> Limits:
        """Make the folders; raises NoCpuController with the reason when that cannot be done."""
        try:
            cpu = _make("cpu", name)
            if cpu is not None:
                (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        except OSError as error:
            raise NoCpuController(
                f"cannot create a cgroup under the cpu controller ({error}); "
                "this benchmark needs cgroup v1 and root"
            ) from error
        if cpu is None:
            raise NoCpuController(
                "no cgroup v1 cpu controller is mounted (see /proc/self/mountinfo); "
                "on a cgroup v2-only machine this benchmark cannot set CPU quotas"
            )
        try:
            memory, note = _make("memory", name), ""
            if memory is None:
                note = "no cgroup v1 memory controller: memory not limited"
        except OSError as error:
            memory, note = None, f"memory controller not writable ({error}): memory not limited"
        try:
            cpuacct = _make("cpuacct", name)
        except OSError:
            cpuacct = None
        return cls(cpu, memory, note, cpuacct)

    def set(self, vcpu: float, memory_mib: int | None) -> None:
        """Quota of `vcpu` CPUs per period; a memory limit (no swap beyond it) if possible."""
        (self.cpu / "cpu.cfs_quota_us").write_text(str(round(vcpu * PERIOD_US)))
        if self.memory is None or memory_mib is None:
            return
        limit = str(memory_mib * 1024 * 1024)
        (self.memory / "memory.limit_in_bytes").write_text(limit)
        swap = self.memory / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(limit)

    def set_cpu(self, vcpu: float) -> None:
        """Only the CPU quota: what startup CPU boost changes while an instance starts."""
        (self.cpu / "cpu.cfs_quota_us").write_text(str(round(vcpu * PERIOD_US)))

    def join(self) -> None:
        """Move the calling process in (run it in the child, before exec)."""
        pid = str(os.getpid())
        (self.cpu / "cgroup.procs").write_text(pid)
        for folder in (self.memory, self.cpuacct):
            if folder is not None and folder != self.cpu:
                (folder / "cgroup.procs").write_text(pid)

    def oom_kills(self) -> int:
        """Processes the kernel has OOM-killed in the memory cgroup so far."""
        if self.memory is None:
            return 0
        for line in (self.memory / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_mib(self) -> float | None:
        """The memory cgroup's peak charge (RSS and page cache) since the last reset."""
        if self.memory is None:
            return None
        return int((self.memory / "memory.max_usage_in_bytes").read_text()) / 2**20

    def reset_peak(self) -> None:
        if self.memory is not None:
            (self.memory / "memory.max_usage_in_bytes").write_text("0")

    def cpu_seconds(self) -> float | None:
        """CPU time the members have used since the last reset (cpuacct), if known."""
        if self.cpuacct is None:
            return None
        return int((self.cpuacct / "cpuacct.usage").read_text()) / 1e9

    def reset_cpu(self) -> None:
        if self.cpuacct is not None:
            (self.cpuacct / "cpuacct.usage").write_text("0")

    def members(self) -> list[int]:
        """Process ids now in the cpu cgroup."""
        return [int(pid) for pid in (self.cpu / "cgroup.procs").read_text().split()]

    def empty(self, timeout: float = 15.0) -> None:
        """Wait for every member to exit; SIGKILL stragglers (they are ours) after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove(self) -> None:
        """Empty the cgroups and delete their folders."""
        self.empty()
        for folder in {self.cpu, self.memory, self.cpuacct}:
            if folder is not None and folder.exists():
                folder.rmdir()
