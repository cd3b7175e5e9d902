"""The benchmark scripts behind BENCHMARKS.md; run each from the repository root as a module:

    .venv/bin/python -m benchmarks.bench_implicit --help

What they share (where the data and the results are, the volume helpers) is in
:mod:`benchmarks.common`.
"""
