"""Benchmarks: ``lab bench <pipeline>`` prints figures (not tests)."""
