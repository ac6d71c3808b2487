"""Benchmarks: ``python -m chalicelib bench <pipeline>`` prints figures (not tests)."""
