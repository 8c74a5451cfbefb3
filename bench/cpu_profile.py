"""Where the services' CPU goes, by CPU time: `python -m bench.cpu_profile`.

1. Start the services with the sampler (bench/cpuprofile/sitecustomize.py):
       PYTHONPATH=bench/cpuprofile FAKA_CPU_PROFILE_DIR=/tmp/cpu bash deploy/local/services.sh start
2. Put load on them (e.g. `python -m bench.e2e --quick --rates 20 --hold 60 --keep-services`) and, while it
   holds, `python -m bench.cpu_profile collect --seconds 20 --out /tmp/cpu/run1`: the stacks each service
   spent its CPU on in those seconds, one file a service.
3. `python -m bench.cpu_profile report /tmp/cpu/run1 --sales 400` (the sales of those seconds: 20 s at
   20/s): each service's sampled CPU (a sale's share when --sales is given) and how it splits by the
   innermost library on the stack (the web stack, the HTTP client, the database, Kafka, Redis, logging...),
   and with --top the functions with the most samples of their own.

The amount is the process's CPU time over the collected seconds (every thread, from the sampler's own
clock); the split is the samples' (the main thread's Python stacks, C code charged to the frame that called
it), so read it as shares of that amount."""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SERVICE = re.compile(r"\buvicorn\s+(\w+)\.entrypoints\.app:app\b")

#: Categories of a sample, by the innermost frame on its stack that matches one (first match wins there).
CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("logging", r"/logging/|faka_common/telemetry/__init__"),
        ("web stack", r"uvicorn/protocols|uvicorn/middleware|/starlette/|/fastapi/|/fast_depends/"),
        ("http client", r"/aiohttp/|/httpx/|/httpcore/|faka_common/http\.py"),
        ("outbox relay", r"faka_common/messaging/relay\.py"),
        ("kafka client", r"/aiokafka/|/faststream/"),
        ("consumer machinery", r"faka_common/messaging/(consumer|lanes|broker)\.py"),
        ("database", r"/sqlalchemy/|/asyncpg/|faka_common/db/"),
        ("redis", r"/redis/"),
        ("metrics", r"/prometheus_client/"),
        ("pydantic", r"/pydantic"),
        ("tracing", r"/opentelemetry/"),
        ("e-mail", r"/aiosmtplib/|/email/|/jinja2/"),
    )
)
#: The event loop's own frames: a sample is the loop's only when one of them is the innermost (they are at
#: the root of every stack).
EVENT_LOOP = re.compile(r"asyncio/(runners|base_events|events)\.py|uvicorn/(server|main)\.py")


@dataclass(frozen=True)
class Profile:
    service: str
    stacks: dict[tuple[str, ...], int]
    cpu_seconds: float = 0.0
    """The process's CPU time while the stacks were counted."""

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())


def read_profile(path: Path) -> Profile:
    """A sampler's file: a line naming the process and one with its CPU seconds, then one collapsed stack and
    its count a line."""
    service, cpu = path.stem, 0.0
    stacks: dict[tuple[str, ...], int] = collections.Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# cpu "):
            cpu = float(line.removeprefix("# cpu "))
        elif line.startswith("#"):
            found = SERVICE.search(line)
            service = found.group(1) if found else service
        else:
            stack, _, count = line.rpartition(" ")
            if stack:
                stacks[tuple(stack.split(";"))] += int(count)
    return Profile(service, dict(stacks), cpu)


def category(stack: Sequence[str]) -> str:
    """The category of the innermost frame that has one ("other": the services' own code and the rest)."""
    if stack and EVENT_LOOP.search(stack[-1]):
        return "event loop"
    for frame in reversed(stack):
        for name, pattern in CATEGORIES:
            if pattern.search(frame):
                return name
    return "other"


def split(profile: Profile) -> list[tuple[str, int]]:
    """Samples by category, most first."""
    counts: collections.Counter[str] = collections.Counter()
    for stack, count in profile.stacks.items():
        counts[category(stack)] += count
    return counts.most_common()


