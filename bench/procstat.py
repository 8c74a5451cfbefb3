"""CPU time of the platform's processes from /proc (Linux): each process found by the loopback port it
listens on, its time as utime + stime from /proc/<pid>/stat, plus what its reaped children used (cutime +
cstime) where a group's children come and go (Postgres backends)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any local address, IPv4 or IPv6)."""
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def listener(port: int) -> int | None:
    """The process that holds the listening socket of `port` (the lowest pid if several share it)."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not wanted:
        return None
    found = [pid for pid in pids() if _holds(pid, wanted)]
    return min(found) if found else None


def _holds(pid: int, wanted: set[str]) -> bool:
    """Whether one of the process's descriptors is one of `wanted`. A descriptor closed while they are read
    is skipped, not the process: a broker with thousands of connections opens and closes some every moment
    (the benchmark once found no process listening for Kafka because one of its sockets closed mid-scan)."""
    try:
        fds = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in wanted:
                return True
        except OSError:
            continue
    return False


def _fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first), or None once the process is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime + stime, cutime + cstime) in clock ticks, or None once the process is gone."""
    fields = _fields(pid)
    if fields is None:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session(pid: int) -> int | None:
    fields = _fields(pid)
    return None if fields is None else int(fields[3])


def age(pid: int | None) -> float | None:
    """Seconds since the process started (None if it is not there): a Kafka broker's code runs slower for
    its first minutes under load, while the JVM compiles it (Kafka's CPU a sale at 23/s was 9.2-10.5 ms in
    the first run on a new broker, 6.1-7.6 after), so a figure from a young broker overstates the
    platform's CPU."""
    fields = None if pid is None else _fields(pid)
    if fields is None:
        return None
    uptime = float((PROC / "uptime").read_text().split()[0])
    return round(uptime - int(fields[19]) / TICKS, 1)


@dataclass
class Group:
    """Processes counted as one row: `roots` and, with `children`, their direct children (alive now), plus
    the CPU of children the roots have reaped. With `only`, just the live children whose command line
    matches it (a breakdown of another row: `part_of`)."""

    name: str
    roots: list[int]
    children: bool = False
    platform: bool = True
    note: str = ""
    only: re.Pattern[str] | None = None
    part_of: str | None = None
    tracked: set[int] = field(default_factory=set)

    def ticks(self) -> int:
        total = 0
        parents = set(self.roots)
        if self.only is None:
            for pid in self.roots:
                got = stat(pid)
                if got is not None:
                    total += got[1] + (got[2] if self.children else 0)
        if self.children:
            for pid in pids():
                got = stat(pid)
                if got is None or got[0] not in parents:
                    continue
                if self.only is not None and not self.only.search(cmdline(pid)):
                    continue
                total += got[1]
                self.tracked.add(pid)
        return total


class CpuMeter:
    """Snapshots of every group's CPU ticks and of the whole machine's (/proc/stat), for deltas."""

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups

    def snapshot(self) -> dict[str, int]:
        taken = {group.name: group.ticks() for group in self.groups}
        cpu = (PROC / "stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in cpu]
        idle = values[3] + values[4]  # idle + iowait
        taken["(machine busy)"] = sum(values[:8]) - idle
        return taken

    @staticmethod
    def seconds(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
        return {name: (after[name] - before[name]) / TICKS for name in after}


def platform_groups(
    service_ports: dict[str, int], infra_ports: dict[str, int], smtp_port: int
) -> list[Group]:
    """The rows: each service (by its port), honcho (make up's supervisor, relaying every service's log
    lines), Kafka, every Postgres process (the postmaster, its background workers and all backends,
    whichever database they serve: the server is shared), Redis, and the SMTP sink (not the platform)."""
    groups: list[Group] = []
    missing = []
    for name, port in service_ports.items():
        pid = listener(port)
        if pid is None:
            missing.append(f"{name} (:{port})")
            continue
        groups.append(Group(name, [pid]))
    if missing:
        raise RuntimeError(f"no process listens for {', '.join(missing)}")
    parent = stat(groups[0].roots[0])  # honcho's forks start each service in a session of its own
    supervisor = session(parent[0]) if parent is not None else None
    honcho = [p for p in pids() if "honcho" in cmdline(p) and session(p) == supervisor]
    if honcho:
        groups.append(Group("honcho", honcho, note="make up's supervisor: relays every service's log lines"))
    for name, port in infra_ports.items():
        pid = listener(port)
        if pid is None:
            raise RuntimeError(f"no process listens for {name} (:{port})")
        groups.append(Group(name, [pid], children=name == "postgres"))
        if name == "postgres":
            databases = "|".join(f"faka_{service}" for service in service_ports)
            groups.append(
                Group(
                    "postgres, the services' backends",
                    [pid],
                    children=True,
                    platform=False,
                    note="live backends of the platform's databases (part of the postgres row; the server is "
                    "shared with other runs)",
                    only=re.compile(rf"^postgres: \S+ ({databases}) "),
                    part_of="postgres",
                )
            )
    sink = listener(smtp_port)
    if sink is not None:
        groups.append(
            Group("smtp sink", [sink], platform=False, note="the buyers' mailbox, not the platform")
        )
    return groups
