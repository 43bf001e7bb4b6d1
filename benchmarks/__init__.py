"""Benchmark scripts: each prints its figures and whether it meets its target.

Run them as modules from the repository root (`.venv/bin/python -m benchmarks.bench_predict`),
so `benchmarks.common` and the test doubles in `tests.support` import without path edits.
"""
