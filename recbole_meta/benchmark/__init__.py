"""Benchmark suites (see ``python -m recbole_meta.benchmark --help``)."""
