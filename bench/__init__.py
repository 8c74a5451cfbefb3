"""Benchmarks (not timed tests): `python -m bench.inventory`; results land in bench/results/ (git-ignored)."""