def own_samples(profile: Profile) -> list[tuple[str, int]]:
    """Samples by the function running when they were taken (file and line numbers dropped), most first."""
    counts: collections.Counter[str] = collections.Counter()
    for stack, count in profile.stacks.items():
        counts[re.sub(r":\d+\)$", ")", stack[-1])] += count
    return counts.most_common()


def service_pids() -> dict[int, str]:
    """The running services' processes (uvicorn <service>.entrypoints.app), pid to service name."""
    found: dict[int, str] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        match = SERVICE.search(command)
        if match:
            found[int(entry.name)] = match.group(1)
    return found


def profile_dir(pid: int) -> str | None:
    """Where the process's sampler writes (its FAKA_CPU_PROFILE_DIR), None without a sampler."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"FAKA_CPU_PROFILE_DIR="):
            return entry.split(b"=", 1)[1].decode()
    return None


def collect(seconds: float, out: Path) -> list[Path]:
    """Count afresh in every sampled service, wait `seconds`, and move what each counted to
    out/<service>.txt."""
    sampled: dict[int, tuple[str, str]] = {}
    for pid, name in service_pids().items():
        where = profile_dir(pid)
        if where:
            sampled[pid] = (name, where)
    if not sampled:
        raise SystemExit(
            "no service runs with the sampler; start them with PYTHONPATH=bench/cpuprofile "
            "FAKA_CPU_PROFILE_DIR=<dir> bash deploy/local/services.sh start"
        )
    dumps = {pid: Path(where) / f"{pid}.txt" for pid, (_, where) in sampled.items()}
    for dumped in dumps.values():
        dumped.unlink(missing_ok=True)
    for pid in sampled:
        os.kill(pid, signal.SIGUSR2)  # what was counted before now is written and forgotten
    for pid, dumped in dumps.items():
        _await_dump(dumped, sampled[pid][0], pid)
        dumped.unlink()
    time.sleep(seconds)
    for pid in sampled:
        os.kill(pid, signal.SIGUSR2)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for pid, dumped in dumps.items():
        _await_dump(dumped, sampled[pid][0], pid)
        target = out / f"{sampled[pid][0]}.txt"
        dumped.replace(target)
        written.append(target)
    return written


def _await_dump(path: Path, name: str, pid: int) -> None:
    """Wait for the sampler of `name` to write `path` (it appears whole: written aside, then renamed)."""
    deadline = time.monotonic() + 10
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} (pid {pid}) wrote no profile to {path} within 10 s")
        time.sleep(0.05)


def report(paths: Iterable[Path], sales: float | None, top: int) -> str:
    lines = []
    for path in sorted(paths):
        profile = read_profile(path)
        total = profile.samples
        if not total:
            continue
        cpu = profile.cpu_seconds * 1000
        amount = f"{cpu / sales:.2f} ms a sale" if sales else f"{cpu:.0f} ms"
        parts = ", ".join(f"{name} {100 * count / total:.0f} %" for name, count in split(profile))
        lines.append(f"{profile.service:13s} {amount} ({total} samples): {parts}")
        for function, count in own_samples(profile)[:top]:
            lines.append(f"    {100 * count / total:5.1f} %  {function}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cpu_profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    collecting = commands.add_parser(
        "collect", help="what the sampled services spend their CPU on, for a while"
    )
    collecting.add_argument("--seconds", type=float, default=20.0)
    collecting.add_argument("--out", type=Path, required=True, help="folder for one file a service")
    reporting = commands.add_parser("report", help="each service's CPU split by the library it was spent in")
    reporting.add_argument("folder", type=Path)
    reporting.add_argument("--sales", type=float, help="sales in the collected seconds: CPU given a sale")
    reporting.add_argument("--top", type=int, default=0, help="also the N functions with most samples")
    args = parser.parse_args(argv)
    if args.command == "collect":
        for path in collect(args.seconds, args.out):
            print(path)
    else:
        print(report(args.folder.glob("*.txt"), args.sales, args.top))


if __name__ == "__main__":
    main(sys.argv[1:])
