"""Benchmarks of CareSpace (run as modules: ``python -m bench.search``); not part of the test suite."""
