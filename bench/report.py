"""What every benchmark does at the end: run, print the table, write the JSON to bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def run_and_report(
    name: str,
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
    args: argparse.Namespace,
    table: Callable[[dict[str, Any]], str],
) -> Path:
    """Runs `main(args)`, prints `table(results)` and writes bench/results/<name>-<UTC time>.json."""
    started = time.perf_counter()
    results = asyncio.run(main(args))
    results["total_seconds"] = time.perf_counter() - started
    print()
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\n{results['total_seconds']:.0f} s in all; JSON: {path}")
    return path
