"""A CPU-time sampler a service loads at start when FAKA_CPU_PROFILE_DIR is set (with this folder on
PYTHONPATH): `python -m bench.cpu_profile` says how. Every 2 ms of the process's CPU (ITIMER_PROF counts
user and system time of all its threads, never time spent waiting) a SIGPROF records the Python stack the
main thread is running; SIGUSR2 writes the stacks counted since the last one to <dir>/<pid>.txt, one
collapsed stack and its count a line, after a line naming the process and one with the CPU seconds it spent
meanwhile (all threads: the kernel fires the timer at its tick, 4 ms at 250 Hz, whatever was asked, so the
samples give the split and this line the amount), and starts counting afresh.

Why not py-spy alone: it samples by wall clock and counts a thread that is runnable but not running as
busy. On a saturated two-core box a process that wakes another in `write` is often preempted right there,
and py-spy put a third of a service's samples on that line (docs/scaling.md). A sample here is CPU spent.
What it cannot see: time in C code is given to the Python frame that called it, and the stacks are the
main thread's (the services' other threads, the log writer among them, are charged to whatever the main
thread runs when the signal is handled)."""

from __future__ import annotations

import os

if os.environ.get("FAKA_CPU_PROFILE_DIR"):
    import atexit
    import collections
    import signal
    import sys
    import time
    from types import FrameType

    _counts: collections.Counter[str] = collections.Counter()
    _directory = os.environ["FAKA_CPU_PROFILE_DIR"]
    _interval = float(os.environ.get("FAKA_CPU_PROFILE_INTERVAL", "0.002"))
    _since = time.process_time()

    def _sample(signum: int, frame: FrameType | None) -> None:
        parts = []
        while frame is not None:
            code = frame.f_code
            parts.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
            frame = frame.f_back
        _counts[";".join(reversed(parts))] += 1

    def _dump(signum: int, frame: FrameType | None) -> None:
        # a copy first, in one C call: a sample taken while the lines are written would change the
        # counter under the loop
        global _since
        counted = dict(_counts)
        _counts.clear()
        now = time.process_time()
        cpu, _since = now - _since, now
        path = os.path.join(_directory, f"{os.getpid()}.txt")
        with open(path + ".part", "w", encoding="utf-8") as out:
            out.write(f"# {' '.join(sys.argv)}\n# cpu {cpu:.6f}\n")
            for stack, count in counted.items():
                out.write(f"{stack} {count}\n")
        os.replace(path + ".part", path)

    signal.signal(signal.SIGPROF, _sample)
    signal.signal(signal.SIGUSR2, _dump)
    signal.setitimer(signal.ITIMER_PROF, _interval, _interval)
    # disarmed before the interpreter puts SIGPROF's default action back while it finalizes: a sample due
    # then would end the process by that signal
    atexit.register(signal.setitimer, signal.ITIMER_PROF, 0)
