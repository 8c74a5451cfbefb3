"""The benchmarks live in the repository's top-level `bench` package, which is not installed: put the
repository root on the path for their tests."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
