"""The CPU-time sampler the services load for `python -m bench.cpu_profile`: it counts the stacks a process
spends CPU on (not the time it waits), writes them on SIGUSR2 and starts afresh; the report splits them by
the library they were spent in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.cpu_profile import Profile, category, collect, read_profile, report, split

SAMPLER = Path(__file__).resolve().parents[2] / "bench" / "cpuprofile"

PROGRAM = textwrap.dedent(
    """
    import os, signal, sys, time

    def busy_in_python(seconds):
        end = time.process_time() + seconds
        n = 0
        while time.process_time() < end:
            n += 1
        return n

    def waiting(seconds):
        time.sleep(seconds)

    busy_in_python(0.2)
    os.kill(os.getpid(), signal.SIGUSR2)  # the first count is written and forgotten
    waiting(0.4)
    busy_in_python(0.3)
    os.kill(os.getpid(), signal.SIGUSR2)
    """
)


def run_sampled(tmp_path: Path) -> tuple[Path, int]:
    env = {**os.environ, "PYTHONPATH": str(SAMPLER), "FAKA_CPU_PROFILE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, "uvicorn", "order.entrypoints.app:app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    files = list(tmp_path.glob("*.txt"))
    assert len(files) == 1, (files, done.stderr)
    return files[0], int(files[0].stem)


def test_the_sampler_counts_cpu_spent_not_time_waited_and_starts_afresh_on_each_dump(tmp_path: Path) -> None:
    path, _ = run_sampled(tmp_path)
    profile = read_profile(path)

    assert profile.service == "order"  # named after the uvicorn app in the process's command line
    busy = sum(count for stack, count in profile.stacks.items() if any("busy_in_python" in f for f in stack))
    waited = sum(count for stack, count in profile.stacks.items() if any("waiting" in f for f in stack))
    # 0.3 s of CPU, sampled at the kernel's tick (2-4 ms); the 0.2 s before the first dump is gone
    assert 60 <= busy <= 160, profile.stacks
    assert 0.29 <= profile.cpu_seconds <= 0.45
    assert waited <= 2
    assert all(stack[0].startswith("<module>") for stack in profile.stacks)


def test_a_process_without_the_setting_is_not_sampled(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FAKA_CPU_PROFILE_DIR"}
    env["PYTHONPATH"] = str(SAMPLER)
    subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGPROF))"],
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert list(tmp_path.iterdir()) == []


def test_a_sample_is_charged_to_the_innermost_library_on_its_stack() -> None:
    route = "app (/v/site-packages/fastapi/routing.py:3)"
    query = "fetch (/v/site-packages/asyncpg/connection.py:7)"
    handler = "place (/w/services/order/src/order/entrypoints/http.py:9)"
    loop = "run (/usr/lib/python3.11/asyncio/runners.py:118)"

    assert category((loop, route, handler, query)) == "database"
    assert category((loop, route, handler)) == "web stack"
    assert category((loop,)) == "event loop"
    assert category((loop, handler)) == "other"  # the loop's frames are at the root of every stack
    assert category(("<module> (x.py:1)", "work (/w/services/order/src/order/domain/model.py:4)")) == "other"


def test_the_report_gives_each_service_its_cpu_a_sale_and_its_split() -> None:
    profile = Profile(
        "order",
        {
            ("run (/usr/lib/python3.11/asyncio/runners.py:1)", "fetch (/s/asyncpg/connection.py:2)"): 30,
            ("run (/usr/lib/python3.11/asyncio/runners.py:1)", "send (/s/aiokafka/conn.py:3)"): 10,
        },
    )
    assert split(profile) == [("database", 30), ("kafka client", 10)]


def test_the_report_reads_the_collected_files(tmp_path: Path) -> None:
    path, _ = run_sampled(tmp_path)
    text = report([path], sales=10, top=1)
    profile = read_profile(path)
    assert text.startswith(
        f"order         {profile.cpu_seconds * 100:.2f} ms a sale ({profile.samples} samples): other 100 %"
    )
    assert "busy_in_python" in text.splitlines()[1]


def test_collect_gathers_what_each_sampled_service_spent_while_it_waited(tmp_path: Path) -> None:
    """Only what the service spent between the two signals: the first dump (what it counted before) is
    thrown away, the second lands in the output folder under the service's name."""
    spinning = textwrap.dedent(
        """
        import sys, time
        print("sampled", flush=True)  # the sampler is in place once the program runs
        def spinning():
            while True:
                end = time.process_time() + 0.01
                while time.process_time() < end:
                    pass
                time.sleep(0.01)
        spinning()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SAMPLER), "FAKA_CPU_PROFILE_DIR": str(tmp_path)}
    name = f"probe{os.getpid()}"
    process = subprocess.Popen(
        [sys.executable, "-c", spinning, "uvicorn", f"{name}.entrypoints.app:app"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "sampled\n"
        written = collect(0.5, tmp_path / "run")
    finally:
        process.kill()
        process.wait(timeout=10)
    mine = [path for path in written if path.name == f"{name}.txt"]
    assert len(mine) == 1
    profile = read_profile(mine[0])
    assert profile.service == name
    # about half of 0.5 s spent spinning, at most what the process ran for
    assert 0.1 <= profile.cpu_seconds <= 0.6
    assert sum(count for stack, count in profile.stacks.items() if "spinning" in stack[-1]) > 0
    assert list(tmp_path.glob("*.txt")) == []  # both dumps taken: nothing left behind
