"""Benchmark suites, one module each, discovered by :mod:`recbole_meta.benchmark.suite` (no list to edit).

A module here registers one or more suite builders with ``@register_suite``; see
:mod:`recbole_meta.benchmark` for the API. Modules whose name starts with ``_`` are not imported.
"""
