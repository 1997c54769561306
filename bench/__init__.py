"""Benchmarks: scripts that print figures, never pass/fail (``python bench/<name>.py``).

Each one starts with ``bench.isolation.isolate()``: its own temporary database, live state and
var folder, never the city's.
"""
